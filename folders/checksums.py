"""The one checksum checker: the files a marker lists against their SHA-256.

Every reader of a libtrad folder (:mod:`libtrad.folders.verify.inputs`), ``libtrad verify`` and
``libtrad publish`` check listed files through :func:`check_listed`; :func:`sha256_file` is the one
way a file's digest is computed for a marker.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from libtrad.core.errors import exception_reason
from libtrad.folders.hub_cache import file_type, lstat_entry
from libtrad.folders.marker import MARKER

HASH_THREADS = 4  # hashlib releases the GIL: shards hash in parallel


def sha256_file(path: str | Path) -> str:
    sha = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(4 * 2**20):
            sha.update(chunk)
    return sha.hexdigest()


def check_listed(
    root: Path,
    listed: Mapping[str, str],
    relpaths: Iterable[str] | None = None,
    *,
    stop_at_first: bool = False,
    known: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, str | None]]:
    """``(rel, problem or None)`` for each listed file in sorted order: missing, not regular, corrupted.

    ``known``: SHA-256 digests the caller has just computed from some of these files (e.g. ``embed``'s
    shard checksums for its cache key); they are compared instead of reading the files again.
    """
    names = sorted(listed if relpaths is None else relpaths)
    known = known or {}
    presence = {rel: _presence_problem(root, rel, listed) for rel in names}
    pool = ThreadPoolExecutor(max_workers=HASH_THREADS)
    pending = {rel: pool.submit(_digest, root / rel) for rel in names if presence[rel] is None and rel not in known}
    try:
        for rel in names:
            problem = presence[rel]
            if problem is None:
                digest = known[rel] if rel in known else pending[rel].result()
                if isinstance(digest, OSError):
                    problem = f"{root / rel}: unreadable ({exception_reason(digest)})"
                elif digest != listed[rel]:
                    problem = f"{root / rel}: corrupted (SHA-256 differs from {MARKER}); rebuild or re-download it"
            yield rel, problem
            if problem and stop_at_first:
                return
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _presence_problem(root: Path, rel: str, listed: Mapping[str, str]) -> str | None:
    path = root / rel
    if rel not in listed:
        return f"{path}: not listed in {root / MARKER} (not written by libtrad)"
    try:
        mode = lstat_entry(path).st_mode
    except FileNotFoundError:
        return f"{path}: missing (listed in {MARKER})"
    except OSError as exc:
        return f"{path}: unreadable ({exception_reason(exc)})"
    if stat.S_ISLNK(mode):
        return f"{path}: is a symbolic link, not the file libtrad wrote (listed in {MARKER})"
    if not stat.S_ISREG(mode):
        return f"{path}: is a {file_type(mode)}, not the file libtrad wrote (listed in {MARKER})"
    return None


def _digest(path: Path) -> str | OSError:
    try:
        return sha256_file(path)
    except OSError as exc:
        return exc
