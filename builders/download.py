"""Fetch a dataset's published archives and unpack them safely into a raw folder.

A component lists its publisher's files as :class:`Download` entries (Zenodo records, university
pages). :func:`prepare_raw` downloads them into a cache (streamed to a ``.part`` file, resumed
when the server allows it, SHA-256 checked, renamed into place) and unpacks every archive into a
libtrad ``raw`` folder (atomic, marked, see :mod:`libtrad.outputs`), which then reads like a
folder the user passed with ``--data-dir``.

Nothing here prints a traceback at the user: without a network, with
``HF_HUB_OFFLINE=1``/``HF_DATASETS_OFFLINE=1``, or when a server fails, the one error says what
could not be downloaded and to download it by hand and pass ``--data-dir``.

Archives are untrusted input. :func:`safe_extract` reads every member's header before writing
anything and refuses the whole archive, naming the member, for an absolute path, a drive letter,
a ``..`` component, a link, a device or FIFO, a path that escapes the target, a file that already
exists in the target, or more than :data:`MAX_MEMBERS` members / :data:`MAX_TOTAL_BYTES` bytes
uncompressed (declared sizes; the readers never return more than the declared size). Members are
written to a staging folder beside the target and moved in only when all of them were written.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import lzma
import os
import re
import shutil
import socket
import stat
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from libtrad.errors import LibtradError, exception_reason

TIMEOUT_S = 60.0  # connecting, and every read of the response (urllib uses one socket timeout for both)
CHUNK_BYTES = 1 << 20
MAX_MEMBERS = 500_000  # DCASE development sets hold tens of thousands of clips
MAX_TOTAL_BYTES = 128 * 2**30  # uncompressed, per archive: the largest SIREN archive unpacks to well under this
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
MANUAL = "yourself (see the dataset card) and pass --data-dir FOLDER (data_dir= in Python)"

_SEVEN_ZIP = b"7z\xbc\xaf\x27\x1c"
_RAR = b"Rar!\x1a\x07"
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError,
                   NotImplementedError, RuntimeError)


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
            _relative_parts(d.extract_to)
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
def archive_format(path: str | Path) -> str | None:
    """``"zip"`` or ``"tar"`` (any compression) judged by content; None for a plain file; 7z/RAR refused."""
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        if not zipfile.is_zipfile(path):
            raise LibtradError(f"{path}: a damaged zip archive (no central directory; truncated?)")
        return "zip"
    for magic, kind in ((_SEVEN_ZIP, "7z"), (_RAR, "RAR")):
        if head.startswith(magic):
            raise LibtradError(f"{path}: a {kind} archive, which libtrad does not unpack: unpack it yourself "
                               "and pass --data-dir FOLDER (data_dir= in Python)")
    try:
        with tarfile.open(path, "r:*") as tar:
            return "tar" if tar.next() is not None else None  # a CSV or a gzipped CSV has no tar header
    except _ARCHIVE_ERRORS:
        return None


@dataclass(frozen=True)
class _Member:
    name: str  # as stored in the archive (for messages)
    parts: tuple[str, ...]  # the normalised relative path
    is_dir: bool
    size: int
    ref: object  # the ZipInfo or TarInfo


def safe_extract(archive: str | Path, target: str | Path, *, max_members: int | None = None,
                 max_bytes: int | None = None) -> list[Path]:
    """Unpack ``archive`` into ``target`` (created if needed) after checking every member; the files written.

    All or nothing: a refused or failed archive leaves ``target`` as it was. An existing file in
    ``target`` is never replaced.
    """
    archive = Path(archive)
    target = Path(target).expanduser().absolute()
    max_members = MAX_MEMBERS if max_members is None else max_members
    max_bytes = MAX_TOTAL_BYTES if max_bytes is None else max_bytes
    kind = archive_format(archive)
    if kind is None:
        raise LibtradError(f"{archive}: not a zip or tar archive")
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise LibtradError(f"{archive}: the extraction target {target} is not a folder")
    try:
        with _open(archive, kind) as handle:
            members = _validated(archive, kind, handle, target, max_members, max_bytes)
            target.parent.mkdir(parents=True, exist_ok=True)
            total = sum(m.size for m in members)
            free = shutil.disk_usage(target.parent).free
            if total > free:
                raise LibtradError(f"{archive}: unpacking needs {total:,} bytes but {target.parent} has {free:,} free")
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.extract-{os.getpid()}-", dir=target.parent))
            try:
                written = _write_members(archive, kind, handle, members, staging)
                return _move_into(staging, target, written)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except _ARCHIVE_ERRORS as exc:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS):
            raise LibtradError(f"{archive}: cannot unpack into {target} ({exc.strerror}); nothing was unpacked") \
                from None
        raise LibtradError(f"{archive}: damaged or unreadable archive ({exception_reason(exc)}); nothing was unpacked") from None


@contextlib.contextmanager
def _open(archive: Path, kind: str):
    handle = zipfile.ZipFile(archive) if kind == "zip" else tarfile.open(archive, "r:*")
    with handle:
        yield handle


def _refuse(archive: Path, name: str, reason: str) -> LibtradError:
    return LibtradError(f"{archive}: refusing to unpack member {name!r}: {reason}; nothing was unpacked")


def _validated(archive: Path, kind: str, handle, target: Path, max_members: int, max_bytes: int) -> list[_Member]:
    """Every member checked before anything is written (types, paths, collisions, caps)."""
    members: list[_Member] = []
    files: set[tuple[str, ...]] = set()
    dirs: set[tuple[str, ...]] = set()
    total = 0
    entries = handle.infolist() if kind == "zip" else handle  # a tar is read member by member
    for info in entries:
        name = info.filename if kind == "zip" else info.name
        if len(members) >= max_members:
            raise LibtradError(f"{archive}: refusing to unpack: more than {max_members:,} members (at {name!r}); "
                               "nothing was unpacked")
        try:
            parts = _relative_parts(name)
        except ValueError as exc:
            raise _refuse(archive, name, str(exc)) from None
        is_dir, size = _member_kind(archive, kind, info, name)
        if not parts:
            if is_dir:
                continue  # "./"
            raise _refuse(archive, name, "has an empty path")
        total += size
        if total > max_bytes:
            raise _refuse(archive, name, f"the archive unpacks to more than {max_bytes:,} bytes (limit "
                                         f"{max_bytes / 2**30:g} GiB; declared sizes)")
        if parts in files or (not is_dir and parts in dirs):
            raise _refuse(archive, name, "its path is used twice in the archive")
        if any(parts[:i] in files for i in range(1, len(parts))):
            raise _refuse(archive, name, "a parent of its path is a file in the archive")
        _check_destination(archive, name, target, parts, is_dir)
        if kind == "tar":
            _stdlib_filter(archive, info, target)
        (dirs if is_dir else files).add(parts)
        dirs.update(parts[:i] for i in range(1, len(parts)))
        members.append(_Member(name, parts, is_dir, size, info))
    return members


def _member_kind(archive: Path, kind: str, info, name: str) -> tuple[bool, int]:
    """(is a folder, size); links, devices, FIFOs, encrypted or unsupported members refused."""
    if kind == "zip":
        file_type = stat.S_IFMT(info.external_attr >> 16)  # Unix type bits; 0 when none were recorded
        if file_type == stat.S_IFLNK:
            raise _refuse(archive, name, "is a symbolic link")
        if file_type not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _refuse(archive, name, "is a device, FIFO or socket")
        if info.flag_bits & 0x1:
            raise _refuse(archive, name, "is encrypted")
        if info.compress_type not in _ZIP_METHODS:
            raise _refuse(archive, name, f"uses an unsupported compression method ({info.compress_type})")
        return info.is_dir(), 0 if info.is_dir() else info.file_size
    if info.issym():
        raise _refuse(archive, name, f"is a symbolic link (to {info.linkname!r})")
    if info.islnk():
        raise _refuse(archive, name, f"is a hard link (to {info.linkname!r})")
    if not (info.isreg() or info.isdir()):
        raise _refuse(archive, name, "is a device, FIFO or other special file")
    return info.isdir(), 0 if info.isdir() else info.size


def _stdlib_filter(archive: Path, info: tarfile.TarInfo, target: Path) -> None:
    """The standard library's ``data`` extraction filter, on top of our own checks, where it exists."""
    data_filter = getattr(tarfile, "data_filter", None)  # Python >= 3.11.4 / 3.12
    if data_filter is not None:
        try:
            data_filter(info, str(target))
        except tarfile.FilterError as exc:
            raise _refuse(archive, info.name, exception_reason(exc)) from None


