"""The documentation names only what exists: every ``libtrad.…`` object and every repository file that README.md and
the pages of docs/ name in code font is still there.

Modules move between rooms; prose that names them does not follow by itself. ``make docs`` fails on a broken link
or cross-reference, but a module path in code font is plain text to MkDocs — this test is what notices it.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOTTED = re.compile(r"`(libtrad(?:\.[A-Za-z_]\w*)+)")
REPO_PATH = re.compile(r"`((?:libtrad/)?[\w.-]+(?:/[\w.-]+)*\.(?:py|md|csv|json|sh|txt|toml|yml))`")


@cache
def _names(path: Path) -> dict[str, ast.AST]:
    """Top-level names a module defines or imports (a class maps to its node, for its members)."""
    names: dict[str, ast.AST] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        names[name.id] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = node
    return names


def resolves(dotted: str) -> bool:
    """``libtrad.a.b.Name.member``: the longest module prefix is a file of the tree, and the rest is defined in it."""
    parts = dotted.split(".")[1:]
    for split in range(len(parts), -1, -1):
        base = ROOT.joinpath(*parts[:split])
        module = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if split == 0:
            module = ROOT / "__init__.py"
        if not module.is_file():
            continue
        rest = parts[split:]
        if not rest:
            return True
        if base.is_dir() and (base / f"{rest[0]}.py").is_file():
            return False  # a submodule the longer prefix would have found
        node = _names(module).get(rest[0])
        if node is None:
            return False
        if len(rest) > 1 and isinstance(node, ast.ClassDef):
            members = {getattr(n, "name", None) for n in node.body} | {
                t.id
                for n in node.body
                if isinstance(n, (ast.Assign, ast.AnnAssign))
                for t in ast.walk(n.targets[0] if isinstance(n, ast.Assign) else n.target)
                if isinstance(t, ast.Name)
            }
            return rest[1] in members
        return True
    return False


def _mentions(pattern: re.Pattern) -> list[tuple[str, str]]:
    return sorted(
        {
            (page.relative_to(ROOT).as_posix(), m)
            for page in PAGES
            for m in pattern.findall(page.read_text(encoding="utf-8"))
        }
    )


@pytest.mark.parametrize("page, dotted", _mentions(DOTTED))
def test_named_objects_exist(page, dotted):
    assert resolves(dotted), f"{page} names {dotted}, which is not in the package tree"


def _in_repository(path: str) -> bool:
    """A path of this repository (``libtrad/x.py``, ``builders/…``, ``tests/…``), not an output's (``EMB/…``) or
    ``../shared``'s."""
    return path.startswith("libtrad/") or (
        "/" in path and (ROOT / path.split("/")[0]).is_dir() and not path.startswith(".")
    )


@pytest.mark.parametrize("page, path", [(p, f) for p, f in _mentions(REPO_PATH) if _in_repository(f)])
def test_named_repository_files_exist(page, path):
    assert (ROOT / path.removeprefix("libtrad/")).is_file(), f"{page} names {path}, which is not in the repository"


def test_the_checker_tells_a_moved_name_from_a_present_one():
    assert resolves("libtrad.folders.outputs.atomic_output") and resolves("libtrad.core.cli_kit.Group.main")
    assert resolves("libtrad.hear") and resolves("libtrad.builders.lib_trad.builder.LibTrad")
    assert not resolves("libtrad.folders.outputs.no_such_name") and not resolves("libtrad.no_such_module")
