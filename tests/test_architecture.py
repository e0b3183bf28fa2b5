"""The rules of ARCHITECTURE.md, checked on every module of the package (lazy imports included).

* **Rooms**: each module belongs to one room (the longest matching entry of :data:`ROOMS`) and
  imports only the rooms that entry allows: ``core`` nothing else from libtrad; ``folders`` only
  ``core``; ``models`` and ``cards`` only ``core`` (``cards.figures`` may reach
  ``models.mel_scale``: :data:`EXCEPTIONS`); and so on up to the root (``cli``, ``demo``).
* **No cycles**: the module graph, function-level imports counted, has no cycle.
* **No private names across modules**: ``from x import _name`` only inside ``x`` itself.
* **Lazy imports defer something heavy**: an import of a libtrad module inside a function is
  allowed only when that module (with its packages' ``__init__``) imports one of :data:`HEAVY` at
  its top level, directly or through other libtrad modules — or when it is on :data:`LAZY_ALLOWED`,
  each with the reason.
* **Sizes**: no module over 500 lines, no function over 80.
* **Registrations by name** (``"libtrad.x.y:attr"``, read by :func:`libtrad.core.resolve.resolve`)
  name a module that exists and an attribute it defines.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".venv", "tests", "bench", "build", "dist", "docs", "site"}
# What a function-level import may defer: torch, datasets, transformers, ray (the list) and the
# scientific stack a listing command (``libtrad --help``, 0.15 s) never needs: 0.1-1.3 s each on a 2-core box.
HEAVY = {
    "torch",
    "datasets",
    "transformers",
    "ray",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "sklearn",
    "matplotlib",
    "soundfile",
}
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80

# room -> the rooms it may import (its own included). A module's room is the longest key it lies in.
_BASE = ("libtrad.core",)
ROOMS = {
    "libtrad.core": _BASE,
    "libtrad.folders": (*_BASE, "libtrad.folders"),
    "libtrad.models": (*_BASE, "libtrad.models"),
    "libtrad.cards": (*_BASE, "libtrad.cards"),
    "libtrad.builders": (*_BASE, "libtrad.folders", "libtrad.cards", "libtrad.builders"),
    "libtrad.convert": (*_BASE, "libtrad.folders", "libtrad.models", "libtrad.cards", "libtrad.convert"),
    "libtrad.ray_jobs.cluster": (*_BASE, "libtrad.ray_jobs.cluster"),
    "libtrad.ray_jobs.embedding": (
        *_BASE,
        "libtrad.folders",
        "libtrad.models",
        "libtrad.cards",
        "libtrad.builders",
        "libtrad.ray_jobs.cluster",
        "libtrad.ray_jobs.embedding",
    ),
    "libtrad.ray_jobs.evaluation": (
        *_BASE,
        "libtrad.folders",
        "libtrad.models",
        "libtrad.cards",
        "libtrad.ray_jobs.cluster",
        "libtrad.ray_jobs.embedding",
        "libtrad.ray_jobs.evaluation",
    ),
    "libtrad.ray_jobs.lib_trad": (
        *_BASE,
        "libtrad.folders",
        "libtrad.models",
        "libtrad.cards",
        "libtrad.builders",
        "libtrad.convert",  # export onnx: a loaded LiB-TRAD model -> an ONNX file (convert.onnx_export)
        "libtrad.ray_jobs.cluster",
        "libtrad.ray_jobs.embedding",
        "libtrad.ray_jobs.evaluation",
        "libtrad.ray_jobs.lib_trad",
    ),
    "libtrad.ray_jobs.benchmark": (
        *_BASE,
        "libtrad.folders",
        "libtrad.models",
        "libtrad.cards",
        "libtrad.builders",
        "libtrad.ray_jobs.cluster",
        "libtrad.ray_jobs.embedding",
        "libtrad.ray_jobs.evaluation",
        "libtrad.ray_jobs.lib_trad",
        "libtrad.ray_jobs.benchmark",
    ),
    "libtrad.ray_jobs": ("libtrad.ray_jobs",),  # the package itself: its docstring only
    "libtrad.hear": (*_BASE, "libtrad.ray_jobs.embedding", "libtrad.hear"),
    "libtrad": ("libtrad",),  # the root (__init__, cli, demo, __main__): everything
}
# (importing module, imported module) pairs a room's rule does not allow, each the one documented way.
EXCEPTIONS = {
    # cards render a dataset card's spectrograms with the NumPy mel scale the models use (no torch).
    ("libtrad.cards.figures", "libtrad.models.mel_scale")
}
# (importing module, imported module): function-level imports of light modules, each with its reason.
LAZY_ALLOWED = {}


# ----------------------------------------------------------------------------- reading the package
@dataclass(frozen=True)
class Import:
    module: str  # the libtrad module imported (a submodule when ``from package import submodule``)
    names: tuple[str, ...]  # the names taken from it (``from m import a, b``); () for ``import m``
    lazy: bool  # inside a function
    line: int


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["libtrad", *parts])


def package_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py")) if not SKIP & set(p.relative_to(root).parts)}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, lazy: bool = False):
    """(import node, inside a function) for every runtime import (``if TYPE_CHECKING:`` blocks skipped)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, lazy
        yield from _walk(child, lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))


