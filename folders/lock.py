"""One libtrad job per output at a time: an advisory lock on ``.OUT.lock`` beside the output.

The lock file is recognised by what libtrad wrote into it (its lock text), never by its name: a
file of that name that libtrad did not write is refused and left byte-identical.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from libtrad.core.errors import LibtradError, exception_reason
from libtrad.folders.outputs import follow_umask

_LOCK_FORMAT = 1


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
            raise LibtradError(
                f"{option} {out}: another libtrad job is writing it now; wait for it to finish"
            ) from None
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
    return (
        isinstance(parsed, dict)
        and set(parsed) == {"libtrad_lock", "output"}
        and parsed["libtrad_lock"] == _LOCK_FORMAT
        and isinstance(parsed["output"], str)
        and Path(parsed["output"]).name == out.name
    )


def _open_lock(lock: Path, out: Path) -> int:
    """A descriptor of libtrad's lock file for ``out`` (created with its text if missing); refuses anything else."""
    flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    not_ours = (
        f"{lock}: exists and was not written by libtrad, but libtrad uses that name to lock {out}; "
        "move or rename it and run again"
    )
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
        follow_umask(Path(scratch))  # mkstemp's 0600 would lock the group sharing the folder out of it
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
