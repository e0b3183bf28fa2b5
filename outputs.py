"""Every folder libtrad writes: a kind marker, input/output checks and an atomic, user-safe replace.

Rules (the reliability issue): libtrad never deletes or overwrites what it did not write.

* Every folder libtrad writes carries ``.libtrad.json``: its kind (``dataset``, ``model``,
  ``results`` (an evaluation's), ``leaderboard``, ``synthetic``, ``raw`` (downloaded), ``embeddings``)
  and the SHA-256 of every file libtrad wrote in it.
  The marker is deterministic (sorted, no timestamps) and is published with the folder, so a git
  clone of a published export is still recognised as libtrad's.
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
"""

from __future__ import annotations

import ctypes
import glob
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from libtrad.core.errors import LibtradError, exception_reason
from libtrad.hub_cache import is_regular_file, snapshot_repo

MARKER = ".libtrad.json"
KINDS = ("dataset", "model", "results", "synthetic", "raw", "embeddings", "leaderboard")
# Leaderboards written before they had a kind of their own were marked ``results``; they are
# recognised by their files (and never mistaken for an evaluation's results, which have results.json).
_LEGACY_LEADERBOARD = {"leaderboard.md", "leaderboard.csv", "leaderboard.png"}
_FORMAT = 1


# ----------------------------------------------------------------------------- the marker
def read_marker(folder: str | Path) -> dict | None:
    """The folder's marker (``{"kind", "files", ...}``), None when there is none; a broken one is an error."""
    path = Path(folder) / MARKER
    if not is_regular_file(path):  # a link is no marker, unless a Hub cache snapshot's (libtrad.hub_cache)
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
    if not isinstance(data, dict) or data.get("kind") not in KINDS or not isinstance(files, dict) \
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise LibtradError(f"{where}: not a valid libtrad marker (expected kind and files)")
    if data["kind"] == "results" and set(files) == _LEGACY_LEADERBOARD:
        data = {**data, "kind": "leaderboard"}
    return data


def marker_kind(folder: str | Path) -> str | None:
    marker = read_marker(folder)
    return None if marker is None else marker["kind"]


def sha256_file(path: str | Path) -> str:
    sha = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(4 * 2**20):
            sha.update(chunk)
    return sha.hexdigest()


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


def marker_record(kind: str, files: Mapping[str, str]) -> dict:
    """The marker of a ``kind`` folder holding ``files`` (relpath -> SHA-256): the one format, written
    by :func:`write_marker` here and by :mod:`libtrad.storage` on an object store."""
    from libtrad.core.version import __version__

    if kind not in KINDS:
        raise ValueError(f"unknown folder kind {kind!r}")
    return {"libtrad_folder": _FORMAT, "kind": kind, "libtrad_version": __version__, "files": dict(sorted(files.items()))}


def verify_files(folder: str | Path, relpaths=None, *, what: str = "") -> None:
    """Check files against the marker's SHA-256 (all listed files, or ``relpaths``); name the first bad one."""
    folder = Path(folder)
    marker = read_marker(folder)
    if marker is None:
        raise LibtradError(f"{what or folder}: not a libtrad folder (no {MARKER})")
    listed = marker["files"]
    for rel in sorted(listed if relpaths is None else relpaths):
        path = folder / rel
        if rel not in listed:
            raise LibtradError(f"{path}: not listed in {folder / MARKER}")
        if not is_regular_file(path):
            raise LibtradError(f"{path}: missing or not a regular file (listed in {MARKER})")
        try:
            digest = sha256_file(path)
        except OSError as exc:
            raise LibtradError(f"{path}: unreadable ({exception_reason(exc)})") from None
        if digest != listed[rel]:
            raise LibtradError(f"{path}: corrupted (SHA-256 differs from {MARKER}); rebuild or re-download it")


# ----------------------------------------------------------------------------- checks
# ``s3://b/x`` as given, or as ``pathlib`` (click's Path type) folds it: ``s3:/b/x``.
_URL_LIKE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/")


def _refuse_url(output, option: str) -> None:
    """An output given as a URL is refused (one line) rather than written to a local folder named ``s3:``.

    Only ``libtrad embed`` writes to object stores (:mod:`libtrad.storage`); every other output is a
    local folder (``file://`` URLs are turned into paths by the commands that take them)."""
    match = _URL_LIKE.match(str(output))
    if match:
        shown = str(output) if "://" in str(output) else str(output).replace(":/", "://", 1)
        raise LibtradError(f"{option} {shown}: is a URL; this command writes a local folder (only libtrad embed "
                           f"writes to {match.group(1)}:// stores): give a local path, then copy it there")


