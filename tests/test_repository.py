"""The repository holds the project, not a machine's environment: no virtualenv, no symbolic link
(a tracked `.venv` link replaced the shared virtualenv's folder when it was checked out)."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def tracked() -> list[tuple[str, str]]:
    try:
        listing = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-s"], capture_output=True, text=True,
                                 check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (or git is missing): nothing to check")
    return [(line.split()[0], line.split("\t", 1)[1]) for line in listing.splitlines()]


def test_no_symbolic_link_and_no_virtualenv_is_tracked():
    files = tracked()
    assert [path for mode, path in files if mode == "120000"] == []
    assert [path for _, path in files if path.split("/")[0] in (".venv", "venv", ".env")] == []
