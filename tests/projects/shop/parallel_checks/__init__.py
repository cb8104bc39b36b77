"""
Test modules for the parallel end-to-end runs (tests/test_parallel_end_to_end.py).

Their names do not match ``test*.py``: a plain ``manage.py test`` never finds
them, they always run by label, and the misbehaving ones (a worker that dies,
hangs, cannot send its result back, or waits for Ctrl-C) only misbehave when
their environment variable is set.
"""