def check_output(output: str | Path, kind: str, *, option: str = "--output",
                 inputs: Mapping[str, str | Path | None] | None = None) -> Path:
    """Resolve ``output`` and refuse it (one line) unless libtrad may write a ``kind`` folder there.

    Refused: a file; a non-empty folder that is not libtrad's folder of the same kind; an output
    that is, contains or lies inside an input (``inputs`` maps an option name to its path);
    a place that cannot be written. Nothing is created.
    """
    _refuse_url(output, option)
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
        raise LibtradError(f"{option} {out}: lies in a Hugging Face Hub cache snapshot (huggingface_hub's "
                           "files); choose an output outside the cache")
    if out.is_dir() and any(out.iterdir()):
        found = marker_kind(out)
        if found is None:
            raise LibtradError(f"{option} {out}: exists, is not empty and is not a libtrad folder (no {MARKER}); "
                               "refusing to replace it: choose a new or empty folder")
        if found != kind:
            raise LibtradError(f"{option} {out}: is a libtrad {found} folder, not a {kind} folder; refusing to replace it")
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
STAGING_MARKER = ".libtrad-staging.json"
_CONTENT = "content"  # the folder inside a staging folder that becomes (or was) the output
_LOCK_FORMAT = 1


@contextmanager
def atomic_output(output: str | Path, kind: str, *, option: str = "--output",
                  inputs: Mapping[str, str | Path | None] | None = None,
                  checksums: Mapping[str, str] | None = None, staging: Path | None = None) -> Iterator[Path]:
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
        write_marker(tmp, kind, checksums)
        os.chmod(tmp, 0o755)
        check_output(out, kind, option=option, inputs=inputs)  # the folder may have changed meanwhile
        old_marker = read_marker(out) if out.exists() else None
    except BaseException:
        if staging is None:
            _discard_staging(tmp.parent)  # nothing but libtrad's files is in it yet
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
        out.rename(old / _CONTENT)
        tmp.rename(out)
        _remove_listed(old / _CONTENT, out)
        _close_staging(old)
    _close_staging(tmp.parent)


def resumable_staging(output: str | Path, key: str) -> Path:
    """The staging folder a resumable job keeps for ``output`` and the job identity ``key``.

    Same key -> same folder, so a re-run after a crash finds the finished parts. Staging folders of
    other keys for the same output (a changed model or dataset) are libtrad's alone and removed —
    only those carrying libtrad's staging marker. A folder of the exact name that libtrad did not
    make is refused, never used or removed. The caller holds :func:`output_lock` while using it.
    """
    out = Path(output).expanduser().resolve()
    prefix = f".{out.name}.resume-"
    folder = out.parent / f"{prefix}{key}"
    for stale in out.parent.glob(f"{glob.escape(prefix)}*"):
        if stale.name != folder.name and _staging_info(stale, out, "resume") is not None:
            shutil.rmtree(stale, ignore_errors=True)
    if folder.exists() or folder.is_symlink():
        if _staging_info(folder, out, "resume") is None:
            raise LibtradError(f"{folder}: exists and was not made by libtrad (no {STAGING_MARKER} in it), but libtrad "
                               f"keeps the resumable work for {out} under that name; move or rename it and run again")
    else:
        folder.mkdir(parents=True)
        _write_staging_marker(folder, out, "resume")
    (folder / _CONTENT).mkdir(exist_ok=True)
    return folder / _CONTENT


@contextmanager
def output_lock(output: str | Path, option: str = "--output") -> Iterator[None]:
    """One libtrad job per output at a time (an advisory lock on the file ``.OUT.lock`` beside it).

    The lock file is libtrad's only when it holds libtrad's lock text (it is created with it, in one
    step); a file of that name that libtrad did not write is refused and left as it is. It is removed
    afterwards only while it is still the file this job locked.
    """
    import fcntl

    out = Path(output).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = out.parent / f".{out.name}.lock"
    for _ in range(100):
        fd = _open_lock(lock, out)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LibtradError(f"{option} {out}: another libtrad job is writing it now; wait for it to finish") from None
        if _same_file(fd, lock):
            break
        os.close(fd)  # the job before us removed that file after we opened it: lock the current one
    else:
        raise LibtradError(f"{lock}: keeps being replaced while libtrad locks it; is another program writing there?")
    try:
        yield
    finally:
        if _same_file(fd, lock):
            lock.unlink(missing_ok=True)  # still locked by us: nobody else holds this file
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _lock_text(out: Path) -> bytes:
    return (json.dumps({"libtrad_lock": _LOCK_FORMAT, "output": str(out)}, sort_keys=True) + "\n").encode()


