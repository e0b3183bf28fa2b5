"""``python -m libtrad`` (``__main__.py``): the same CLI as the ``libtrad`` console script, in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

from libtrad import __version__
from libtrad.cli import main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "libtrad", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def test_python_m_libtrad_lists_every_command():
    done = _run("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: python -m libtrad [OPTIONS] COMMAND")
    listed = {line.split()[0] for line in done.stdout.split("Commands:", 1)[1].splitlines() if line.strip()}
    assert listed == set(main.list_commands(None))


def test_python_m_libtrad_reports_the_version_and_mistakes_like_the_console_script():
    version = _run("--version")
    assert version.returncode == 0 and __version__ in version.stdout
    wrong = _run("verify")
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert wrong.stderr.splitlines() == ["error: Missing argument 'FOLDER'. (see 'python -m libtrad verify --help')"]
