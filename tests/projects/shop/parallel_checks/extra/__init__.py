"""
One more migrated table, installed only with SHOP_EXTRA_TABLE=1.

Turning it on between two ``--keepdb`` runs is a schema change that must
reach the kept template and every worker's clone.
"""
