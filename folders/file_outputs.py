"""Outputs libtrad writes as one file (``export-xares``'s encoder ``.py``; a submission CSV), recognised
the way its folders are: by a record libtrad wrote, never by what the file says about itself.

A folder is libtrad's when its ``.libtrad.json`` marker says so and its files match the checksums the
marker lists (:mod:`.marker`, :mod:`.outputs`). A single file cannot hold a marker, and its first line
proves nothing: a user's hand-edited copy starts with the same line. So each one gets a *record*
beside it, written at the same time — ``.NAME.libtrad.json`` (hidden, in the same folder):
``{"libtrad_file": KIND, "sha256": ..., "format": 1}``. The file is libtrad's to replace only while

* the record is there and names the same kind, and
* the file's bytes still hash to the recorded SHA-256 (an edited file is the user's now).

Anything else — no record (a file from elsewhere, or one whose record was removed), another kind, an
edit — is refused in one line and left byte-identical. Writing replaces the file atomically (temporary
file, rename) and records its hash *before* the rename, keeping the previous hash as ``replacing`` until
the rename is done, so a crash between the two leaves a file the next run still recognises.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from libtrad.core.errors import LibtradError, write_failed
from libtrad.folders.checksums import sha256_file
from libtrad.folders.outputs import follow_umask, refuse_url

FORMAT = 1
RECORD_SUFFIX = ".libtrad.json"


def record_path(path: Path) -> Path:
    """Where the record of the file ``path`` lies: ``.NAME.libtrad.json`` beside it."""
    return path.with_name(f".{path.name}{RECORD_SUFFIX}")


def check_file_output(output, kind: str, *, option: str = "--output") -> Path:
    """``output`` as a path libtrad may write a ``kind`` file to, or one line saying why not: a URL (only
    ``embed`` writes to stores), something that is not a regular file, a file libtrad did not write (or
    one edited since), a missing or unwritable folder. Nothing is created."""
    refuse_url(output, option, "file")
    path = Path(output).expanduser()
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise LibtradError(f"{option} {path}: exists and is not a regular file; refusing to replace it")
    if path.exists():
        problem = ownership_problem(path, kind)
        if problem is not None:
            raise LibtradError(
                f"{option} {path}: exists and {problem}; libtrad never overwrites a file it did not write "
                "(choose another path, or remove the file yourself)"
            )
    if not path.parent.is_dir():
        raise LibtradError(f"{option} {path}: its folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise LibtradError(f"{option} {path}: its folder {path.parent} is not writable")
    return path


def ownership_problem(path: Path, kind: str) -> str | None:
    """None when ``path`` is the ``kind`` file libtrad wrote there, unchanged; else what is wrong."""
    try:
        record = json.loads(record_path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"was not written by libtrad (no record {record_path(path).name} beside it)"
    except (OSError, ValueError) as exc:
        return f"its record {record_path(path).name} cannot be read ({type(exc).__name__})"
    if not isinstance(record, dict) or record.get("libtrad_file") != kind:
        found = record.get("libtrad_file") if isinstance(record, dict) else None
        return f"its record {record_path(path).name} is of a {found or 'unknown'} file, not a {kind} file"
    if sha256_file(path) not in {record.get("sha256"), record.get("replacing")}:
        return "was changed since libtrad wrote it (its bytes differ from the SHA-256 recorded then)"
    return None


def write_file_output(path: Path, kind: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and record it as libtrad's ``kind`` file (call
    :func:`check_file_output` first). The file gets the mode the user's umask gives new files."""
    path = Path(path)
    digest = hashlib.sha256(data).hexdigest()
    previous = sha256_file(path) if path.is_file() else None
    try:
        _write_record(path, {"libtrad_file": kind, "sha256": digest, "format": FORMAT, "replacing": previous})
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            follow_umask(Path(temporary))
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _write_record(path, {"libtrad_file": kind, "sha256": digest, "format": FORMAT})
    except OSError as exc:  # a full disk, a file-size limit: the file being written, named (never half of it)
        raise write_failed(path, exc) from None


def _write_record(path: Path, record: dict) -> None:
    target = record_path(path)
    fd, temporary = tempfile.mkstemp(prefix=f"{target.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps({k: v for k, v in record.items() if v is not None}, sort_keys=True) + "\n")
        follow_umask(Path(temporary))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
