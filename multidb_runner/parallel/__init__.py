"""
Parallel runs: the suite the main process runs (``suite``) and what runs in each worker (``worker``).

``WorkerProblem``, the error given to tests whose worker could not report
them, is named here, as it appears in test output.
"""

from ..errors import WorkerProblem

__all__ = ["WorkerProblem"]
