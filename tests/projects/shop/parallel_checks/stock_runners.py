"""Stock DiscoverRunner with its workers started by forkserver (Python 3.14's default on Linux)."""

import multiprocessing

from django.test.runner import DiscoverRunner


class ForkserverDiscoverRunner(DiscoverRunner):
    def __init__(self, *args, **kwargs):
        multiprocessing.set_start_method("forkserver", force=True)
        super().__init__(*args, **kwargs)
