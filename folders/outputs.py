"""Every local folder libtrad writes: output checks and an atomic, user-safe replace.

Rules (the reliability issue): libtrad never deletes or overwrites what it did not write.

* Every folder libtrad writes carries its marker (:mod:`libtrad.folders.marker`): its kind and
  the SHA-256 of every file libtrad wrote in it (:func:`write_marker`).
* An existing non-empty output is replaced only when its marker names the same kind; anything
  else (an unrelated folder, one with only a ``manifest.json``, a model where a dataset is
  expected) is refused with one line.
* An output may not be, contain or lie inside any input; whether it can be written is checked
  before any long work starts (:func:`check_output`).
* A rebuild replaces only the files the old marker lists: everything else in the folder (``.git/``,
  ``.gitattributes`` edits, notes) is carried into the new folder before the atomic swap.
* A killed run leaves the previous folder untouched; its staging folder is cleaned by the next
  run, which moves any carried user file back instead of deleting it.
* Staging folders and lock files beside the output (``.OUT.partial-…``, ``.OUT.old-…``,
  ``.OUT.resume-…``, ``.OUT.lock``) are recognised by what libtrad wrote into them, never by their
  name: a user's folder or file of such a name is left byte-identical (or refused when it blocks).
  The lock is :mod:`libtrad.folders.lock`'s.
* What libtrad writes follows the user's umask (:func:`follow_umask`), as a file the user creates
  would: a model folder written under ``umask 002`` is writable by the group that shares it.
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from libtrad.core.errors import LibtradError, disk_full, exception_reason, shown, write_failed
from libtrad.folders.checksums import sha256_file
from libtrad.folders.hub_cache import snapshot_repo
from libtrad.folders.marker import (
    FORMAT,
    KINDS,
    MARKER,
    STAGING_CONTENT,
    STAGING_MARKER,
    marker_kind,
    marker_record,
    read_marker,
)


# ----------------------------------------------------------------------------- the marker
def write_marker(folder: Path, kind: str, known: Mapping[str, str] | None = None) -> dict:
    """List (and checksum) every file under ``folder`` as libtrad's; ``known`` skips re-hashing."""
    if kind not in KINDS:
        raise ValueError(f"unknown folder kind {kind!r}")
    files = {}
    for path in sorted(_walk_files(folder)):
        rel = path.relative_to(folder).as_posix()
        if rel == MARKER:
            continue
        files[rel] = (known or {}).get(rel) or sha256_file(path)
    marker = marker_record(kind, files)
    (folder / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return marker


# ----------------------------------------------------------------------------- checks
# ``s3://b/x`` as given, or as ``pathlib`` (click's Path type) folds it: ``s3:/b/x``.
_URL_LIKE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/")


def refuse_url(output, option: str, what: str = "folder") -> None:
    """An output given as a URL is refused (one line) rather than written to a local folder named ``s3:``.

    Only ``libtrad embed`` writes to object stores (:mod:`libtrad.folders.storage`); every other output is a
    local ``what`` (a folder; ``export-xares``'s file) — ``file://`` URLs are turned into paths by the commands
    that take them. Also seen through click's ``Path`` type, which folds ``s3://b/x`` to ``s3:/b/x``."""
    match = _URL_LIKE.match(str(output))
    if match:
        url = str(output) if "://" in str(output) else str(output).replace(":/", "://", 1)
        raise LibtradError(
            f"{option} {shown(url, quote=False)}: is a URL; this command writes a local {what} (only libtrad "
            f"embed writes to {match.group(1)}:// stores): give a local path, then copy it there"
        )


def refuse_input_url(value, option: str, what: str = "a local folder") -> None:
    """An input that must be local (a raw ``--data-dir``, ``--encoder-weights``) given as a URL: one line
    saying so, instead of "no such folder" about the mangled path click's ``Path`` makes of it
    (``/cwd/http:/host/x``)."""
    match = _URL_LIKE.match(str(value))
    if match:
        url = str(value) if "://" in str(value) else str(value).replace(":/", "://", 1)
        raise LibtradError(
            f"{option} {shown(url, quote=False)}: is a URL; this command reads {what}: download it first, "
            "then give the local path"
        )


def check_output(
    output: str | Path, kind: str, *, option: str = "--output", inputs: Mapping[str, str | Path | None] | None = None
) -> Path:
    """Resolve ``output`` and refuse it (one line) unless libtrad may write a ``kind`` folder there.

    Refused: a file; a non-empty folder that is not libtrad's folder of the same kind; an output
    that is, contains or lies inside an input (``inputs`` maps an option name to its path);
    a place that cannot be written. Nothing is created.
    """
    refuse_url(output, option)
    out = Path(output).expanduser().resolve()
    for name, value in (inputs or {}).items():
        if value is None:
            continue
        src = Path(value).expanduser().resolve()
        if out == src or src.is_relative_to(out) or out.is_relative_to(src):
            relation = "is" if out == src else ("contains" if src.is_relative_to(out) else "lies inside")
            raise LibtradError(f"{option} {out}: {relation} the input {name} {src}; choose an output outside it")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise LibtradError(f"{option} {out}: exists and is not a folder; refusing to replace it")
    if snapshot_repo(out / MARKER) is not None:  # huggingface_hub's files, even where a marker is among them
        raise LibtradError(
            f"{option} {out}: lies in a Hugging Face Hub cache snapshot (huggingface_hub's "
            "files); choose an output outside the cache"
        )
    if out.is_dir() and any(out.iterdir()):
        found = marker_kind(out)
        if found is None:
            raise LibtradError(
                f"{option} {out}: exists, is not empty and is not a libtrad folder (no {MARKER}); "
                "refusing to replace it: choose a new or empty folder"
            )
        if found != kind:
            raise LibtradError(
                f"{option} {out}: is a libtrad {found} folder, not a {kind} folder; refusing to replace it"
            )
    _check_writable(out, option)
    return out


def _check_writable(out: Path, option: str) -> None:
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise LibtradError(f"{option} {out}: {parent} is not a folder")
    probes = [parent] if not out.exists() else [out.parent, out]
    for folder in probes:
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".libtrad-write-test-", dir=folder))
        except OSError as exc:
            raise LibtradError(f"{option} {out}: cannot write in {folder} ({exception_reason(exc)})") from None