def imports(path: Path, name: str, known: set[str]) -> tuple[list[Import], set[str]]:
    """The libtrad imports of one module, and the top-level third-party packages it imports at its top level."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []
    third_party: set[str] = set()
    for node, lazy in _walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "libtrad" or alias.name.startswith("libtrad."):
                    found.append(Import(alias.name, (), lazy, node.lineno))
                elif not lazy:
                    third_party.add(alias.name.partition(".")[0])
            continue
        if node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            source = f"{base}.{node.module}" if node.module else base
        else:
            source = node.module or ""
        if source != "libtrad" and not source.startswith("libtrad."):
            if not lazy:
                third_party.add(source.partition(".")[0])
            continue
        attributes = []
        for alias in node.names:
            if f"{source}.{alias.name}" in known:  # ``from package import submodule``
                found.append(Import(f"{source}.{alias.name}", (), lazy, node.lineno))
            else:
                attributes.append(alias.name)
        if attributes or not node.names:
            found.append(Import(source, tuple(attributes), lazy, node.lineno))
    return found, third_party


@dataclass
class Package:
    modules: dict[str, Path]
    edges: dict[str, list[Import]]
    third_party: dict[str, set[str]]

    @classmethod
    def read(cls, modules: dict[str, Path]) -> Package:
        edges, third = {}, {}
        for name, path in modules.items():
            edges[name], third[name] = imports(path, name, set(modules))
        return cls(modules, edges, third)

    def heavy(self, module: str, _seen: set[str] | None = None) -> bool:
        """Whether importing ``module`` imports torch, datasets, transformers or ray (top-level imports,
        followed through libtrad modules and the ``__init__`` of every package above them)."""
        seen = set() if _seen is None else _seen
        if module in seen or module not in self.modules:
            return False
        seen.add(module)
        if self.third_party[module] & HEAVY:
            return True
        parents = [module.rsplit(".", i)[0] for i in range(1, module.count("."))]
        following = [i.module for i in self.edges[module] if not i.lazy] + parents
        return any(self.heavy(m, seen) for m in following)


def _rel(path: Path) -> str:
    """``path`` from the package root (a probe package's root in the checker's own tests)."""
    for root in (ROOT, *path.parents):
        if (
            (root / "__init__.py").is_file()
            and not (root.parent / "__init__.py").is_file()
            and path.is_relative_to(root)
        ):
            return str(path.relative_to(root))
    return path.name


def room_of(module: str) -> str:
    return max((r for r in ROOMS if module == r or module.startswith(r + ".")), key=len)


def _inside(module: str, room: str) -> bool:
    return module == room or module.startswith(room + ".")


def room_offences(package: Package) -> list[str]:
    offences = []
    for name, found in package.edges.items():
        allowed = ROOMS[room_of(name)]
        for imp in found:
            if any(_inside(imp.module, r) for r in allowed) or (name, imp.module) in EXCEPTIONS:
                continue
            offences.append(
                f"{_rel(package.modules[name])}:{imp.line}: {room_of(name)} imports "
                f"{imp.module} ({room_of(imp.module)})"
            )
    return offences


def cycles(package: Package) -> list[list[str]]:
    """Every strongly connected group of modules (Tarjan), each sorted; lazy imports count."""
    graph = {
        name: sorted({i.module for i in found if i.module in package.modules and i.module != name})
        for name, found in package.edges.items()
    }
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node: str) -> None:  # iterative enough for ~200 modules: recursion depth is the longest chain
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def private_offences(package: Package) -> list[str]:
    return [
        f"{_rel(package.modules[name])}:{imp.line}: imports {', '.join(private)} from {imp.module}"
        for name, found in package.edges.items()
        for imp in found
        if imp.module != name and (private := [n for n in imp.names if n.startswith("_") and not n.startswith("__")])
    ]


def lazy_offences(package: Package) -> list[str]:
    return [
        f"{_rel(package.modules[name])}:{imp.line}: imports {imp.module} inside a function, "
        f"which imports none of {', '.join(sorted(HEAVY))} (import it at the top, or add it to LAZY_ALLOWED "
        "with the reason)"
        for name, found in package.edges.items()
        for imp in found
        if imp.lazy
        and imp.module in package.modules
        and imp.module != name
        and not package.heavy(imp.module)
        and (name, imp.module) not in LAZY_ALLOWED
    ]


def size_offences(modules: dict[str, Path]) -> list[str]:
    offences = []
    for path in modules.values():
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n") + (not text.endswith("\n"))
        if lines > MAX_MODULE_LINES:
            offences.append(f"{_rel(path)}: {lines} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    offences.append(
                        f"{_rel(path)}:{node.lineno}: {node.name} is {length} lines (at most {MAX_FUNCTION_LINES})"
                    )
    return offences


_REFERENCE = re.compile(r"^(libtrad(?:\.\w+)+):(\w+)$")


def defines(path: Path, attribute: str) -> bool:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == attribute:
            return True
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(t, ast.Name) and t.id == attribute for t in targets):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (a.asname or a.name) == attribute for a in node.names
        ):
            return True
    return False


def reference_offences(modules: dict[str, Path]) -> list[str]:
    offences = []
    for path in modules.values():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        formatted = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
        for node in ast.walk(tree):
            if id(node) in formatted:  # a piece of an f-string (``f"...:DCASE{year}"``) names nothing by itself
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and (m := _REFERENCE.match(node.value)):
                target, attribute = m.groups()
                if target not in modules:
                    offences.append(f"{_rel(path)}:{node.lineno}: {node.value}: no module {target}")
                elif not defines(modules[target], attribute):
                    offences.append(f"{_rel(path)}:{node.lineno}: {node.value}: {target} defines no {attribute}")
    return offences


# ----------------------------------------------------------------------------- the rules
@pytest.fixture(scope="module")
def package() -> Package:
    return Package.read(package_modules())


def test_every_room_imports_only_the_rooms_below_it(package):
    assert not room_offences(package), "\n".join(room_offences(package))


def test_there_is_no_import_cycle(package):
    found = cycles(package)
    assert not found, "\n".join(" <-> ".join(group) for group in found)


def test_no_private_name_is_imported_across_modules(package):
    assert not private_offences(package), "\n".join(private_offences(package))


def test_function_level_imports_only_defer_heavy_modules(package):
    assert not lazy_offences(package), "\n".join(lazy_offences(package))


def test_the_lazy_allow_list_holds_only_what_is_still_there(package):
    present = {(name, imp.module) for name, found in package.edges.items() for imp in found if imp.lazy}
    assert set(LAZY_ALLOWED) <= present, sorted(set(LAZY_ALLOWED) - present)
    assert all(reason.strip() for reason in LAZY_ALLOWED.values())


def test_no_module_over_500_lines_and_no_function_over_80(package):
    assert not size_offences(package.modules), "\n".join(size_offences(package.modules))


def test_registrations_by_name_resolve(package):
    assert not reference_offences(package.modules), "\n".join(reference_offences(package.modules))


# ----------------------------------------------------------------------------- the checker itself
def _probe(tmp_path: Path, files: dict[str, str]) -> Package:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return Package.read(package_modules(tmp_path))


def test_the_checker_sees_each_kind_of_offence(tmp_path):
    """A probe package with one offence of each kind: every check names it."""
    package = _probe(
        tmp_path,
        {
            "__init__.py": "",
            "core/__init__.py": "",
            "core/a.py": "import torch\n",
            "core/b.py": "def f():\n    from libtrad.core import c\n    from . import a\n",
            "core/c.py": "from libtrad.core.b import _private\n",
            "models/__init__.py": "",
            "models/m.py": "def f():\n    from libtrad.folders import x\n",
        },
    )
    assert package.heavy("libtrad.core.a") and not package.heavy("libtrad.core.c")
    assert [c for c in cycles(package)] == [["libtrad.core.b", "libtrad.core.c"]]
    assert any("imports _private from libtrad.core.b" in o for o in private_offences(package))
    lazy = lazy_offences(package)
    assert any("core/b.py:2: imports libtrad.core.c inside a function" in o for o in lazy), lazy
    assert not any("libtrad.core.a inside" in o for o in lazy)  # torch: deferring it is the point
    offences = [o.split(": ", 1)[1] for o in room_offences(package)]
    assert offences == ["libtrad.models imports libtrad.folders (libtrad.folders)"], offences


def test_the_size_check_names_the_offender(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(80))
    (tmp_path / "big.py").write_text("def long():\n" + body + "\n" * 420)
    (tmp_path / "small.py").write_text("def short():\n" + body[: -len("    x79 = 79\n")])
    found = size_offences({"libtrad.big": tmp_path / "big.py", "libtrad.small": tmp_path / "small.py"})
    assert found == ["big.py: 501 lines (at most 500)", "big.py:1: long is 81 lines (at most 80)"], found
