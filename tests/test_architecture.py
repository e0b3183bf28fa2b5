"""The import rules of ARCHITECTURE.md, checked on every module's imports (lazy ones included).

Rooms only import downwards: ``models`` never import ``ray_jobs``; ``builders`` import neither
``ray_jobs`` nor ``models`` (card figures reach the NumPy mel scale through ``libtrad.cards.figures``
only); inside ``ray_jobs``, ``embedding`` imports neither ``evaluation`` nor ``lib_trad``, and
``evaluation`` never imports ``lib_trad``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (package of the importing module, packages it must not import)
FORBIDDEN = [
    ("libtrad.models", ("libtrad.ray_jobs", "libtrad.builders", "libtrad.folders.verify", "libtrad.folders.publish", "libtrad.cli")),
    ("libtrad.builders", ("libtrad.ray_jobs", "libtrad.models")),
    ("libtrad.cards", ("libtrad.ray_jobs",)),
    ("libtrad.ray_jobs.embedding", ("libtrad.ray_jobs.evaluation", "libtrad.ray_jobs.lib_trad")),
    ("libtrad.ray_jobs.evaluation", ("libtrad.ray_jobs.lib_trad",)),
]
# The one documented way down from cards to models: NumPy mel images for card figures.
ALLOWED = {("libtrad.cards.figures", "libtrad.models.mel_scale")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["libtrad", *parts])


def _imports(path: Path, module: str) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def _package_modules() -> list[Path]:
    skip = {".venv", "tests", "bench", "build", "dist"}
    return sorted(p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts))


def _inside(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("room, banned", FORBIDDEN, ids=[room for room, _ in FORBIDDEN])
def test_rooms_import_only_downwards(room, banned):
    offences = []
    for path in _package_modules():
        module = _module_name(path)
        if not _inside(module, room):
            continue
        for name in sorted(_imports(path, module)):
            if any(_inside(name, b) for b in banned) and not any(
                    module == m and _inside(name, allowed) for m, allowed in ALLOWED):
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offences, "\n".join(offences)


def test_the_checker_sees_lazy_imports(tmp_path):
    """A function-level import counts as much as a top-level one."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from libtrad.ray_jobs.embedding import embed\n    from . import sibling\n")
    found = _imports(probe, "libtrad.models.probe")
    assert {"libtrad.ray_jobs.embedding", "libtrad.ray_jobs.embedding.embed", "libtrad.models.sibling"} <= found