# ----------------------------------------------------------------------------- atomic replace
# Staging folders and lock files sit beside the output under names derived from it
# (``.OUT.partial-<pid>-…``, ``.OUT.old-<pid>-…``, ``.OUT.resume-<key>``, ``.OUT.lock``). A name
# proves nothing — a user may own a folder called that — so libtrad recognises them only by what
# it wrote into them itself: a staging folder holds STAGING_MARKER (the output, the purpose and
# the pid) and its work in ``content/``; the lock file holds libtrad's lock text. Whatever has such
# a name without libtrad's mark is never moved, emptied or deleted.


@contextmanager
def atomic_output(
    output: str | Path,
    kind: str,
    *,
    option: str = "--output",
    inputs: Mapping[str, str | Path | None] | None = None,
    checksums: Mapping[str, str] | None = None,
    staging: Path | None = None,
) -> Iterator[Path]:
    """Yield an empty staging folder; on success it becomes ``output`` (marker written, swap atomic).

    ``checksums`` (filled by the caller while writing, e.g. Parquet shards hashed in the
    background) spares hashing those files again for the marker. ``staging`` (from
    :func:`resumable_staging`) is a folder the caller keeps across failed runs — a resumable job's
    finished parts survive a crash there; it is not deleted when the block fails.
    """
    out = check_output(output, kind, option=option, inputs=inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    _recover_stale(out)
    tmp = staging if staging is not None else _new_staging(out, "partial")
    try:
        yield tmp
        follow_umask(tmp)  # before the marker, which is written with the umask's mode anyway
        write_marker(tmp, kind, checksums)
        check_output(out, kind, option=option, inputs=inputs)  # the folder may have changed meanwhile
        old_marker = read_marker(out) if out.exists() else None
    except BaseException as exc:
        if staging is None:
            _discard_staging(tmp.parent)  # nothing but libtrad's files is in it yet
        if disk_full(exc):  # a full disk or a file-size limit: name the file of the output being written
            raise write_failed(_as_output_path(exc, tmp, out), exc) from None
        raise
    if old_marker is not None:
        try:
            _carry_user_entries(out, tmp, set(old_marker["files"]))
        except LibtradError:  # a name clash, found before anything was moved
            if staging is None:
                _discard_staging(tmp.parent)
            raise
    if not out.exists():
        tmp.rename(out)
    elif old_marker is None:  # an empty folder
        out.rmdir()
        tmp.rename(out)
    elif _exchange(tmp, out):
        _remove_listed(tmp, out)  # tmp now holds the previous output
    else:
        old = _new_staging(out, "old", content=False)
        out.rename(old / STAGING_CONTENT)
        tmp.rename(out)
        _remove_listed(old / STAGING_CONTENT, out)
        _close_staging(old)
    _close_staging(tmp.parent)


def _as_output_path(exc: OSError, tmp: Path, out: Path) -> Path:
    """The output's file a failed write was for (the staging copy's name mapped into ``out``), else ``out``."""
    name = Path(exc.filename) if isinstance(exc.filename, str) else None
    if name is not None and name.is_relative_to(tmp):
        return out / name.relative_to(tmp)
    return out


def resumable_staging(output: str | Path, key: str) -> Path:
    """The staging folder a resumable job keeps for ``output`` and the job identity ``key``.

    Same key -> same folder, so a re-run after a crash finds the finished parts. Staging folders of
    other keys for the same output (a changed model or dataset) are libtrad's alone and removed —
    only those carrying libtrad's staging marker. A folder of the exact name that libtrad did not
    make is refused, never used or removed. The caller holds :func:`libtrad.folders.lock.output_lock` while using it.
    """
    out = Path(output).expanduser().resolve()
    prefix = f".{out.name}.resume-"
    folder = out.parent / f"{prefix}{key}"
    for stale in out.parent.glob(f"{glob.escape(prefix)}*"):
        if stale.name != folder.name and _staging_info(stale, out, "resume") is not None:
            shutil.rmtree(stale, ignore_errors=True)
    if folder.exists() or folder.is_symlink():
        if _staging_info(folder, out, "resume") is None:
            raise LibtradError(
                f"{folder}: exists and was not made by libtrad (no {STAGING_MARKER} in it), but libtrad "
                f"keeps the resumable work for {out} under that name; move or rename it and run again"
            )
    else:
        folder.mkdir(parents=True)
        _write_staging_marker(folder, out, "resume")
    (folder / STAGING_CONTENT).mkdir(exist_ok=True)
    return folder / STAGING_CONTENT


def current_umask() -> int:
    """The process's umask, read without changing it where the system shows it (Linux: ``/proc/self/status``).

    ``os.umask`` can only read the mask by setting another one, which another thread creating a file at that
    moment would see; it is the fallback where ``/proc`` does not say.
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask(path: Path) -> None:
    """Give ``path`` and everything under it the mode the user's umask gives a new file or folder.

    The one place libtrad's outputs get their modes. Some writers create files privately whatever the umask
    — safetensors writes ``model.safetensors`` through a 0600 temporary file renamed into place,
    ``tempfile.mkstemp`` / ``mkdtemp`` make 0600 files and 0700 folders — which would leave a model folder
    unreadable to the group that shares it. Files get ``0o666 & ~umask``, folders ``0o777 & ~umask`` (no file
    libtrad writes is executable); links are left alone (what they point at is not libtrad's to change).
    """
    mask = current_umask()
    for entry in [path, *path.rglob("*")] if path.is_dir() and not path.is_symlink() else [path]:
        if not entry.is_symlink():
            os.chmod(entry, (0o777 if entry.is_dir() else 0o666) & ~mask)


def _new_staging(out: Path, purpose: str, *, content: bool = True) -> Path:
    """A fresh staging folder ``.OUT.<purpose>-<pid>-…`` beside ``out``, marked as libtrad's.

    Returns its ``content/`` folder (where the new output is written), or the staging folder itself
    when ``content`` is False (the caller moves a folder in as ``content``).
    """
    folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.{purpose}-{os.getpid()}-", dir=out.parent))
    _write_staging_marker(folder, out, purpose)
    if not content:
        return folder
    (folder / STAGING_CONTENT).mkdir()
    return folder / STAGING_CONTENT


def _write_staging_marker(folder: Path, out: Path, purpose: str) -> None:
    info = {"libtrad_staging": FORMAT, "output": str(out), "purpose": purpose, "pid": os.getpid()}
    (folder / STAGING_MARKER).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _staging_info(folder: Path, out: Path, purpose: str) -> dict | None:
    """The staging marker when ``folder`` is libtrad's ``purpose`` staging folder for ``out``; else None."""
    path = folder / STAGING_MARKER
    if folder.is_symlink() or not folder.is_dir() or path.is_symlink() or not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if (
        not isinstance(info, dict)
        or info.get("libtrad_staging") != FORMAT
        or info.get("purpose") != purpose
        or not isinstance(info.get("output"), str)
        or Path(info["output"]).name != out.name
        or not isinstance(info.get("pid"), int)
    ):
        return None
    return info


def _close_staging(folder: Path) -> None:
    """Remove a staging folder whose work is done: its marker, then the folder if nothing else is left."""
    if not (folder / STAGING_MARKER).is_file():
        return
    if (folder / STAGING_CONTENT).is_dir():
        try:
            (folder / STAGING_CONTENT).rmdir()
        except OSError:
            return  # something is still in it (a user file _remove_listed could not put back): keep the mark
    (folder / STAGING_MARKER).unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass


def _discard_staging(folder: Path) -> None:
    """Delete a staging folder of this run that holds nothing but what libtrad wrote (a failed write)."""
    if (folder / STAGING_MARKER).is_file():
        shutil.rmtree(folder / STAGING_CONTENT, ignore_errors=True)
        _close_staging(folder)


def _carry_user_entries(old: Path, new: Path, listed: set[str]) -> None:
    """Move everything in ``old`` that libtrad did not write into ``new`` (refuse on a name clash)."""
    entries = _foreign_entries(old, listed)
    clashes = [rel for rel in entries if (new / rel).exists() or (new / rel).is_symlink()]
    if clashes:
        raise LibtradError(
            f"{old / clashes[0]}: a file libtrad did not write stands where the new build writes; "
            "move it away and run again (nothing was changed)"
        )
    for rel in entries:
        target = new / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(old / rel, target)


def _foreign_entries(folder: Path, listed: set[str]) -> list[str]:
    """Top-most entries under ``folder`` holding nothing libtrad wrote (a whole ``.git/`` is one entry)."""
    ours_dirs = {"/".join(rel.split("/")[:i]) for rel in listed for i in range(1, rel.count("/") + 1)}
    foreign = []

    def visit(directory: Path, prefix: str) -> None:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            rel = prefix + entry.name
            if rel == MARKER or rel in listed:
                continue
            if entry.is_dir(follow_symlinks=False) and rel in ours_dirs:
                visit(Path(entry.path), rel + "/")
            else:
                foreign.append(rel)

    visit(folder, "")
    return foreign


def _remove_listed(folder: Path, home: Path | None) -> None:
    """Delete libtrad's files from a retired folder (a staging folder's ``content``); move anything else
    back to ``home``. What cannot go back stays, and so does the marker: a later run tries again and
    never mistakes the folder for one holding only libtrad's files."""
    marker = read_marker(folder)
    if marker is None:
        # Killed before the marker was written (only what this run wrote is here), or an earlier
        # pass already put every user file back (the marker goes last, only then).
        shutil.rmtree(folder, ignore_errors=True)
        return
    listed = set(marker["files"])
    kept = []
    for rel in _foreign_entries(folder, listed):
        target = None if home is None else home / rel
        if target is not None and home.is_dir() and not target.exists() and not target.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(folder / rel, target)
        else:
            kept.append(rel)
    for rel in listed:
        path = folder / rel
        if path.is_file() or path.is_symlink():
            path.unlink()
    if kept:
        return
    (folder / MARKER).unlink(missing_ok=True)
    for dirpath, _, _ in sorted(os.walk(folder), key=lambda t: -len(t[0])):
        try:
            os.rmdir(dirpath)  # only empty folders go
        except OSError:
            pass


def _recover_stale(out: Path) -> None:
    """Clean the staging folders of dead libtrad runs writing ``out``, returning user files to it.

    Only folders carrying libtrad's staging marker for ``out`` (written by a process no longer
    alive) are touched; a folder that merely has such a name is left as it is. ``old`` folders go
    first: a run killed between its two renames gets the previous output back before the new one's
    staging folder returns the user files carried into it.
    """
    for purpose in ("old", "partial"):
        prefix = f".{out.name}.{purpose}-"
        for stale in sorted(out.parent.glob(f"{glob.escape(prefix)}*")):
            info = _staging_info(stale, out, purpose)
            if info is None or _alive(info["pid"]):
                continue
            content = stale / STAGING_CONTENT
            if content.is_dir() and not content.is_symlink():
                if purpose == "old" and not out.exists() and not out.is_symlink():
                    content.rename(out)
                else:
                    _remove_listed(content, out)
            _close_staging(stale)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _walk_files(folder: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in filenames:
            yield Path(dirpath) / name
