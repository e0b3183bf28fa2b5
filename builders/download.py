"""Fetch a dataset's published archives and unpack them safely into a raw folder.

A component lists its publisher's files as :class:`Download` entries (Zenodo records, university
pages). :func:`~libtrad.builders.raw_folder.prepare_raw` downloads them (:func:`fetch`) into a cache (streamed to
a ``.part`` file, resumed
when the server allows it, SHA-256 checked, renamed into place, one process at a time through a
lock file) and unpacks every archive into a libtrad ``raw`` folder (atomic, marked, see
:mod:`libtrad.folders.outputs`), which then reads like a folder the user passed with ``--data-dir``.

Only a complete file enters the cache, because a cached file is trusted by every later build. The
``.part`` file is renamed into place only when its length (Content-Length, or a Content-Range
total), the chunked framing, the recorded SHA-256 or the archive's own integrity (every member read
to its end: zip CRCs, the tar end marker; always checked for archives) says it is complete. An HTML
answer (Content-Type ``text/html``, or a body starting ``<!doctype html`` / ``<html``) where a file
is expected is refused and nothing is cached. A body cut short against its Content-Length stays a
``.part`` and is resumed with a Range request next time (or discarded, with a notice on stderr,
when the server does not resume). A finished cached file found to be wrong later (an HTML page or a
damaged archive, cached by an older libtrad) is named with its cache path and what to do (delete
it); libtrad does not delete it itself, since no marker proves it wrote that file.

Limits (:mod:`libtrad.builders.download_limits`): every read waits at most ``timeout`` seconds
(60); a server that trickles bytes keeps every read short, so besides that a whole file may take at most ``deadline``
seconds (default: no limit) and must arrive at ``min_rate`` bytes/s or more averaged over every
20 s (default 1024, i.e. a stalled trickle stops after about 20 s). Each is an argument of
:func:`fetch` / :func:`prepare_raw` or, for ``libtrad`` and ``make_builder(...).download_and_prepare()``
alike, an environment variable read at each call: ``LIBTRAD_DOWNLOAD_TIMEOUT``,
``LIBTRAD_DOWNLOAD_DEADLINE``, ``LIBTRAD_DOWNLOAD_MIN_RATE`` (``0``: no deadline / no minimum).
A stopped download is one error naming the URL, the bytes received, the time taken and the limit;
what arrived is kept and resumed next time.

Nothing here prints a traceback at the user: without a network, with
``HF_HUB_OFFLINE=1``/``HF_DATASETS_OFFLINE=1``, or when a server fails, the one error says what
could not be downloaded and to download it by hand and pass ``--data-dir``.

Archives are untrusted input: they are unpacked by :mod:`libtrad.builders.archives` (all members
checked first, staged, moved in without replacing anything) into the raw folder
(:mod:`libtrad.builders.raw_folder`).

Our own ``urllib`` downloader, not pooch (no dependency) or huggingface_hub (its plain-URL ``http_get``
is not public API, retries by itself, checks no SHA-256, and reads ``HF_HUB_OFFLINE`` only at import).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from libtrad.builders.archives import DamagedArchive, archive_format, relative_parts, verify_archive
from libtrad.builders.download_limits import Limits, Stopped, Watch, download_limits
from libtrad.core.errors import LibtradError
from libtrad.core.version import __version__

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


def fetch(
    downloads: Iterable[Download],
    cache_dir: str | Path,
    *,
    progress: bool = True,
    timeout: float | None = None,
    deadline: float | None = None,
    min_rate: float | None = None,
) -> list[Path]:
    """Every download's local file, fetched into ``cache_dir`` when not cached (or cached with a wrong SHA-256).

    ``timeout`` (per read), ``deadline`` (per file) and ``min_rate`` (bytes/s): see
    :func:`~libtrad.builders.download_limits.download_limits`.
    """
    downloads = check_downloads(downloads)
    limits = download_limits(timeout=timeout, deadline=deadline, min_rate=min_rate)
    paths = [cached_path(d, cache_dir) for d in downloads]
    missing = [d for d, p in zip(downloads, paths) if not _cached_ok(d, p)]
    variable = offline_variable()
    if missing and variable:
        urls = ", ".join(d.url for d in missing)
        verb = "is" if len(missing) == 1 else "are"
        raise LibtradError(
            f"{', '.join(d.filename for d in missing)} {verb} not downloaded yet and {variable}=1 forbids "
            f"network access: download {urls} {MANUAL}"
        )
    for download in missing:
        path = cached_path(download, cache_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        with locked(path.with_name(path.name + ".lock")):
            if not _cached_ok(download, path):  # another process may have fetched it meanwhile
                _download(download, path, progress=progress, limits=limits)
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
    if download.sha256 is not None:
        return _sha256(path) == download.sha256.lower()
    _check_cached(download, path)
    return True


def _check_cached(download: Download, path: Path) -> None:
    """A finished cached file that cannot be what was asked for (cached by an earlier libtrad that did not
    check): named with its cache path and what to do, never used (and never deleted: no marker proves whose)."""
    problem = None
    try:
        if _html_start(path) and not _html_allowed(download):
            problem = "is an HTML page, not the file"
        elif _expects_archive(download) and archive_format(path) is None:
            problem = "is not a zip or tar archive"
    except DamagedArchive as exc:
        problem = f"is damaged ({exc.reason})"
    if problem:
        raise LibtradError(
            f"{path}: the cached download of {download.url} {problem}; delete it and run again to download it again"
        )


# ----------------------------------------------------------------------------- one file
@dataclass
class _Body:
    """What the server said about the body it sent: its full size (Content-Length, or the total of a
    Content-Range) and whether chunked framing ended it (both prove it complete)."""

    total: int | None
    chunked: bool


class _Refused(Exception):
    """The server's answer is not the file (an HTML page); nothing of it was written."""


