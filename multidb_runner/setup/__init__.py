"""
Test databases: created, cloned for workers, given legacy tables, destroyed, safely.

``safety`` refuses a test database that is a real one, before creation and
again right before anything is dropped, comparing servers as ``addresses``
spells them and, where spellings cannot tell, as ``servers`` asks them;
``locks`` keep a second run off a live run's test databases; ``catalog``
tells what exists; ``databases`` and ``clones`` create and destroy,
recording only what they created.
"""
