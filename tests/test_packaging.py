"""The package as users receive it (``pyproject.toml``, ``LICENSE``, ``make dist`` and ``make test-wheel``).

The repository root *is* the ``libtrad`` package and its packages are listed by hand in ``pyproject.toml``, so a
new package folder or data file that nobody adds there works in the editable checkout and is missing from the
wheel (``libtrad.builders.mimii`` was). The first tests hold the list and the package data to the tree; the last
ones, run against the installed wheel by ``make test-wheel``, compare what was installed with the checkout.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import libtrad

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[1]
INSTALLED = Path(libtrad.__file__).resolve().parent
FROM_WHEEL = INSTALLED != ROOT
# Files in package folders that document the source tree and are not shipped.
NOT_SHIPPED = {"README.md"}


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def _folder(package: str) -> Path:
    return ROOT.joinpath(*package.split(".")[1:])


def package_tree(folder: Path = ROOT, name: str = "libtrad") -> set[str]:
    """Every package of the tree: a folder with ``__init__.py`` reached from the root through packages."""
    found = {name}
    for sub in sorted(folder.iterdir()):
        if sub.is_dir() and not sub.name.startswith((".", "_")) and (sub / "__init__.py").is_file():
            found |= package_tree(sub, f"{name}.{sub.name}")
    return found


def _package_files(folder: Path, folders: set[Path]) -> list[Path]:
    """The files of the package at ``folder``: its own and those of its folders that are not packages. The root
    package's folder is the repository, whose other files and folders (tests/, docs/, README.md …) are not its."""
    if folder == ROOT:
        return [p for p in ROOT.iterdir() if p.is_file() and p.suffix == ".py"]
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if d != "__pycache__" and here / d not in folders]
        files += [here / f for f in filenames if not f.endswith(".pyc")]
    return files


def shipped_files() -> set[str]:
    """Every file the wheel must hold, relative to the package root: the listed packages' modules and data."""
    config = _setuptools()
    folders = {_folder(p) for p in config["packages"]}
    files: set[str] = set()
    for package in config["packages"]:
        folder = _folder(package)
        patterns = config.get("package-data", {}).get(package, [])
        for path in _package_files(folder, folders):
            rel = path.relative_to(folder).as_posix()
            if (path.suffix == ".py" and path.parent == folder) or any(fnmatch.fnmatch(rel, p) for p in patterns):
                files.add(path.relative_to(ROOT).as_posix())
    return files


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(_setuptools()["packages"])
    assert package_tree() - listed == set(), "package folders missing from [tool.setuptools] packages"
    assert {p for p in listed if not _folder(p).is_dir()} == set(), "listed packages without a folder"


def test_every_file_in_a_package_folder_is_shipped():
    """A module outside a listed package, or a data file no package-data pattern names, would be left out."""
    folders = {_folder(p) for p in _setuptools()["packages"]}
    shipped = shipped_files()
    left_out = [
        path.relative_to(ROOT).as_posix()
        for folder in folders
        for path in _package_files(folder, folders)
        if path.relative_to(ROOT).as_posix() not in shipped
        and not (path.name in NOT_SHIPPED and path.parent in folders)
    ]
    assert sorted(left_out) == []


def test_the_licence_is_the_distributions():
    """``pip show libtrad`` names the licence and its text ships in the distribution (license-files)."""
    # The installed distribution (site-packages), not a libtrad.egg-info a build left in the checkout.
    distribution = next(importlib.metadata.distributions(name="libtrad", path=[sysconfig.get_paths()["purelib"]]))
    assert distribution.metadata["License-Expression"] == "Apache-2.0"
    licences = [f for f in distribution.files or [] if f.name == "LICENSE"]
    assert licences and licences[0].read_text(encoding="utf-8") == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8").split("\n", 3)[1]


def test_the_console_script_runs():
    script = Path(sys.executable).parent / "libtrad"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and libtrad.__version__ in done.stdout, done.stderr


@pytest.mark.skipif(
    not FROM_WHEEL, reason="libtrad is the editable checkout here; make test-wheel runs this against the built wheel"
)
def test_the_installed_package_is_the_checkouts_modules_and_data():
    installed = {
        p.relative_to(INSTALLED).as_posix()
        for p in INSTALLED.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    expected = shipped_files()
    assert installed == expected
    changed = [rel for rel in expected if (INSTALLED / rel).read_bytes() != (ROOT / rel).read_bytes()]
    assert changed == [], "the wheel was built from another tree than this checkout"
