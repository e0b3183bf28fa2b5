"""Looking a user's path up without the lookup itself failing.

``pathlib.Path.exists()`` (Python 3.11) raises ``OSError: [Errno 36] File name too long`` for a name the
file system cannot even look up: a 5,000-character Hub id tried as a folder first ended in that line,
naming neither the option nor what the text was meant to be. These answer "not there" instead, so the
caller goes on to its own message (not a folder, nor a Hub id), which names the option and shows the
value shortened (:func:`libtrad.core.errors.shown`).
"""

from __future__ import annotations

import errno
import os
import stat

_UNLOOKABLE = {errno.ENAMETOOLONG, errno.ELOOP, errno.ENOENT, errno.ENOTDIR, errno.EBADF}


def exists(path) -> bool:
    """Whether ``path`` exists; False for a name that cannot be looked up (too long, a link loop)."""
    return _stat(path, os.stat) is not None


def is_dir(path) -> bool:
    found = _stat(path, os.stat)
    return found is not None and stat.S_ISDIR(found.st_mode)


def is_file(path) -> bool:
    found = _stat(path, os.stat)
    return found is not None and stat.S_ISREG(found.st_mode)


def _stat(path, how):
    try:
        return how(os.fspath(path))
    except OSError as exc:
        if exc.errno in _UNLOOKABLE:
            return None
        raise
    except ValueError:  # a NUL byte in the name
        return None
