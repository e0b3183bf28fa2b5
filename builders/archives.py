"""Unpack an untrusted zip or tar archive into a folder, all or nothing.

:func:`safe_extract` reads every member's header before writing anything and refuses the whole
archive, naming the member, for an absolute path, a drive letter, a ``..`` component, a link, a
device or FIFO, a path that escapes the target, a file that already exists in the target, or more
than :data:`MAX_MEMBERS` members / :data:`MAX_TOTAL_BYTES` bytes uncompressed (declared sizes).
Members are written to a staging folder beside the target and moved in only when all of them were
written.

What the standard library does here, and what is ours (and why):

* tar member types and escapes: :func:`tarfile.data_filter` (Python 3.10.12+ / 3.11.4+) refuses
  devices, FIFOs and other special files and any path that resolves outside the target; on older
  patch releases (still allowed by ``requires-python``) only its file-type rule is applied by hand.
* bounded reads: ``TarFile.extractfile`` and ``ZipFile.open`` never return more than a member's
  declared size (zip also checks the CRC), so members are copied with :func:`shutil.copyfileobj`
  and the declared sizes are what the caps count.
* ours, stricter than ``data_filter`` or ``zipfile``: refusing (not silently rewriting) absolute
  paths, drive letters and every ``..``; refusing all links, also those that stay inside the
  target; the same rules for zip members (``zipfile`` extracts links as files, strips ``..``);
  refusing duplicate paths and paths through a link or over an existing file in the target.
* ours, which neither library has: the member-count and total-size caps, the disk-space check, the
  staging folder and the move into the target that never replaces a file.
* ours, faster than ``zipfile``'s own refusal: encrypted members and unsupported compression
  methods are refused from the central directory, before anything is decompressed, naming the
  member (``zipfile`` raises only when that member is read).
* ours, for downloads: :func:`verify_archive` reads every member to its end (zip CRCs; tar data and
  the end-of-archive marker, which ``tarfile`` silently does without), so a body cut short at a
  member boundary is told from a complete archive before it is cached. Damage is a
  :class:`DamagedArchive` (a :class:`~libtrad.core.errors.LibtradError`), so a caller can say where the
  damaged file came from (``download.py``: "delete this cached download").
"""

from __future__ import annotations

import contextlib
import errno
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from libtrad.core.errors import LibtradError, exception_reason
from libtrad.folders.outputs import follow_umask

CHUNK_BYTES = 1 << 20
MAX_MEMBERS = 500_000  # DCASE development sets hold tens of thousands of clips
MAX_TOTAL_BYTES = 128 * 2**30  # uncompressed, per archive: the largest SIREN archive unpacks to well under this

_SEVEN_ZIP = b"7z\xbc\xaf\x27\x1c"
_RAR = b"Rar!\x1a\x07"
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_ARCHIVE_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
)
_DATA_FILTER = getattr(tarfile, "data_filter", None)  # Python 3.10.12+ / 3.11.4+ / 3.12
_SPECIAL = "is a device, FIFO or other special file"


class DamagedArchive(LibtradError):
    """A zip or tar archive whose bytes are incomplete or corrupt; ``reason`` says how (no path in it)."""

    def __init__(self, path: str | Path, reason: str, tail: str = ""):
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path}: {reason}{tail}")


def archive_format(path: str | Path) -> str | None:
    """``"zip"`` or ``"tar"`` (any compression) judged by content; None for a plain file; 7z/RAR refused."""
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(8)
    # the local-header magic first, not zipfile.is_zipfile alone: that also accepts any file ending in
    # something that looks like a central directory, and cannot tell a damaged zip from a plain file
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        if not zipfile.is_zipfile(path):
            raise DamagedArchive(path, "a damaged zip archive (no central directory; truncated?)")
        return "zip"
    for magic, kind in ((_SEVEN_ZIP, "7z"), (_RAR, "RAR")):
        if head.startswith(magic):
            raise LibtradError(
                f"{path}: a {kind} archive, which libtrad does not unpack: unpack it yourself "
                "and pass --data-dir FOLDER (data_dir= in Python)"
            )
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


def safe_extract(
    archive: str | Path, target: str | Path, *, max_members: int | None = None, max_bytes: int | None = None
) -> list[Path]:
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
            raise LibtradError(
                f"{archive}: cannot unpack into {target} ({exc.strerror}); nothing was unpacked"
            ) from None
        raise DamagedArchive(
            archive, f"damaged or unreadable archive ({exception_reason(exc)})", "; nothing was unpacked"
        ) from None


