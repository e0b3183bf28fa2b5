"""Fetch a dataset's published archives and unpack them safely into a raw folder.

A component lists its publisher's files as :class:`Download` entries (Zenodo records, university
pages). :func:`prepare_raw` downloads them into a cache (streamed to a ``.part`` file, resumed
when the server allows it, SHA-256 checked, renamed into place, one process at a time through a
lock file) and unpacks every archive into a libtrad ``raw`` folder (atomic, marked, see
:mod:`libtrad.outputs`), which then reads like a folder the user passed with ``--data-dir``.

Nothing here prints a traceback at the user: without a network, with
``HF_HUB_OFFLINE=1``/``HF_DATASETS_OFFLINE=1``, or when a server fails, the one error says what
could not be downloaded and to download it by hand and pass ``--data-dir``.

Archives are untrusted input: they are unpacked by :mod:`libtrad.builders.archives` (all members
checked first, staged, moved in without replacing anything); :func:`safe_extract`,
:func:`archive_format` and the caps :data:`MAX_MEMBERS` / :data:`MAX_TOTAL_BYTES` are re-exported here.

Our own ``urllib`` downloader, not pooch (no dependency) or huggingface_hub (its plain-URL ``http_get``
is not public API, retries by itself, checks no SHA-256, and reads ``HF_HUB_OFFLINE`` only at import).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from libtrad.builders import archives
from libtrad.builders.archives import MAX_MEMBERS, MAX_TOTAL_BYTES, archive_format, relative_parts
from libtrad.errors import LibtradError

TIMEOUT_S = 60.0  # connecting, and every read of the response (urllib uses one socket timeout for both)
CHUNK_BYTES = 1 << 20
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
MANUAL = "yourself (see the dataset card) and pass --data-dir FOLDER (data_dir= in Python)"


@dataclass(frozen=True)
class Download:
    """One file as its publisher distributes it.

    ``filename``: the plain name it is cached under; ``sha256``: checked when given;
    ``extract_to``: the sub-folder of the raw folder its members go into ("" = the raw folder
    itself). A file that is not an archive (a CSV) is copied there under ``filename``.
    """

    url: str
    filename: str
    sha256: str | None = None
    extract_to: str = ""


# ----------------------------------------------------------------------------- download
def offline_variable() -> str | None:
    """The environment variable that forbids network access right now, if any (read at each call)."""
    for name in OFFLINE_VARIABLES:
        if os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE"):
            return name
    return None


def cached_path(download: Download, cache_dir: str | Path) -> Path:
    """Where ``download`` is cached: ``<cache>/<url hash>/<filename>`` (two datasets may share a file name)."""
    key = hashlib.sha256(download.url.encode("utf-8")).hexdigest()[:16]
    return Path(cache_dir).expanduser() / key / download.filename


def fetch(downloads: Iterable[Download], cache_dir: str | Path, *, progress: bool = True,
          timeout: float | None = None) -> list[Path]:
    """Every download's local file, fetched into ``cache_dir`` when not cached (or cached with a wrong SHA-256)."""
    downloads = check_downloads(downloads)
    timeout = TIMEOUT_S if timeout is None else timeout
    paths = [cached_path(d, cache_dir) for d in downloads]
    missing = [d for d, p in zip(downloads, paths) if not _cached_ok(d, p)]
    variable = offline_variable()
    if missing and variable:
        urls = ", ".join(d.url for d in missing)
        verb = "is" if len(missing) == 1 else "are"
        raise LibtradError(f"{', '.join(d.filename for d in missing)} {verb} not downloaded yet and {variable}=1 forbids "
                           f"network access: download {urls} {MANUAL}")
    for download in missing:
        path = cached_path(download, cache_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        with locked(path.with_name(path.name + ".lock")):
            if not _cached_ok(download, path):  # another process may have fetched it meanwhile
                _download(download, path, progress=progress, timeout=timeout)
    return paths


def check_downloads(downloads: Iterable[Download]) -> list[Download]:
    """The list, each entry checked (a component's mistake is named, not downloaded)."""
    out, names = [], set()
    for d in downloads:
        if not isinstance(d, Download):
            raise LibtradError(f"downloads: {d!r} is not a Download")
        if urllib.parse.urlsplit(d.url).scheme not in ("http", "https"):
            raise LibtradError(f"download {d.url!r}: only http:// and https:// addresses are fetched")
        if not d.filename or d.filename in (".", "..") or any(c in d.filename for c in "/\\\0"):
            raise LibtradError(f"download {d.url}: filename {d.filename!r} must be a plain file name")
        if d.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", d.sha256):
            raise LibtradError(f"download {d.url}: sha256 {d.sha256!r} is not 64 hexadecimal digits")
        try:
            relative_parts(d.extract_to)
        except ValueError as exc:
            raise LibtradError(f"download {d.url}: extract_to {d.extract_to!r} {exc}") from None
        if (d.extract_to, d.filename) in names:
            raise LibtradError(f"download {d.url}: {d.filename!r} is listed twice for extract_to {d.extract_to!r}")
        names.add((d.extract_to, d.filename))
        out.append(d)
    return out


def _cached_ok(download: Download, path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    return download.sha256 is None or _sha256(path) == download.sha256.lower()


def _download(download: Download, path: Path, *, progress: bool, timeout: float) -> None:
    url = download.url
    part = path.with_name(path.name + ".part")
    try:
        try:
            _stream(url, part, progress=progress, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != 416 or not part.exists():
                raise
            part.unlink()  # the partial file does not fit what the server has now: start over
            _stream(url, part, progress=progress, timeout=timeout)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        raise LibtradError(f"{download.filename} could not be downloaded from {url} ({_network_reason(exc, timeout)}): "
                           f"download {url} {MANUAL}") from None
    if download.sha256 is not None:
        got = _sha256(part)
        if got != download.sha256.lower():
            part.unlink(missing_ok=True)
            raise LibtradError(f"{url}: SHA-256 mismatch (expected {download.sha256.lower()}, got {got}); the download "
                               f"was deleted: download {url} {MANUAL}")
    os.replace(part, path)


def _stream(url: str, part: Path, *, progress: bool, timeout: float) -> None:
    """Write ``url`` to ``part``, continuing a previous partial download when the server supports ranges."""
    have = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": _user_agent(), "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    opener = urllib.request.build_opener(_HttpOnlyRedirects())
    with opener.open(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
        resumed = have if response.status == 206 and _range_start(response) == have else 0
        length = response.headers.get("Content-Length")
        total = resumed + int(length) if length and length.isdigit() else None
        got = resumed
        with part.open("ab" if resumed else "wb") as out, \
                tqdm(total=total, initial=resumed, unit="B", unit_scale=True, unit_divisor=1024, desc=part.stem,
                     disable=not progress) as bar:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                got += len(chunk)
                bar.update(len(chunk))
    if total is not None and got != total:
        raise ValueError(f"the connection closed after {got} of {total} bytes")


def _range_start(response) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.URLError(f"redirected to a non-HTTP address {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _network_reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".strip()
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _user_agent() -> str:
    from libtrad import __version__

    return f"libtrad/{__version__} (dataset download; python-urllib)"


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES * 4):
            sha.update(chunk)
    return sha.hexdigest()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created) for the block; no-op where ``fcntl`` is missing."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------- extraction
def safe_extract(archive: str | Path, target: str | Path, *, max_members: int | None = None,
                 max_bytes: int | None = None) -> list[Path]:
    """:func:`libtrad.builders.archives.safe_extract`, capped by this module's :data:`MAX_MEMBERS` /
    :data:`MAX_TOTAL_BYTES` (the limits :func:`prepare_raw` applies; set them here)."""
    return archives.safe_extract(archive, target, max_members=MAX_MEMBERS if max_members is None else max_members,
                                 max_bytes=MAX_TOTAL_BYTES if max_bytes is None else max_bytes)


# ----------------------------------------------------------------------------- the raw folder
def prepare_raw(downloads: Iterable[Download], raw_dir: str | Path, cache_dir: str | Path, *,
                progress: bool = True, timeout: float | None = None) -> Path:
    """Fetch every download and unpack it into ``raw_dir``, which is returned.

    ``raw_dir`` is a libtrad folder of kind ``raw``: new, empty, or an earlier ``raw`` folder
    (replaced; files libtrad did not write in it are kept). Archives are unpacked into
    ``raw_dir/<extract_to>``; other files are copied there under their ``filename``. The folder
    appears (or is swapped) only once everything is in it.
    """
    downloads = check_downloads(downloads)
    raw = Path(raw_dir).expanduser().resolve()
    cache = Path(cache_dir).expanduser().resolve()
    if cache == raw or cache.is_relative_to(raw):
        raise LibtradError(f"cache_dir {cache}: lies inside raw_dir {raw}; choose a cache outside it")
    with _raw_output(raw) as tmp:
        paths = fetch(downloads, cache, progress=progress, timeout=timeout)
        for download, path in zip(downloads, paths):
            dest = tmp.joinpath(*relative_parts(download.extract_to))
            if archive_format(path) is not None:
                safe_extract(path, dest)
                continue
            dest.mkdir(parents=True, exist_ok=True)
            copy = dest / download.filename
            if copy.exists() or copy.is_symlink():
                raise LibtradError(f"{download.url}: {download.extract_to or '.'}/{download.filename} was already "
                                   "unpacked from another download; refusing to replace it")
            shutil.copyfile(path, copy)
    return raw


@contextlib.contextmanager
def _raw_output(raw: Path) -> Iterator[Path]:
    """A staging folder that becomes the libtrad ``raw`` folder ``raw`` on success (see :mod:`libtrad.outputs`)."""
    from libtrad.outputs import atomic_output

    with atomic_output(raw, "raw", option="raw_dir") as tmp:
        yield tmp
