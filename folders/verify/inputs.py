"""The check every command runs on a folder libtrad wrote before it reads it (an input, not ``libtrad verify``).

Why: a benchmark number computed from a bit-flipped shard, or an ``embeddings.json`` edited to credit
another encoder, is worse than none. Reading a folder therefore starts with its own marker: every
file it lists against its SHA-256, and every data file the reader will use must be listed.

* libtrad's folder, intact -> used (recorded ``verified: true``);
* libtrad's folder, a file differs -> one :class:`~libtrad.core.errors.LibtradError` naming the file (exit 2),
  unless the user asked for ``--no-verify``: then a note, and the record says what differed;
* a folder without libtrad's marker (a plain Parquet folder, someone else's export) -> used, with a
  note that it could not be verified (recorded ``verified: false``).

Only checksums and presence: the cheap part of :func:`libtrad.folders.verify.verify_folder` (no Parquet
row groups are read here; the readers themselves refuse what does not parse).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from libtrad.core.console import note
from libtrad.core.errors import LibtradError
from libtrad.core.paths import exists, is_dir
from libtrad.folders.checksums import check_listed
from libtrad.folders.marker import MARKER, marker_path_problems, read_marker

from .core import scan_entries

DATA_SUFFIXES = (".parquet", ".json", ".safetensors")  # what the readers read: unlisted ones are refused


def libtrad_root(path: Path) -> Path | None:
    """The libtrad folder ``path`` is (or, for a file or a sub-folder, lies in); None when there is none."""
    path = path.expanduser().resolve()
    for folder in [path, *path.parents] if is_dir(path) else list(path.parents):
        if exists(folder / MARKER) or (folder / MARKER).is_symlink():
            return folder
    return None


def folder_problems(
    root: Path,
    kinds: Iterable[str] | None = None,
    relpaths: Iterable[str] | None = None,
    known: Mapping[str, str] | None = None,
) -> tuple[str | None, list[str]]:
    """(the marker's kind, every problem of ``root``'s marker and listed files); [] when intact.

    ``relpaths``: check only these files (each must be listed) — what a reader of part of a big
    folder (one config of a dataset) reads; otherwise every listed file, and unlisted data files.
    ``known``: digests the caller already computed (see :func:`~libtrad.folders.checksums.check_listed`).
    """
    marker = read_marker(root, strict=True)
    if marker is None:
        return None, [f"{root}: not a libtrad folder (no {MARKER})"]
    kinds = tuple(kinds or ())
    if kinds and marker["kind"] not in kinds:
        return marker["kind"], [f"{root}: is a libtrad {marker['kind']} folder, not {' or '.join(kinds)}"]
    listed = marker["files"]
    problems = marker_path_problems(root, listed)
    if problems:
        return marker["kind"], problems
    if relpaths is not None:
        return marker["kind"], [p for _, p in check_listed(root, listed, sorted(set(relpaths)), known=known) if p]
    problems += [p for _, p in check_listed(root, listed, known=known) if p]
    files, scan = scan_entries(root, listed)
    problems += scan
    problems += [
        f"{root / rel}: not listed in {root / MARKER} (not written by libtrad); move it out of the folder"
        for rel in files
        if rel not in listed and rel != MARKER and rel.endswith(DATA_SUFFIXES)
    ]
    return marker["kind"], problems


def check_input_folder(
    path: str | Path,
    option: str,
    *,
    kinds: Iterable[str] | None = None,
    no_verify: bool = False,
    relpaths: Iterable[str] | None = None,
    known: Mapping[str, str] | None = None,
) -> dict:
    """Check the folder an input ``path`` names before it is read; returns what to record about it.

    ``option`` names the input as the user gave it (``--embeddings``, ``RESULTS``). ``kinds``: the
    marker kinds this input may be (a wrong kind is refused even with ``no_verify``). ``relpaths``:
    only these files of the folder are read (paths relative to ``path``), so only they are checked.
    ``known``: SHA-256 digests of some of them (paths relative to ``path``) the caller has just
    computed, compared instead of reading those files a second time.
    """
    shown = Path(path).expanduser()
    root = libtrad_root(shown)
    if root is None:
        note(f"{option} {shown}: not a libtrad folder (no {MARKER}), so its files could not be verified; used as it is")
        return {"verified": False, "reason": f"no {MARKER}"}
    below = shown.resolve().relative_to(root)
    if relpaths is not None:
        relpaths = [(below / rel).as_posix() for rel in relpaths]
    known = {(below / rel).as_posix(): digest for rel, digest in (known or {}).items()}
    kind, problems = folder_problems(root, kinds, relpaths, known)
    if kinds and kind not in tuple(kinds):
        raise LibtradError(f"{option} {shown}: {problems[0].split(': ', 1)[1]}")
    if not problems:
        return {"verified": True}
    if not no_verify:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise LibtradError(
            f"{problems[0]}{more}; {option} {shown} is not what libtrad wrote — rebuild it, "
            "or pass --no-verify to use it anyway"
        )
    note(
        f"{option} {shown}: used WITHOUT verification (--no-verify): {problems[0]}"
        + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
    )
    return {"verified": False, "reason": "--no-verify", "problems": problems}