def _relative_parts(name: str) -> tuple[str, ...]:
    """A member or sub-folder name as safe relative path parts, or ValueError saying what is wrong."""
    if "\0" in name:
        raise ValueError("has a NUL byte in its name")
    norm = name.replace("\\", "/")
    if norm.startswith("/"):
        raise ValueError("is an absolute path")
    if re.match(r"[A-Za-z]:", norm):
        raise ValueError("starts with a drive letter")
    parts = tuple(p for p in norm.split("/") if p not in ("", "."))
    if ".." in parts:
        raise ValueError("has a '..' component")
    return parts


def _check_destination(archive: Path, name: str, target: Path, parts: tuple[str, ...], is_dir: bool) -> None:
    """The member's place in ``target``: inside it, through no link, not over an existing file."""
    root = target.resolve()
    dest = target.joinpath(*parts)
    if not dest.resolve().is_relative_to(root):
        raise _refuse(archive, name, f"its path resolves outside {target}")
    for i in range(1, len(parts) + 1):
        path = target.joinpath(*parts[:i])
        if path.is_symlink():
            raise _refuse(archive, name, f"{path} is a symbolic link")
        if not path.exists():
            return
        last = i == len(parts)
        if not path.is_dir() and (not last or is_dir):
            raise _refuse(archive, name, f"{path} exists and is not a folder")
        if last and not is_dir:
            raise _refuse(archive, name, f"it would replace {path}, which exists")


