"""MkDocs hooks of libtrad's documentation site (``hooks:`` in ``mkdocs.yml``; ``make docs`` builds it).

Four things the site needs that no plugin does on its own:

* **The API reference follows the package tree.** The repository root *is* the ``libtrad`` package, and
  modules move between rooms; so no page lists module paths. At build time :func:`package_modules` walks
  the tree (every folder with an ``__init__.py``, every public ``.py`` in it), one page per module is
  generated (``::: libtrad.x.y``, rendered by mkdocstrings from the docstrings) and the "API reference"
  entry of the navigation is filled with them, package by package.
* **griffe finds the package by its name.** mkdocstrings' loader looks for a folder called ``libtrad`` on
  its search paths, and a checkout's folder is named anything; a temporary folder holding a link
  ``libtrad -> <repository root>`` is put first on the Python handler's ``paths``.
* **It builds offline**: :func:`_offline` refuses a configuration that would fetch anything (a web font, a
  remote inventory of another project's objects).
* **The CLI reference sees every command.** mkdocs-click lists a group's subcommands from its
  ``commands`` dict when it has one, so a group that makes some commands on demand (``evaluate`` makes a
  command for every registered suite that has no hand-written one) would lose them. Here it asks
  click's own ``list_commands`` / ``get_command``, as ``libtrad --help`` does, and the build fails
  (``PluginError``) when the CLI page lacks any command path reachable that way.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import click
import mkdocs_click._docs
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "libtrad"
NAV_TITLE = "API reference"
REFERENCE = "reference"  # the generated pages' folder in the site
CLI_PAGE = "cli.md"
CLI_ROOT = ("libtrad.cli", "main", "libtrad")  # module, attribute, program name (as in docs/cli.md)

_search_dir: str | None = None


def package_modules(root: Path = ROOT, package: str = PACKAGE) -> list[str]:
    """Dotted names of the package's public modules, each package before its modules, sorted by name.

    A package is a folder with an ``__init__.py`` (reached through packages from the root); a module is
    a ``.py`` file in one. Names starting with ``_`` (private modules, ``__main__``) are left out, and so
    is everything without an ``__init__.py`` on its way (``tests/``, ``bench/``, ``docs/``, ``.venv/``).
    """
    names = [package]
    for path in sorted(root.iterdir(), key=lambda p: p.name):
        if path.name.startswith(("_", ".")):
            continue
        if path.is_file() and path.suffix == ".py":
            names.append(f"{package}.{path.stem}")
        elif path.is_dir() and (path / "__init__.py").is_file():
            names.extend(package_modules(path, f"{package}.{path.name}"))
    return names


def _page_path(module: str) -> str:
    """``libtrad.a.b`` -> ``reference/libtrad/a/b.md``; a package's own page is its folder's ``index.md``."""
    parts = module.split(".")
    if (ROOT.joinpath(*parts[1:]) / "__init__.py").is_file():
        return "/".join([REFERENCE, *parts, "index.md"])
    return "/".join([REFERENCE, *parts]) + ".md"


def _nav(modules: list[str]) -> list:
    """The nested navigation of the reference: a package's page first, then its modules and subpackages."""

    def section(package: str) -> list:
        prefix = package + "."
        entries: list = [{package: _page_path(package)}]
        for module in modules:
            rest = module[len(prefix) :] if module.startswith(prefix) else ""
            if not rest or "." in rest:
                continue
            if _page_path(module).endswith("/index.md"):
                entries.append({rest + "/": section(module)})
            else:
                entries.append({rest: _page_path(module)})
        return entries

    return section(PACKAGE)


def _offline(config) -> None:
    """The site builds without a network: no web font, no remote object inventory (each would be fetched)."""
    if config.theme.get("font") is not False:
        raise PluginError("mkdocs.yml: theme.font must be false (a web font is fetched by every reader)")
    for name, handler in config.plugins["mkdocstrings"].config.handlers.items():
        if handler.get("inventories") or handler.get("import"):
            raise PluginError(f"mkdocs.yml: mkdocstrings' {name} handler fetches inventories; the build is offline")


@event_priority(100)  # before mkdocstrings reads its handler options
def on_config(config, **kwargs):
    global _search_dir
    _offline(config)
    _search_dir = tempfile.mkdtemp(prefix="libtrad-docs-")
    os.symlink(ROOT, Path(_search_dir) / PACKAGE, target_is_directory=True)
    python = config.plugins["mkdocstrings"].config.handlers.setdefault("python", {})
    python["paths"] = [_search_dir, *python.get("paths", [])]
    for index, entry in enumerate(config.nav or []):
        if isinstance(entry, dict) and NAV_TITLE in entry:
            config.nav[index] = {NAV_TITLE: _nav(package_modules())}
            break
    else:
        raise PluginError(f"mkdocs.yml: the nav has no {NAV_TITLE!r} entry for the generated pages")
    mkdocs_click._docs._get_sub_commands = _sub_commands
    return config


def on_files(files, config, **kwargs):
    for module in package_modules():
        files.append(File.generated(config, _page_path(module), content=f"::: {module}\n"))
    return files


def _sub_commands(command: click.Command, ctx: click.Context) -> list[click.Command]:
    """A group's subcommands as ``libtrad --help`` lists them (click's ``list_commands`` / ``get_command``)."""
    if not isinstance(command, click.Group):
        return []
    return [command.get_command(ctx, name) for name in command.list_commands(ctx)]


def command_paths() -> list[str]:
    """Every command path of the CLI (``libtrad evaluate mimii`` …), found the way ``--help`` finds them."""
    module, attribute, prog = CLI_ROOT
    root = getattr(importlib.import_module(module), attribute)
    paths: list[str] = []

    def walk(command: click.Command, path: str, parent: click.Context | None) -> None:
        paths.append(path)
        ctx = click.Context(command, info_name=path.rsplit(" ", 1)[-1], parent=parent)
        for sub in _sub_commands(command, ctx):
            walk(sub, f"{path} {sub.name}", ctx)

    walk(root, prog, None)
    return paths


def on_page_content(html, page, config, files, **kwargs):
    if page.file.src_uri == CLI_PAGE:
        text = re.sub(r'<a class="headerlink"[^>]*>.*?</a>', "", html, flags=re.S)  # toc's permalinks
        headings = {
            " ".join(re.sub(r"<[^>]+>", " ", h).split())
            for h in re.findall(r"<h[1-6][^>]*>(.*?)</h[1-6]>", text, flags=re.S)
        }
        missing = [path for path in command_paths() if path not in headings]
        if missing:
            raise PluginError(f"docs/{CLI_PAGE}: the CLI reference lacks {', '.join(missing)}")
    return html


def on_shutdown(**kwargs):
    if _search_dir:
        shutil.rmtree(_search_dir, ignore_errors=True)
