"""
What the run will do, decided before anything is created: pure logic over settings.

Which aliases exist and which are mirrors of what (``aliases``), which test
database each alias gets (``plan``), the db suffix token and suffixed names
(``suffixes``) and the shard of a CI job (``sharding``). Giving test classes
their aliases changes them: that is ``multidb_runner.injection``.
"""
