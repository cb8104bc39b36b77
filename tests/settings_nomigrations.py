"""The test settings with migrations disabled, as many projects run their tests."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

MIGRATION_MODULES = {label.rsplit(".", 1)[-1]: None for label in INSTALLED_APPS}