def _write_members(archive: Path, kind: str, handle, members: list[_Member], staging: Path) -> list[Path]:
    written = []
    for member in members:
        dest = staging.joinpath(*member.parts)
        if member.is_dir:
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        source = handle.open(member.ref) if kind == "zip" else handle.extractfile(member.ref)
        if source is None:
            raise _refuse(archive, member.name, "has no data")
        got = 0
        with source, dest.open("xb") as out:
            while chunk := source.read(CHUNK_BYTES):
                got += len(chunk)
                if got > member.size:  # never more than declared (the caps rely on it)
                    raise _refuse(archive, member.name, f"holds more data than its declared {member.size:,} bytes")
                out.write(chunk)
        written.append(dest)
    return written


def _move_into(staging: Path, target: Path, written: list[Path]) -> list[Path]:
    """Move the staged tree into ``target``: one rename when it is new, else file by file, never replacing."""
    for folder, _, _ in os.walk(staging):
        os.chmod(folder, 0o755)
    files = [target / p.relative_to(staging) for p in written]
    if not target.exists():
        staging.rename(target)
        return files
    made: list[Path] = []
    try:
        for src in sorted(staging.rglob("*")):
            dest = target / src.relative_to(staging)
            if src.is_dir():
                if not dest.is_dir():
                    dest.mkdir()
                    made.append(dest)
                continue
            _rename_no_replace(src, dest)
            made.append(dest)
    except BaseException:
        for path in reversed(made):  # only what this call created
            with contextlib.suppress(OSError):
                path.rmdir() if path.is_dir() else path.unlink()
        raise
    return files


def _rename_no_replace(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)  # fails with EEXIST instead of replacing
    except FileExistsError:
        raise LibtradError(f"{dest}: appeared while unpacking; refusing to replace it (nothing was unpacked)") \
            from None
    except OSError:  # no hard links on this file system
        if dest.exists() or dest.is_symlink():
            raise LibtradError(f"{dest}: appeared while unpacking; refusing to replace it (nothing was unpacked)") \
                from None
        os.rename(src, dest)
        return
    src.unlink()


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
            dest = tmp.joinpath(*_relative_parts(download.extract_to))
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
