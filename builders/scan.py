"""The generic scan layer every dataset builder uses on a raw folder.

A component's layout parser decides which files it wants; this module owns what is the same for
all of them: rejection records, listing folders without opening anything (a FIFO must never
block a scan), strict reading of small text files, the ``SYNTHETIC.json`` marker, threaded file
validation that turns any reader exception into a named rejection, and the ``on_error`` policy
(``raise``: one line naming the rejected files; ``skip``: leave them out, record them).
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tqdm.auto import tqdm

from libtrad.builders.audio_io import InvalidAudio, is_utf8_name, read_source, safe_text
from libtrad.core.errors import LibtradError, ParameterError

SYNTHETIC_MARKER = "SYNTHETIC.json"  # written by `libtrad synth ...` into every synthetic raw folder
MANIFEST = "manifest.json"  # written by every dataset export
MAX_TEXT_BYTES = 64 * 1024 * 1024  # annotation lists, ground-truth CSVs, markers
ON_ERROR = ("raise", "skip")

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Rejection:
    """A source file (or a row of a metadata file) left out of the build, and why."""

    path: str
    reason: str


def check_on_error(on_error: str) -> str:
    if on_error not in ON_ERROR:
        raise ParameterError("on_error", on_error, "must be 'raise' or 'skip'")
    return on_error


def enforce_on_error(data_dir: Path, rejected: list[Rejection], on_error: str) -> None:
    """``raise``: one error naming the first rejected files; ``skip``: nothing (they are recorded)."""
    if rejected and on_error == "raise":
        listing = "; ".join(f"{r.path}: {r.reason}" for r in rejected[:5])
        more = f" (and {len(rejected) - 5} more)" if len(rejected) > 5 else ""
        raise LibtradError(
            f"invalid input in {safe_text(str(data_dir))}: {listing}{more}. Fix the files or pass --on-error skip"
        )


def rel_path(data_dir: Path, path: Path) -> str:
    """``path`` relative to the data folder, printable (non-UTF-8 bytes and control characters escaped)."""
    return safe_text(path.relative_to(data_dir).as_posix())


def list_entries(data_dir: Path, folder: Path, rejected: list[Rejection]) -> list[tuple[Path, bool]]:
    """(path, is a folder) of the visible entries of ``folder``, sorted, without opening any of them.

    Names starting with "." are hidden (editor files, libtrad's own marker); names that are not
    UTF-8 or not printable are rejected here (they could not be written to a manifest or printed).
    """
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        rejected.append(Rejection(rel_path(data_dir, folder) + "/", f"cannot list folder ({exc.strerror or exc})"))
        return []
    entries = []
    for name in names:
        if name.startswith("."):
            continue
        path = folder / name
        if not is_utf8_name(name):
            rejected.append(Rejection(rel_path(data_dir, path), "name is not valid UTF-8 (shown with \\x escapes)"))
            continue
        if not name.isprintable():
            rejected.append(Rejection(rel_path(data_dir, path), "name has unprintable characters (shown escaped)"))
            continue
        try:
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)  # stat, never open: a FIFO must not block
        except OSError:
            is_dir = False  # a broken symlink: validation names the problem
        entries.append((path, is_dir))
    return entries


def walk_files(data_dir: Path, folder: Path, rejected: list[Rejection]) -> list[Path]:
    """Every visible file below ``folder`` (depth first, sorted), listed with :func:`list_entries`."""
    files = []
    for path, is_dir in list_entries(data_dir, folder, rejected):
        files.extend(walk_files(data_dir, path, rejected) if is_dir else [path])
    return files


def read_text_file(path: Path, max_bytes: int = MAX_TEXT_BYTES) -> str | None:
    """The UTF-8 text of a metadata file (None when absent), or a LibtradError naming it."""
    shown = safe_text(str(path))
    try:
        os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LibtradError(f"{shown}: unreadable ({exc.strerror or exc})") from None
    try:
        data = read_source(path, root=path.parent, max_bytes=max_bytes)
    except InvalidAudio as exc:
        raise LibtradError(f"{shown}: {exc.reason}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LibtradError(
            f"{shown}: not UTF-8 text (line {line}, byte {exc.start}: {data[exc.start : exc.start + 1]!r}); "
            "save it as UTF-8"
        ) from None


def read_json_file(path: Path) -> dict | None:
    """A JSON object from a metadata file (None when absent); strict: no NaN, no other top-level type."""
    text = read_text_file(path)
    if text is None:
        return None

    def no_constant(name: str):
        raise ValueError(f"{name} is not valid JSON")

    shown = safe_text(str(path))
    try:
        value = json.loads(text, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise LibtradError(f"{shown}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None
    except (ValueError, RecursionError) as exc:
        raise LibtradError(f"{shown}: not valid JSON ({safe_text(str(exc) or type(exc).__name__)})") from None
    if not isinstance(value, dict):
        raise LibtradError(f"{shown}: must hold a JSON object, not {type(value).__name__}")
    return value


def read_synthetic_marker(data_dir: Path) -> dict | None:
    """The ``SYNTHETIC.json`` a ``libtrad synth`` folder carries, or None for real data."""
    return read_json_file(data_dir / SYNTHETIC_MARKER)


def write_synthetic_marker(folder: Path, info: dict) -> None:
    (folder / SYNTHETIC_MARKER).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def validate_all(
    data_dir: Path,
    items: Iterable[T],
    check: Callable[[T], R],
    path_of: Callable[[T], Path],
    rejected: list[Rejection],
    *,
    desc: str = "validating",
    num_workers: int = 2,
    progress: bool = True,
) -> list[R]:
    """``check`` every item, in ``num_workers`` threads (file reading releases the GIL) or, with
    one, in this thread; results in input order.

    Whatever a reader raises for one file becomes a :class:`Rejection` naming it — never a
    traceback: :class:`InvalidAudio` keeps its reason, an ``OSError`` gives its strerror.
    """
    items = list(items)

    def run(item: T) -> R | Rejection:
        try:
            return check(item)
        except InvalidAudio as exc:
            reason = exc.reason
        except OSError as exc:
            reason = f"unreadable ({exc.strerror or exc})"
        except Exception as exc:  # noqa: BLE001 - whatever a decoder throws, the file is named
            detail = (str(exc).strip().splitlines() or [""])[0]
            reason = f"could not be read ({type(exc).__name__}{': ' + safe_text(detail) if detail else ''})"
        return Rejection(rel_path(data_dir, path_of(item)), reason)

    def collect(results: Iterable[R | Rejection]) -> list[R]:
        valid: list[R] = []
        for result in tqdm(results, total=len(items), desc=desc, unit="file", disable=not progress):
            if isinstance(result, Rejection):
                rejected.append(result)
            else:
                valid.append(result)
        return valid

    if num_workers <= 1:
        return collect(map(run, items))
    with ThreadPoolExecutor(max_workers=num_workers) as pool:
        return collect(pool.map(run, items))


def same_bytes(
    items: Iterable[T],
    rejected: list[Rejection],
    *,
    sha256: Callable[[T], str],
    rel: Callable[[T], str],
    label: Callable[[T], str],
) -> list[T]:
    """The items whose bytes (``sha256``) no other item has; every copy of repeated bytes is a rejection.

    One recording sorted into two class folders would count twice, and under two labels: all copies
    are rejected, each naming the others (``rel``) and, where they differ, their labels: which copy
    is right is the user's call, not libtrad's.
    """
    items = list(items)
    copies: dict[str, list[T]] = {}
    for item in items:
        copies.setdefault(sha256(item), []).append(item)
    kept = []
    for item in items:
        same = copies[sha256(item)]
        if len(same) == 1:
            kept.append(item)
            continue
        others = ", ".join(rel(o) for o in same if o is not item)
        labels = sorted({label(o) for o in same})
        twice = (
            f", so one recording would count under {len(labels)} labels ({', '.join(labels)})"
            if len(labels) > 1
            else ", so one recording would count twice"
        )
        rejected.append(
            Rejection(rel(item), f"the same bytes (SHA-256 {sha256(item)[:12]}...) as {others}{twice}; keep one copy")
        )
    return kept


class SourceChecksums:
    """SHA-256 of source files taken while the export reads them, for the manifest's ``sources``.

    A component that validates from headers (:func:`~libtrad.builders.audio_io.probe_audio`)
    lists its sources with ``"sha256": None``; every read of a file during the export records
    the checksum of the bytes it embedded. Two reads of one file that disagree mean it changed
    during the build: refused, naming it.
    """

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self._lock = threading.Lock()

    def record(self, rel: str, sha256: str) -> None:
        with self._lock:
            earlier = self._seen.setdefault(rel, sha256)
        if earlier != sha256:
            raise LibtradError(f"{rel}: changed while the build was reading it (two reads differ); run the build again")

    def of(self, rel: str) -> str:
        """The checksum recorded for ``rel`` (a row's ``sha256``, asked once the export has read the file)."""
        with self._lock:
            sha = self._seen.get(rel)
        if sha is None:
            raise RuntimeError(f"source {rel}: its checksum was asked for before the export read it")
        return sha

    def fill(self, sources: list[dict]) -> list[dict]:
        """``sources`` with every missing ``sha256`` filled in from what the export read."""
        out = []
        for source in sources:
            if source.get("sha256") is None:
                sha = self._seen.get(source["path"])
                if sha is None:
                    raise RuntimeError(f"source {source['path']} was validated but never read by the export")
                source = {**source, "sha256": sha}
            out.append(source)
        return out
