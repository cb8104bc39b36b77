"""
The private names the runner touches exist in the installed Django, and are all listed.

CI runs this on every supported Django: a release that drops or renames one
fails here, naming it, before any behaviour breaks in a subtler way.
"""

import re
from pathlib import Path
from unittest import TestCase

import django

from multidb_runner.private_api import CHECKED_ON, PRIVATE_NAMES, missing_names

PACKAGE = Path(__file__).resolve().parent.parent / "multidb_runner"
#: Private-looking names that are not another library's: the package's own
#: attributes, and Model._meta (a documented API).
NOT_PRIVATE_API = {
    "_meta",  # Model._meta: the documented Options API
    "_is_own",  # MirrorConnection's own helper
    "_started",  # RecordingResult's own attribute
    "_exit",  # os._exit: public despite its name
    "_primary",  # MirrorConnection's own attribute
    "_cursor",  # ReadOnlyCursor's own attributes
    "_check",
    "_verdict",
}
#: ``django.test.runner._init_worker`` and the like, named in docstrings and comments.
LITERAL = re.compile(r"``[^`]*``")


class PrivateNamesTests(TestCase):
    def test_every_listed_name_exists(self):
        self.assertEqual(missing_names(), [], f"on Django {django.get_version()}")

    def test_this_django_is_one_the_list_was_checked_on(self):
        self.assertIn(".".join(map(str, django.VERSION[:2])), CHECKED_ON)

    def test_every_private_name_the_package_uses_is_listed(self):
        listed = {entry.name for entry in PRIVATE_NAMES}
        pattern = re.compile(
            r"""(?:\.|\[["']|getattr\([^,]+,\s*["']|setattr\([^,]+,\s*["'])(_[A-Za-z][A-Za-z0-9_]*)\b"""
        )
        used = {}
        for path in PACKAGE.rglob("*.py"):
            if path.name == "private_api.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                code = LITERAL.sub("", line.split("#", 1)[0])
                if code.strip().startswith(('"', "'", "``")):
                    continue  # a docstring line
                for name in pattern.findall(code):
                    if not name.startswith("__"):
                        used.setdefault(name, f"{path.name}:{number}")
        unlisted = {name: where for name, where in used.items() if name not in listed | NOT_PRIVATE_API}
        self.assertEqual(unlisted, {}, "private names used but not listed in multidb_runner/private_api.py")

    def test_no_stale_entry(self):
        source = "\n".join(path.read_text() for path in PACKAGE.rglob("*.py") if path.name != "private_api.py")
        stale = [entry.path for entry in PRIVATE_NAMES if entry.name not in source]
        self.assertEqual(stale, [])
