"""The publishers' own tables, shipped as data: CSV files in ``builders/fault/data/``, read here.

CWRU's record table (record number -> bearing end, fault, diameter, position, motor load, the
variables the file holds), MFPT's file table, Paderborn's bearing codes and XJTU-SY's bearings
are facts about the publishers' archives, not code: each lives in one CSV beside its sources
(``data/SOURCES.md``), where it can be read and checked row by row against the publisher's pages.
The corpus modules turn the rows into what their layouts need when they are imported.

A table file is plain CSV with one header line; lines starting with ``#`` are comments (what a
column means, where sources disagree and which value was chosen). A table that cannot be read,
or a row with a missing or extra field, is a broken installation, not a user's mistake: it raises
:class:`RuntimeError` naming the file and the line.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


@functools.cache
def read_table(name: str) -> tuple[dict[str, str], ...]:
    """The rows of ``data/<name>`` as dicts of text (header -> field, stripped), comments left out."""
    path = DATA_DIR / name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuntimeError(f"libtrad's packaged table {path} is unreadable ({exc})") from None
    numbered = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.startswith("#")
    ]
    if not numbered:
        raise RuntimeError(f"libtrad's packaged table {path} holds no header line")
    header = next(csv.reader([numbered[0][1]]))
    rows = []
    for number, fields in zip((n for n, _ in numbered[1:]), csv.reader(line for _, line in numbered[1:])):
        if len(fields) != len(header):
            raise RuntimeError(
                f"libtrad's packaged table {path} line {number}: {len(fields)} field(s), expected "
                f"{len(header)} ({', '.join(header)})"
            )
        rows.append({key: value.strip() for key, value in zip(header, fields)})
    return tuple(rows)


def optional_int(text: str) -> int | None:
    """A table field that is a whole number or empty."""
    return int(text) if text else None
