"""
What the run will do, decided before anything is created: pure logic over settings.

Which aliases exist and which are mirrors of what (``aliases``), which
aliases each test class may use (``injection``), which test database each
alias gets (``plan``), their names (``names``) and the shard of a CI job
(``sharding``).
"""
