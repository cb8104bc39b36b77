"""The same migration as in ledger/migrations."""

import importlib

Migration = importlib.import_module("ledger.migrations.0002_currencies").Migration
