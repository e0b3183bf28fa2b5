"""The checker core every folder kind shares: the report, the folder's entries, ``manifest.json``.

:class:`VerifyReport` is what :func:`libtrad.folders.verify.verify_folder` fills; :func:`scan_entries`
and :func:`manifest_problems` (with the marker's :func:`~libtrad.folders.marker.read_marker` and
:func:`~libtrad.folders.checksums.check_listed`) are also what ``libtrad publish`` runs before it
uploads anything. Nothing here knows a folder kind: the kind modules (:mod:`.dataset`, :mod:`.model`)
import from here, never the other way round.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from libtrad.core.errors import LibtradError, exception_reason
from libtrad.folders.hub_cache import file_type, lstat_entry
from libtrad.folders.marker import MARKER

CARD = "README.md"
MANIFEST = "manifest.json"
DATA = "data"


# ----------------------------------------------------------------------------- the report
@dataclass
class VerifyReport:
    """What :func:`verify_folder` found: ``ok`` when ``problems`` is empty."""

    path: Path
    kind: str | None = None
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        what = f"libtrad {self.kind} folder" if self.kind else "folder"
        lines = [f"verified {what} {self.path}: {len(self.checked)} check(s)"]
        lines += [f"  ok       {item}" for item in self.checked]
        lines += [f"  PROBLEM  {item}" for item in self.problems]
        if self.ok:
            lines.append(f"OK: {self.path} is intact")
        else:
            lines.append(f"FAILED: {len(self.problems)} problem(s) in {self.path}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- shared checks (publish uses them)
def scan_entries(
    root: Path, listed: Mapping[str, str] | Iterable[str], keep_hidden: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """Every regular file under ``root`` (posix relative paths) and one problem per link or special file.

    Hidden entries (``.git/``, ``.cache/``) are skipped without looking inside, unless the marker lists
    something in them or they are named in ``keep_hidden``. Nothing is opened or followed.
    """
    listed = set(listed)
    keep = set(keep_hidden) | {MARKER}
    wanted_dirs = {"/".join(rel.split("/")[:i]) for rel in listed for i in range(1, rel.count("/") + 1)}
    files: list[str] = []
    problems: list[str] = []

    def visit(directory: Path, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            problems.append(f"{directory}: cannot list the folder ({exception_reason(exc)})")
            return
        for entry in entries:
            rel = prefix + entry.name
            if entry.name.startswith(".") and rel not in keep and rel not in listed and rel not in wanted_dirs:
                continue
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
                hub_link = stat.S_ISLNK(mode)
                if hub_link:  # a snapshot's link into its blobs reads as the blob; any other link stays a link
                    mode = lstat_entry(entry.path).st_mode
                    hub_link = stat.S_ISREG(mode)
            except OSError as exc:
                problems.append(f"{entry.path}: cannot be read ({exception_reason(exc)})")
                continue
            if stat.S_ISLNK(mode):
                problems.append(
                    f"{entry.path}: is a symbolic link (to {_link_target(entry.path)}); "
                    "refusing links: replace it with the file itself or remove it"
                )
            elif stat.S_ISDIR(mode):
                visit(Path(entry.path), rel + "/")
            elif stat.S_ISREG(mode):
                if not _inside(root, Path(entry.path).parent if hub_link else Path(entry.path)):
                    problems.append(f"{entry.path}: resolves outside {root}; refusing it")
                else:
                    files.append(rel)
            else:
                problems.append(f"{entry.path}: is a {file_type(mode)}, not a regular file; refusing it")

    visit(root, "")
    return files, problems


def read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LibtradError(f"{path}: unreadable ({exception_reason(exc)})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LibtradError(f"{path}: not valid JSON ({exception_reason(exc)})") from None


def manifest_problems(root: Path, listed: Mapping[str, str]) -> list[str]:
    """``manifest.json``'s ``parquet_files`` must name exactly the marker's Parquet files, same SHA-256."""
    path = root / MANIFEST
    try:
        manifest = read_json(path)
    except LibtradError as exc:
        return [str(exc)]
    shards = manifest.get("parquet_files") if isinstance(manifest, dict) else None
    if not isinstance(shards, dict):
        return [f"{path}: has no parquet_files table"]
    problems = []
    ours = {rel: sha for rel, sha in listed.items() if rel.startswith(f"{DATA}/") and rel.endswith(".parquet")}
    for rel in sorted(set(shards) | set(ours)):
        if rel not in ours:
            problems.append(f"{path}: parquet_files names {rel}, which {MARKER} does not list")
        elif rel not in shards:
            problems.append(f"{path}: parquet_files does not name {rel}, which {MARKER} lists")
        elif shards[rel] != ours[rel]:
            problems.append(f"{path}: parquet_files SHA-256 of {rel} differs from {MARKER}")
    return problems


# ----------------------------------------------------------------------------- small helpers
def one_line_error(exc: BaseException) -> LibtradError:
    if isinstance(exc, LibtradError):
        return exc
    where = getattr(exc, "filename", None)
    return LibtradError(f"{where}: {exception_reason(exc)}" if where else exception_reason(exc))


def is_hidden(rel: str) -> bool:
    """A path with a hidden part (``.git/…``, ``__pycache__/…``): never a file a kind's checks look at."""
    return any(part.startswith((".", "__")) for part in rel.split("/"))


def _inside(root: Path, path: Path) -> bool:
    try:
        return Path(os.path.realpath(path)).is_relative_to(root)
    except (OSError, ValueError):
        return False


def _link_target(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"
