"""
Marker files shared with the harness: what happened, and when to go on.

The harness polls for the files this project writes (with a deadline), and
this project polls for the files the harness writes: no sleeps stand in
for synchronisation.
"""

import os
import time
from pathlib import Path

#: Upper bound of every wait for the other side.
WAIT_SECONDS = 60
POLL_SECONDS = 0.05


def marker_dir():
    """Return the folder of marker files (FAULTS_MARKER_DIR), or None when there is none."""
    folder = os.environ.get("FAULTS_MARKER_DIR")
    return Path(folder) if folder else None


def touch(name):
    """Leave the marker file ``name``, if the harness gave a folder."""
    folder = marker_dir()
    if folder is not None:
        (folder / name).touch()


def exists(name):
    folder = marker_dir()
    return folder is not None and (folder / name).exists()


def wait_for(condition, what):
    """Poll ``condition`` until it is true; fail after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {WAIT_SECONDS} s waiting for {what}")
        time.sleep(POLL_SECONDS)


def is_running(pid):
    """Return whether process ``pid`` exists and has not ended (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The state follows the command name, which is in parentheses.
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