def verify_archive(path: str | Path) -> str:
    """``"zip"`` or ``"tar"`` once every member of ``path`` was read to its end; :class:`DamagedArchive` if not.

    Why: a download without a ``Content-Length`` (or a publisher's truncated file) ends silently at
    any byte. A zip cut short loses its central directory, and a zip member's CRC catches corrupt
    data; a tar (any compression) cut short inside a member fails that member's read, but one cut
    exactly between members reads as complete to ``tarfile``, so the end-of-archive marker (a zero
    block after the last member, which every tar writer adds) is required here. Encrypted zip
    members and unsupported methods are left to :func:`safe_extract`, which refuses them by name.
    Plain files raise :class:`~libtrad.core.errors.LibtradError` ("not a zip or tar archive").
    """
    path = Path(path)
    kind = archive_format(path)
    if kind is None:
        raise LibtradError(f"{path}: not a zip or tar archive")
    try:
        with _open(path, kind) as handle:
            if kind == "zip":
                for info in handle.infolist():
                    if info.is_dir() or info.flag_bits & 0x1 or info.compress_type not in _ZIP_METHODS:
                        continue
                    with handle.open(info) as member:
                        while member.read(CHUNK_BYTES):
                            pass
                return kind
            last = None
            for info in handle:
                last = info.name
                if info.isreg():
                    member = handle.extractfile(info)
                    while member.read(CHUNK_BYTES):
                        pass
            handle.fileobj.seek(handle.offset)  # where the next header (or the end marker) starts
            if handle.fileobj.read(tarfile.BLOCKSIZE) != tarfile.NUL * tarfile.BLOCKSIZE:
                raise DamagedArchive(
                    path, f"a damaged tar archive (no end-of-archive marker after member {last!r}: truncated?)"
                )
    except _ARCHIVE_ERRORS as exc:
        raise DamagedArchive(path, f"damaged or unreadable archive ({exception_reason(exc)})") from None
    return kind


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
            raise LibtradError(
                f"{archive}: refusing to unpack: more than {max_members:,} members (at {name!r}); nothing was unpacked"
            )
        try:
            parts = relative_parts(name)
        except ValueError as exc:
            raise _refuse(archive, name, str(exc)) from None
        is_dir, size = _member_kind(archive, kind, info, name, target)
        if not parts:
            if is_dir:
                continue  # "./"
            raise _refuse(archive, name, "has an empty path")
        total += size
        if total > max_bytes:
            raise _refuse(
                archive,
                name,
                f"the archive unpacks to more than {max_bytes:,} bytes (limit "
                f"{max_bytes / 2**30:g} GiB; declared sizes)",
            )
        if parts in files or (not is_dir and parts in dirs):
            raise _refuse(archive, name, "its path is used twice in the archive")
        if any(parts[:i] in files for i in range(1, len(parts))):
            raise _refuse(archive, name, "a parent of its path is a file in the archive")
        _check_destination(archive, name, target, parts, is_dir)
        (dirs if is_dir else files).add(parts)
        dirs.update(parts[:i] for i in range(1, len(parts)))
        members.append(_Member(name, parts, is_dir, size, info))
    return members


def _member_kind(archive: Path, kind: str, info, name: str, target: Path) -> tuple[bool, int]:
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
    # every link refused, with its target named: data_filter accepts links that stay inside the target
    if info.issym():
        raise _refuse(archive, name, f"is a symbolic link (to {info.linkname!r})")
    if info.islnk():
        raise _refuse(archive, name, f"is a hard link (to {info.linkname!r})")
    _tar_data_filter(archive, info, target)
    return info.isdir(), 0 if info.isdir() else info.size


def _tar_data_filter(archive: Path, info: tarfile.TarInfo, target: Path) -> None:
    """The standard library's ``data`` filter as a check (its rewritten attributes are not used: no
    archive mode, owner or time is ever applied); refuses special files and escapes from ``target``."""
    if _DATA_FILTER is None:  # an older patch release: the filter's file-type rule, the one ours lacks
        if not (info.isreg() or info.isdir()):
            raise _refuse(archive, info.name, _SPECIAL)
        return
    try:
        _DATA_FILTER(info, str(target))
    except tarfile.SpecialFileError:
        raise _refuse(archive, info.name, _SPECIAL) from None  # "device"/"FIFO", not just "special file"
    except tarfile.OutsideDestinationError:
        raise _refuse(archive, info.name, f"its path resolves outside {target}") from None
    except tarfile.FilterError as exc:
        raise _refuse(archive, info.name, exception_reason(exc)) from None


def relative_parts(name: str) -> tuple[str, ...]:
    """A member or sub-folder name as safe relative path parts, or ValueError saying what is wrong.

    Stricter than ``data_filter`` (which strips a leading ``/`` and allows ``a/../b``) and than
    ``zipfile`` (which silently drops ``..`` and drive letters): such a name is refused, not rewritten.
    """
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
    """The member's place in ``target``: through no link, not over an existing file.

    No separate "resolves outside" test: with no ``..`` (see :func:`relative_parts`) and no link on
    the way, the path cannot leave ``target`` (for tar, ``data_filter`` checks it independently).
    """
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
        # both readers stop at the declared size (the caps rely on it); a zip member whose data runs
        # past it fails its CRC check and the archive is refused as damaged
        with source, dest.open("xb") as out:
            shutil.copyfileobj(source, out, CHUNK_BYTES)
        written.append(dest)
    return written


def _move_into(staging: Path, target: Path, written: list[Path]) -> list[Path]:
    """Move the staged tree into ``target``: one rename when it is new, else file by file, never replacing."""
    follow_umask(staging)  # mkdtemp made it 0700; the files were written with the umask's mode already
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
    """Link, then unlink: ``os.rename`` replaces silently and the stdlib has no renameat2(RENAME_NOREPLACE)."""
    try:
        os.link(src, dest)  # fails with EEXIST instead of replacing
    except FileExistsError:
        raise LibtradError(f"{dest}: appeared while unpacking; refusing to replace it (nothing was unpacked)") from None
    except OSError:  # no hard links on this file system
        if dest.exists() or dest.is_symlink():
            raise LibtradError(
                f"{dest}: appeared while unpacking; refusing to replace it (nothing was unpacked)"
            ) from None
        os.rename(src, dest)
        return
    src.unlink()
