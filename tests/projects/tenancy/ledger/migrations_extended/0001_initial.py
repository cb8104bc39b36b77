"""The same migration as in ledger/migrations."""

import importlib

Migration = importlib.import_module("ledger.migrations.0001_initial").Migration
