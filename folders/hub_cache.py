"""The one definition of a Hugging Face Hub cache snapshot, and of the links libtrad accepts in it.

Why: every Hub download (``snapshot_download``, ``hf download``, ``load_dataset`` of a Hub id)
lands in huggingface_hub's cache, where a snapshot's files are not files but relative symbolic
links into the same cache repository's content-addressed ``blobs/``::

    <cache>/datasets--ORG--NAME/            (or models--ORG--NAME, models--NAME)
        blobs/<hash>                         the bytes, one regular file per distinct content
        refs/main                            the commit a branch points at
        snapshots/<commit>/README.md  ->  ../../blobs/<hash>
        snapshots/<commit>/data/x.parquet -> ../../../blobs/<hash>

libtrad refuses links in its inputs (a link can make a checked folder read a file that is not
in it), so without this module every Hub download would be refused. This module is the single
exception, and it is narrow: a link is accepted only when it lies in
``<repo>/snapshots/<commit>/…`` and its target, taken *without following any link out of the
repo*, is a regular file directly in that same repo's ``blobs/`` — no other repo's blob, no
link chain, no blob folder that is itself a link, no link outside a ``snapshots/`` folder. Such a
link is then treated as the regular file it names: its bytes (the blob's) are what checksums
and readers see. Anything else keeps the refusal and the message it had before.

Nothing here opens a file or imports huggingface_hub: only ``lstat``/``readlink``/``realpath``.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

# A cache repo folder: <type>s--<name parts joined by -->; a name without an owner (models--gpt2) too.
_REPO_NAME = re.compile(r"^(models|datasets|spaces)--[^/]+$")
SNAPSHOTS = "snapshots"
BLOBS = "blobs"


def snapshot_repo(path: str | Path) -> tuple[Path, Path] | None:
    """``(repo, snapshot)`` when ``path`` (not resolved itself: it may be a link) lies in a cache
    snapshot, i.e. below ``<repo>/snapshots/<commit>/`` of a ``models--…``/``datasets--…`` folder
    that has a ``blobs/`` folder; None otherwise. The folders above ``path`` are resolved."""
    path = Path(path)
    try:
        parent = Path(os.path.realpath(path.parent))
    except (OSError, ValueError):
        return None
    chain = [parent, *parent.parents]
    for i, folder in enumerate(chain):
        if folder.name == SNAPSHOTS and i > 0 and _REPO_NAME.match(folder.parent.name):
            repo = folder.parent
            if not os.path.isdir(repo / BLOBS):
                return None
            return repo, chain[i - 1]
    return None


def blob_of(path: str | Path) -> Path | None:
    """The blob an accepted snapshot link ``path`` stands for; None when ``path`` is not one.

    Accepted: ``path`` is a symbolic link inside ``<repo>/snapshots/<commit>/``, and its target —
    joined to the link's (real) folder and normalised, never followed — is ``<repo>/blobs/<name>``
    of the same repo, has no link anywhere on its way (its real path is that very path) and is a
    regular file.
    """
    path = Path(path)
    try:
        if not stat.S_ISLNK(os.lstat(path).st_mode):
            return None
    except OSError:
        return None
    found = snapshot_repo(path)
    if found is None:
        return None
    repo, _ = found
    try:
        target = os.readlink(path)
        here = os.path.realpath(path.parent)
        lexical = os.path.normpath(os.path.join(here, target))
        if Path(lexical).parent != repo / BLOBS or os.path.realpath(lexical) != lexical:
            return None  # another repo's blob, anything else, or a link on the way (a chain)
        if not stat.S_ISREG(os.lstat(lexical).st_mode):
            return None
    except (OSError, ValueError):
        return None
    return Path(lexical)


def lstat_entry(path: str | Path) -> os.stat_result:
    """``os.lstat(path)``, except that an accepted snapshot link reports its blob's ``lstat`` (a
    regular file): what every "no links, regular files only" check calls instead of ``lstat``."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        blob = blob_of(path)
        if blob is not None:
            return os.lstat(blob)
    return info


def is_regular_file(path: str | Path) -> bool:
    """A regular file that is not a link, or an accepted snapshot link (see :func:`blob_of`)."""
    try:
        return stat.S_ISREG(lstat_entry(path).st_mode)
    except OSError:
        return False


def file_type(mode: int) -> str:
    """What an ``lstat`` mode that is not a regular file is, in words (for the one-line refusals)."""
    for test, name in (
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISDIR, "folder"),
        (stat.S_ISLNK, "symbolic link"),
    ):
        if test(mode):
            return name
    return "special file"
