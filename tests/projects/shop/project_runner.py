"""
A project's own runner, overriding ``setup_databases`` and ``teardown_databases`` as projects do with DiscoverRunner.

Each override calls ``super()`` and says what it sees; the run must keep
every guarantee of the runner (the whole suite passes, every alias names
its test database once the set-up is over, nothing is left behind). Kept
outside the project's packages, which the coverage tests measure.
"""

import json
import os

from django.db import connections

from multidb_runner import MultiDBRunner


class ProjectRunner(MultiDBRunner):
    def setup_databases(self, **kwargs):
        old_config = super().setup_databases(**kwargs)
        names = {alias: os.path.basename(str(connections[alias].settings_dict["NAME"])) for alias in connections}
        print(f"PROJECT SETUP: {json.dumps(names, sort_keys=True)}")
        return old_config

    def teardown_databases(self, old_config, **kwargs):
        print(f"PROJECT TEARDOWN: {len(old_config)} test databases")
        super().teardown_databases(old_config, **kwargs)
        print("PROJECT TEARDOWN DONE")
