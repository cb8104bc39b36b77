"""
Isolation between tests, whatever path wrote the data.

The ``TransactionTestCase`` classes here write through every path a selective
flush has to notice (ORM, raw SQL in every spelling, driver methods, triggers,
views, migrations, other threads) and are checked after each test by an
oracle that reads every model table of every alias. The ``TestCase`` classes
check that transactions opened lazily behave exactly like Django's own.
"""