class _Restart(Exception):
    """The partial download cannot be continued from this answer; it is discarded and fetched again."""


def _download(download: Download, path: Path, *, progress: bool, limits: Limits) -> None:
    url = download.url
    part = path.with_name(path.name + ".part")
    fail = f"{download.filename} could not be downloaded from {url}"
    try:
        try:
            body = _stream(download, part, progress=progress, limits=limits)
        except (_Restart, urllib.error.HTTPError) as exc:
            if isinstance(exc, urllib.error.HTTPError) and (exc.code != 416 or not part.exists()):
                raise
            reason = str(exc) if isinstance(exc, _Restart) else "the server refused its byte range (HTTP 416)"
            _say(f"discarding the partial download {part} ({reason}); downloading {url} again from the start")
            part.unlink(missing_ok=True)
            body = _stream(download, part, progress=progress, limits=limits, resume=False)
    except _Refused as exc:
        raise LibtradError(f"{fail} ({exc}); nothing was cached: download {url} {MANUAL}") from None
    except Stopped as exc:
        raise LibtradError(f"{fail} ({exc}); {_kept(part)}: download {url} {MANUAL}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        kept = f"; {_kept(part)}" if part.is_file() and part.stat().st_size else ""
        raise LibtradError(f"{fail} ({_network_reason(exc, limits.timeout)}){kept}: download {url} {MANUAL}") from None
    _accept(download, part, body, fail)
    os.replace(part, path)


def _kept(part: Path) -> str:
    size = part.stat().st_size if part.is_file() else 0
    return f"the {size:,} bytes received are kept in {part} and resumed next time" if size else "nothing was kept"


def _accept(download: Download, part: Path, body: _Body, fail: str) -> None:
    """Refuse (and delete) a complete-looking body that is not the file, or one nothing proves complete.

    A body is complete when its length (Content-Length / Content-Range, checked while streaming),
    the chunked framing, the SHA-256 the component records, or the archive's own integrity
    (:func:`~libtrad.builders.archives.verify_archive`) says so; an archive is always verified, so a
    corrupt one is never cached. What is refused here cannot be resumed (it ended; it is wrong), so
    it is deleted: it was libtrad's own ``.part`` file.
    """
    url = download.url

    def refuse(problem: str) -> LibtradError:
        part.unlink(missing_ok=True)
        return LibtradError(
            f"{fail} ({problem}); the download was deleted and nothing was cached: download {url} {MANUAL}"
        )

    if _html_start(part) and not _html_allowed(download):
        raise refuse("the server answered with an HTML page, not the file: a login, consent or error page?")
    if download.sha256 is not None:
        got = _sha256(part)
        if got != download.sha256.lower():
            part.unlink(missing_ok=True)
            raise LibtradError(
                f"{url}: SHA-256 mismatch (expected {download.sha256.lower()}, got {got}); the "
                f"download was deleted: download {url} {MANUAL}"
            )
    try:
        kind = archive_format(part)
        if kind is not None:
            verify_archive(part)
    except DamagedArchive as exc:
        raise refuse(f"not a complete archive: {exc.reason}") from None
    except LibtradError as exc:  # a 7z/RAR archive: libtrad does not unpack those
        raise refuse(str(exc).partition(": ")[2] or str(exc)) from None
    if kind is None and _expects_archive(download):
        raise refuse(f"not a zip or tar archive, although {download.filename} names one")
    if kind is None and download.sha256 is None and body.total is None and not body.chunked:
        raise refuse(
            "nothing proves it complete: the server sent no Content-Length, no SHA-256 is recorded "
            "for it and it is not an archive"
        )


def _stream(download: Download, part: Path, *, progress: bool, limits: Limits, resume: bool = True) -> _Body:
    """Write the body of ``download.url`` to ``part``, continuing a previous partial download when the
    server supports ranges; an HTML answer (by Content-Type) is refused before anything is written."""
    url = download.url
    have = part.stat().st_size if resume and part.is_file() else 0
    headers = {"User-Agent": _user_agent(), "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    opener = urllib.request.build_opener(_HttpOnlyRedirects())
    with opener.open(urllib.request.Request(url, headers=headers), timeout=limits.timeout) as response:
        content_type = response.headers.get_content_type()
        if content_type == "text/html" and not _html_allowed(download):
            raise _Refused(
                "the server answered with an HTML page (Content-Type text/html), not the file: a login, "
                "consent or error page?"
            )
        start, whole = _content_range(response)
        if have and response.status == 206 and start != have:
            raise _Restart(f"the server sent bytes from {start} on, not from {have}")
        resumed = have if have and response.status == 206 else 0
        if have and not resumed:
            _say(
                f"discarding the partial download {part} ({have:,} bytes): the server does not resume it; "
                f"downloading {url} again from the start"
            )
        elif resumed:
            _say(f"resuming the partial download {part} from byte {resumed:,}")
        length = response.headers.get("Content-Length")
        total = resumed + int(length) if length and length.isdigit() else None
        if whole is not None and resumed:
            total = whole if total is None else total
            if total != whole:
                raise _Restart(f"its Content-Range total {whole} does not fit {resumed} + {length} bytes")
        got = resumed
        watch = Watch(limits)
        with (
            part.open("ab" if resumed else "wb") as out,
            tqdm(
                total=total,
                initial=resumed,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=part.stem,
                disable=not progress,
            ) as bar,
        ):
            while chunk := response.read1(CHUNK_BYTES):  # read1: what arrived, so the limits are checked in time
                out.write(chunk)
                got += len(chunk)
                bar.update(len(chunk))
                watch.update(got - resumed)
        chunked = bool(getattr(response, "chunked", False))
    if total is not None and got != total:
        raise ValueError(f"the connection closed after {got:,} of {total:,} bytes")
    return _Body(total, chunked)


def _content_range(response) -> tuple[int | None, int | None]:
    """(first byte, whole size or None) of a 206 answer's Content-Range; (None, None) without one."""
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
    if not match:
        return None, None
    return int(match.group(1)), (int(match.group(2)) if match.group(2).isdigit() else None)


ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz")


def _expects_archive(download: Download) -> bool:
    """Whether the file's name says it is a zip or tar archive (then anything else is refused)."""
    return download.filename.lower().endswith(ARCHIVE_SUFFIXES)


def _html_allowed(download: Download) -> bool:
    return download.filename.lower().endswith((".htm", ".html"))


def _html_start(path: Path) -> bool:
    """Whether the file starts like an HTML page (``<!doctype html`` or ``<html``, after a BOM and spaces)."""
    with path.open("rb") as f:
        head = f.read(1024)
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _say(text: str) -> None:
    """A notice on stderr (what happened to a cached partial download), apart from the progress bars."""
    tqdm.write(f"libtrad: {text}", file=sys.stderr)


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
