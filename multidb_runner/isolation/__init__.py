"""
Isolation while the tests run: write tracking, selective flush, lazy transactions, mirrors.

``layer.IsolationLayer`` owns every change to Django's test classes and
database wrappers (through ``patches.ClassPatches``); the other modules are
its parts. Imports run downwards: layer → flushing, transactions, usage →
tracking → side_effects → statements.
"""