def _is_lock_text(data: bytes, out: Path) -> bool:
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(parsed, dict) and set(parsed) == {"libtrad_lock", "output"} \
        and parsed["libtrad_lock"] == _LOCK_FORMAT and isinstance(parsed["output"], str) \
        and Path(parsed["output"]).name == out.name


def _open_lock(lock: Path, out: Path) -> int:
    """A descriptor of libtrad's lock file for ``out`` (created with its text if missing); refuses anything else."""
    flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    not_ours = (f"{lock}: exists and was not written by libtrad, but libtrad uses that name to lock {out}; "
                "move or rename it and run again")
    for _ in range(100):
        try:
            fd = os.open(lock, flags)
        except FileNotFoundError:
            _create_lock(lock, out)
            continue
        except OSError as exc:  # a link (ELOOP), a folder (EISDIR), unreadable
            if lock.is_symlink() or lock.is_dir():
                raise LibtradError(not_ours) from None
            raise LibtradError(f"{lock}: cannot open libtrad's lock file ({exception_reason(exc)})") from None
        if stat.S_ISREG(os.fstat(fd).st_mode) and _is_lock_text(os.pread(fd, 4096, 0), out):
            return fd
        os.close(fd)
        raise LibtradError(not_ours)
    raise LibtradError(f"{lock}: appears and vanishes while libtrad opens it; is another program writing there?")


def _create_lock(lock: Path, out: Path) -> None:
    """Create the lock file with its text in one step (a hard link of a finished file), so no job sees it empty."""
    fd, scratch = tempfile.mkstemp(prefix=f".{out.name}.lock-new-", dir=lock.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(_lock_text(out))
        try:
            os.link(scratch, lock)
        except FileExistsError:
            pass  # another job created it first: use theirs
        except OSError:  # a file system without hard links: exclusive create, then the text
            try:
                with open(lock, "xb") as handle:
                    handle.write(_lock_text(out))
            except FileExistsError:
                pass
    finally:
        os.unlink(scratch)


def _same_file(fd: int, path: Path) -> bool:
    try:
        here = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)


def _new_staging(out: Path, purpose: str, *, content: bool = True) -> Path:
    """A fresh staging folder ``.OUT.<purpose>-<pid>-…`` beside ``out``, marked as libtrad's.

    Returns its ``content/`` folder (where the new output is written), or the staging folder itself
    when ``content`` is False (the caller moves a folder in as ``content``).
    """
    folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.{purpose}-{os.getpid()}-", dir=out.parent))
    _write_staging_marker(folder, out, purpose)
    if not content:
        return folder
    (folder / _CONTENT).mkdir()
    return folder / _CONTENT


def _write_staging_marker(folder: Path, out: Path, purpose: str) -> None:
    info = {"libtrad_staging": _FORMAT, "output": str(out), "purpose": purpose, "pid": os.getpid()}
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
    if not isinstance(info, dict) or info.get("libtrad_staging") != _FORMAT or info.get("purpose") != purpose \
            or not isinstance(info.get("output"), str) or Path(info["output"]).name != out.name \
            or not isinstance(info.get("pid"), int):
        return None
    return info


def _close_staging(folder: Path) -> None:
    """Remove a staging folder whose work is done: its marker, then the folder if nothing else is left."""
    if not (folder / STAGING_MARKER).is_file():
        return
    if (folder / _CONTENT).is_dir():
        try:
            (folder / _CONTENT).rmdir()
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
        shutil.rmtree(folder / _CONTENT, ignore_errors=True)
        _close_staging(folder)


def _carry_user_entries(old: Path, new: Path, listed: set[str]) -> None:
    """Move everything in ``old`` that libtrad did not write into ``new`` (refuse on a name clash)."""
    entries = _foreign_entries(old, listed)
    clashes = [rel for rel in entries if (new / rel).exists() or (new / rel).is_symlink()]
    if clashes:
        raise LibtradError(f"{old / clashes[0]}: a file libtrad did not write stands where the new build writes; "
                           "move it away and run again (nothing was changed)")
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
            content = stale / _CONTENT
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
