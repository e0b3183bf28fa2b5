"""Every folder libtrad writes: a kind marker, input/output checks and an atomic, user-safe replace.

Rules (the reliability issue): libtrad never deletes or overwrites what it did not write.

* Every folder libtrad writes carries ``.libtrad.json``: its kind (``dataset``, ``model``,
  ``results``, ``synthetic``, ``raw`` (downloaded), ``embeddings``) and the SHA-256 of every file libtrad wrote in it.
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
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from libtrad.errors import LibtradError, exception_reason

MARKER = ".libtrad.json"
KINDS = ("dataset", "model", "results", "synthetic", "raw", "embeddings")
_FORMAT = 1


# ----------------------------------------------------------------------------- the marker
def read_marker(folder: str | Path) -> dict | None:
    """The folder's marker (``{"kind", "files", ...}``), None when there is none; a broken one is an error."""
    path = Path(folder) / MARKER
    if not path.is_file() or path.is_symlink():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LibtradError(f"{path}: unreadable libtrad marker ({exception_reason(exc)})") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("kind") not in KINDS or not isinstance(files, dict) \
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise LibtradError(f"{path}: not a valid libtrad marker (expected kind and files)")
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
    from libtrad import __version__

    if kind not in KINDS:
        raise ValueError(f"unknown folder kind {kind!r}")
    files = {}
    for path in sorted(_walk_files(folder)):
        rel = path.relative_to(folder).as_posix()
        if rel == MARKER:
            continue
        files[rel] = (known or {}).get(rel) or sha256_file(path)
    marker = {"libtrad_folder": _FORMAT, "kind": kind, "libtrad_version": __version__, "files": files}
    (folder / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return marker


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
        if path.is_symlink() or not path.is_file():
            raise LibtradError(f"{path}: missing or not a regular file (listed in {MARKER})")
        try:
            digest = sha256_file(path)
        except OSError as exc:
            raise LibtradError(f"{path}: unreadable ({exception_reason(exc)})") from None
        if digest != listed[rel]:
            raise LibtradError(f"{path}: corrupted (SHA-256 differs from {MARKER}); rebuild or re-download it")


# ----------------------------------------------------------------------------- checks
def check_output(output: str | Path, kind: str, *, option: str = "--output",
                 inputs: Mapping[str, str | Path | None] | None = None) -> Path:
    """Resolve ``output`` and refuse it (one line) unless libtrad may write a ``kind`` folder there.

    Refused: a file; a non-empty folder that is not libtrad's folder of the same kind; an output
    that is, contains or lies inside an input (``inputs`` maps an option name to its path);
    a place that cannot be written. Nothing is created.
    """
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
    tmp = staging if staging is not None else Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-{os.getpid()}-",
                                                                    dir=out.parent))
    try:
        yield tmp
        write_marker(tmp, kind, checksums)
        os.chmod(tmp, 0o755)
        check_output(out, kind, option=option, inputs=inputs)  # the folder may have changed meanwhile
    except BaseException:
        if staging is None:
            shutil.rmtree(tmp, ignore_errors=True)  # only libtrad's files are in it yet
        raise
    if not out.exists():
        tmp.rename(out)
        return
    old_marker = read_marker(out)
    if old_marker is None:  # an empty folder
        out.rmdir()
        tmp.rename(out)
        return
    _carry_user_entries(out, tmp, set(old_marker["files"]))
    if not _exchange(tmp, out):
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
        tmp.rename(out)
        tmp = old
    _remove_listed(tmp, out)


def resumable_staging(output: str | Path, key: str) -> Path:
    """The staging folder a resumable job keeps for ``output`` and the job identity ``key``.

    Same key -> same folder, so a re-run after a crash finds the finished parts. Staging folders of
    other keys for the same output (a changed model or dataset) are libtrad's alone and removed.
    The caller holds :func:`output_lock` while using it.
    """
    out = Path(output).expanduser().resolve()
    prefix = f".{out.name}.resume-"
    for stale in out.parent.glob(f"{prefix}*"):
        if stale.name != f"{prefix}{key}" and stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
    folder = out.parent / f"{prefix}{key}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def output_lock(output: str | Path, option: str = "--output") -> Iterator[None]:
    """One libtrad job per output at a time (an advisory lock file beside the output)."""
    import fcntl

    out = Path(output).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = out.parent / f".{out.name}.lock"
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LibtradError(f"{option} {out}: another libtrad job is writing it now; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            lock.unlink(missing_ok=True)


def _carry_user_entries(old: Path, new: Path, listed: set[str]) -> None:
    """Move everything in ``old`` that libtrad did not write into ``new`` (refuse on a name clash)."""
    entries = _foreign_entries(old, listed)
    clashes = [rel for rel in entries if (new / rel).exists() or (new / rel).is_symlink()]
    if clashes:
        shutil.rmtree(new, ignore_errors=True)
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
    """Delete libtrad's files from a retired folder; move anything else back to ``home`` (or keep it)."""
    marker = read_marker(folder)
    if marker is None:
        shutil.rmtree(folder, ignore_errors=True)  # a staging folder that never got its marker: all ours
        return
    listed = set(marker["files"])
    for rel in _foreign_entries(folder, listed):
        target = None if home is None else home / rel
        if target is not None and home.is_dir() and not target.exists() and not target.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(folder / rel, target)
    for rel in listed:
        path = folder / rel
        if path.is_file() or path.is_symlink():
            path.unlink()
    (folder / MARKER).unlink(missing_ok=True)
    for dirpath, _, _ in sorted(os.walk(folder), key=lambda t: -len(t[0])):
        try:
            os.rmdir(dirpath)  # only empty folders go; anything left is a user's and stays
        except OSError:
            pass


def _recover_stale(out: Path) -> None:
    """Clean the staging folders of dead libtrad runs writing ``out``, returning user files to it."""
    for prefix in (f".{out.name}.partial-", f".{out.name}.old-"):
        for stale in out.parent.glob(f"{prefix}*"):
            pid = stale.name[len(prefix):].split("-")[0]
            if not stale.is_dir() or stale.is_symlink() or (pid.isdigit() and _alive(int(pid))):
                continue
            _remove_listed(stale, out)


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
