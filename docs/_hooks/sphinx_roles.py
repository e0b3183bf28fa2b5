"""A griffe extension for the API reference (``mkdocs.yml``): the Sphinx roles of libtrad's docstrings as links.

libtrad's docstrings name other objects the Sphinx way, ``:func:`~libtrad.folders.outputs.atomic_output```,
``:class:`Group```, ``:mod:`libtrad.core.devices```. mkdocstrings renders docstrings as Markdown, where such a
role would show as literal text. Each role becomes the name in code font (the last part only with ``~``,
``()`` after a function or method, as Sphinx prints them), linked to that object's entry in the reference
when it has one. The link is an *optional* cross-reference of mkdocs-autorefs: a name the reference does
not render (a private helper, a module that moved) stays plain code instead of failing the strict build.
A relative name (``Group``, ``.name``) is looked up in the module of the docstring that uses it.
"""

from __future__ import annotations

import html
import re

import griffe

ROLE = re.compile(r":(?:py:)?(?P<role>func|meth|class|mod|data|attr|exc|obj|const):`(?P<target>[^`]+)`")
CALLABLE_ROLES = {"func", "meth"}


def _canonical(path: str, obj: griffe.Object) -> str | None:
    """The path of the object ``path`` names, where it is defined (an imported name leads to its origin)."""
    package = obj.package
    head, _, rest = path.partition(".")
    if head != package.name:
        return None
    found: griffe.Object | griffe.Alias = package
    for part in rest.split(".") if rest else []:
        if found.is_alias:
            return f"{found.target_path}.{part}" if rest else found.target_path
        if part not in found.members:
            return None
        found = found.members[part]
    return found.target_path if found.is_alias else found.path


def _identifier(target: str, obj: griffe.Object) -> str:
    """The full dotted path a role's target names, looked up from the docstring's class, module and package."""
    name = target.lstrip(".")
    scopes = [obj if isinstance(obj, griffe.Class) else obj.parent, obj.module, obj.module.parent]
    for prefix in ["", *(f"{scope.path}." for scope in scopes if scope is not None)]:
        found = _canonical(prefix + name, obj)
        if found:
            return found
    return name


def rewrite(text: str, obj: griffe.Object) -> str:
    """``text`` with every Sphinx role replaced by an optional autorefs link (see the module docstring)."""

    def replace(match: re.Match) -> str:
        role, target = match["role"], match["target"].strip()
        explicit = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^<>]+)>", target)
        if explicit:
            title, target = explicit["title"], explicit["target"]
        else:
            short = target.startswith("~")
            target = target.lstrip("~")
            title = target.lstrip(".").rsplit(".", 1)[-1] if short else target.lstrip(".")
            if role in CALLABLE_ROLES and not title.endswith(")"):
                title += "()"
        identifier = html.escape(_identifier(target, obj), quote=True)
        return f'<autoref identifier="{identifier}" optional><code>{html.escape(title)}</code></autoref>'

    return ROLE.sub(replace, text)


class SphinxRoles(griffe.Extension):
    """Rewrites each loaded object's docstring once, after the whole package is loaded."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None and not obj.is_alias:
            obj.docstring.value = rewrite(obj.docstring.value, obj)
