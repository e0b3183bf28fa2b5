"""The marker: how libtrad knows a folder (or a staging folder) is its own, and the one reader of it.

Every folder libtrad writes carries ``.libtrad.json`` (:data:`MARKER`): its kind (``dataset``,
``model``, ``results`` (an evaluation's), ``leaderboard``, ``synthetic``, ``raw`` (downloaded),
``embeddings``, ``submission`` (a DCASE challenge submission, :mod:`.submission`), ``onnx``
(``libtrad export onnx``)) and the SHA-256 of every file libtrad wrote in it. The marker is deterministic
(sorted, no timestamps) and is published with the folder, so a git clone of a published export is
still recognised as libtrad's. Staging folders carry :data:`STAGING_MARKER` and their work in
:data:`STAGING_CONTENT`, on the local disk (:mod:`.outputs`) and on object stores (:mod:`.storage`)
alike: a name proves nothing, what libtrad wrote into a folder does.

:func:`read_marker` is the one reader of a local marker (:func:`parse_marker` the one parser, also
of a marker read from a store); :func:`marker_record` the one writer of its contents.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from libtrad.core.errors import LibtradError, exception_reason
from libtrad.core.version import __version__
from libtrad.folders.hub_cache import file_type, is_regular_file, lstat_entry

MARKER = ".libtrad.json"
KINDS = (
    "dataset",
    "model",
    "results",
    "synthetic",
    "raw",
    "embeddings",
    "leaderboard",
    "submission",
    "onnx",
    "benchmark",
)
FORMAT = 1  # of the marker and of the staging marker
# Staging folders beside an output (local) or a prefix beside it (object store): recognised by this
# file in them, never by their name; their work lies in STAGING_CONTENT.
STAGING_MARKER = ".libtrad-staging.json"
STAGING_CONTENT = "content"
# Leaderboards written before they had a kind of their own were marked ``results``; they are
# recognised by their files (and never mistaken for an evaluation's results, which have results.json).
_LEGACY_LEADERBOARD = {"leaderboard.md", "leaderboard.csv", "leaderboard.png"}


def read_marker(folder: str | Path, *, strict: bool = False) -> dict | None:
    """The folder's marker (``{"kind", "files", ...}``), None when there is none; a broken one is an error.

    Not ``strict`` (what a writer asks before replacing a folder): a marker that is a link or not a
    regular file counts as none. ``strict`` (what a checker asks of a folder it reads): such a
    marker is refused with one line. Either way a Hub cache snapshot's link into its own repo's
    blobs is the file it names (:mod:`libtrad.folders.hub_cache`).
    """
    path = Path(folder) / MARKER
    if strict:
        try:
            info = lstat_entry(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LibtradError(f"{path}: unreadable ({exception_reason(exc)})") from None
        if stat.S_ISLNK(info.st_mode):
            raise LibtradError(f"{path}: is a symbolic link; a libtrad marker must be a regular file")
        if not stat.S_ISREG(info.st_mode):
            raise LibtradError(f"{path}: is a {file_type(info.st_mode)}, not a regular file")
    elif not is_regular_file(path):
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LibtradError(f"{path}: unreadable libtrad marker ({exception_reason(exc)})") from None
    return parse_marker(text, path)


def parse_marker(text: str, where) -> dict:
    """A marker's text -> its dict, checked; ``where`` (a path, or a URL on an object store) names it
    in the one-line error for a broken one."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LibtradError(f"{where}: unreadable libtrad marker ({exception_reason(exc)})") from None
    files = data.get("files") if isinstance(data, dict) else None
    if (
        not isinstance(data, dict)
        or data.get("kind") not in KINDS
        or not isinstance(files, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
    ):
        raise LibtradError(f"{where}: not a valid libtrad marker (expected kind and files)")
    if data["kind"] == "results" and set(files) == _LEGACY_LEADERBOARD:
        data = {**data, "kind": "leaderboard"}
    return data


def marker_kind(folder: str | Path) -> str | None:
    marker = read_marker(folder)
    return None if marker is None else marker["kind"]


def marker_record(kind: str, files: Mapping[str, str]) -> dict:
    """The marker of a ``kind`` folder holding ``files`` (relpath -> SHA-256): the one format, written
    by :func:`libtrad.folders.outputs.write_marker` and by :mod:`libtrad.folders.storage` on an object store."""
    if kind not in KINDS:
        raise ValueError(f"unknown folder kind {kind!r}")
    return {
        "libtrad_folder": FORMAT,
        "kind": kind,
        "libtrad_version": __version__,
        "files": dict(sorted(files.items())),
    }


def marker_path_problems(root: Path, listed: Iterable[str]) -> list[str]:
    """Paths in the marker that would lead outside the folder (absolute, ``..``, empty parts)."""
    problems = []
    for rel in sorted(listed):
        parts = rel.split("/")
        if not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel or any(p in ("", ".", "..") for p in parts):
            problems.append(f"{root / MARKER}: lists {rel!r}, a path outside the folder; the marker is corrupted")
    return problems
