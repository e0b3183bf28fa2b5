"""Read an embeddings folder (``libtrad embed``'s output, or any folder of Parquet files like it).

What is accepted: one or more paths, each a Parquet file or a folder searched recursively for
``*.parquet`` (names starting with ``.`` are skipped, like libtrad's staging folders and marker).
Every file must hold the ``embedding`` column (a list of numbers, one fixed length for all rows
of all files) and the columns the suite needs; the other columns travel along. An
``embeddings.json`` beside the data is not needed and is not read: the Parquet files are the
data, whoever wrote them.

Why the checks are strict: a benchmark number computed from a silently dropped column, a ragged
or non-finite embedding is worse than no number, so each problem stops the run with one line
naming the file (and the row's ``file`` value where one row is at fault).

Rows are data too: a ``label`` column stored as a ``ClassLabel`` must hold values within its names,
and two rules keep a row from scoring itself (X-ARES kNN 0.00 on a folder alone, 0.72 with every row
doubled):

* **One row per path.** A row's key is its path in the dataset as the publisher defines it: the
  identity columns :data:`KEY_COLUMNS` present, the split among them (when one of them names the row
  in its group, :data:`PATH_COLUMNS`) — DCASE's
  ``<set>/<machine>/{train,test}/<file>``, a fault corpus's ``file`` (its path below the publisher's
  root), LiB-TRAD's ``experiment``/``segment``/``channel``; without any, the embedding itself. DCASE
  2020's ``train/normal_id_00_00000000.wav`` and ``test/normal_id_00_00000000.wav`` are two rows (two
  recordings); the same path twice is a folder given twice, refused.
* **One side per recording.** The leak that matters is the same recording on both sides of a split
  (train and test, reference and query), whatever its name: found by content, the ``sha256`` every
  libtrad export stores per row (DCASE, LiB-TRAD and the fault corpora; with ``channel`` where one
  file gives one row per microphone), compared across the sides (:data:`SIDE_COLUMNS`: ``split``,
  and the fault corpora's ``fold``/``subset``). A folder whose rows are all on one side (LOOCV,
  k-fold: every row is tested against the others) may not hold a recording twice at all. A recording
  twice on the *same* side of a folder with several sides is kept with a ``note:`` — a memory bank or
  a test part holding it twice does not score it against itself. Embeddings without a ``sha256``
  column (made elsewhere, or from a DCASE export older than the column) are compared by their
  embedding instead: bit-identical rows are the same recording through a deterministic encoder (an
  encoder that is not deterministic hides such a leak; one that maps different clips to the very same
  vector is reported as if they were one).

Both are refused with the first few rows named (one line); ``allow_duplicates`` keeps every row and
says how many repeat (``df.attrs["duplicate_rows"]``, ``df.attrs["leaked_rows"]``).

The embeddings become float32 (how ``libtrad embed`` stores them); :func:`embedding_matrix`
returns them as one 2-D array. The label names of a Hugging Face ``ClassLabel`` ``label``
column, when every file's schema metadata carries the same ones, are kept in
``df.attrs["label_names"]`` (a hint: the fault suite prefers explicit names).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from libtrad.core.console import note
from libtrad.core.errors import LibtradError, ParameterError, exception_reason, shown
from libtrad.core.paths import exists

EMBEDDING = "embedding"
# Columns that together say which recording/segment/channel a row is, as its path in the published tree
# (whichever are present). ``split`` is one: DCASE 2020's train/ and test/ reuse names for different
# recordings; the same recording on both sides is found by content (CONTENT_COLUMNS) instead.
KEY_COLUMNS = (
    "year",
    "set",
    "machine",
    "split",
    "section",
    "experiment",
    "subset",
    "recording",
    "file",
    "source_file",
    "segment",
    "cut",
    "channel",
)
# The key columns that name a row within the others (which only group rows: a split, a machine): without
# one of them there is no path, and the embedding itself is the key.
PATH_COLUMNS = ("file", "source_file", "segment", "cut")
# A row's content: the SHA-256 of its publisher's file, and which part of the file it is where one
# file gives several rows (LiB-TRAD's 4-channel files: one row per microphone).
CONTENT_COLUMNS = ("sha256", "channel")
# What puts rows on different sides of an evaluation: the split, the fault corpora's folds and subsets.
SIDE_COLUMNS = ("split", "fold", "subset")


# ----------------------------------------------------------------------------- finding files
def parquet_files(path: str | Path) -> list[Path]:
    """The Parquet files of one ``--embeddings`` path (a file, or a folder searched recursively)."""
    root = Path(path).expanduser()
    if not exists(root):
        raise LibtradError(
            f"{shown(root, quote=False)}: no such file or folder (expected an embeddings folder of Parquet files)"
        )
    if root.is_file():
        if root.suffix != ".parquet":
            raise LibtradError(f"{root}: not a .parquet file (expected an embeddings folder or a Parquet file)")
        return [root]
    files = sorted(
        p
        for p in root.rglob("*.parquet")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise LibtradError(
            f"{root}: no .parquet files in this folder (expected EMB/data/**.parquet from libtrad embed)"
        )
    return files


# ----------------------------------------------------------------------------- one file
def embeddings_columns(paths: Sequence[str | Path]) -> set[str]:
    """Every column name of the Parquet files under ``paths`` (their footers only: nothing is read), so a
    command can tell what data the embeddings are of before it loads them."""
    return {name for path in paths for file in parquet_files(path) for name in _schema(file).names}


def _schema(file: Path):
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(file)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise LibtradError(f"{file}: not a readable Parquet file ({exception_reason(exc)})") from None


def _check_columns(file: Path, names: list[str], required: Sequence[str]) -> None:
    for column in [EMBEDDING, *required]:
        if column not in names:
            present = ", ".join(names) or "none"
            raise LibtradError(f"{file}: no column {column!r} (required); columns present: {present}")


def _read_table(file: Path, columns: list[str]):
    import pyarrow.parquet as pq

    try:
        return pq.read_table(file, columns=columns)
    except Exception as exc:
        raise LibtradError(f"{file}: not a readable Parquet file ({exception_reason(exc)})") from None


def _row_name(table, row: int) -> str:
    """How an error names a row: its ``file`` value when there is one, else its position."""
    if "file" in table.column_names:
        return f"row file={table.column('file')[row].as_py()!r}"
    return f"row {row}"


def _embedding_rows(file: Path, table) -> np.ndarray:
    """The ``embedding`` column as an (n, D) float32 array; ragged, null or non-finite rows refused."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table.column(EMBEDDING).combine_chunks() if table.num_rows else None
    if column is None:
        return np.zeros((0, 0), dtype=np.float32)
    kind = column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)) or not (
        pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)
    ):
        raise LibtradError(f"{file}: column 'embedding' is {kind}, expected a list of numbers (list<float32>)")
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise LibtradError(f"{file}: {_row_name(table, row)} has no embedding (null)")
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    if (lengths != lengths[0]).any() or lengths[0] == 0:
        row = int(np.flatnonzero(lengths != lengths[0])[0]) if lengths[0] else 0
        raise LibtradError(
            f"{file}: embeddings of unequal length ({_row_name(table, row)} has {lengths[row]}, "
            f"the first row {lengths[0]})"
        )
    values = column.flatten().to_numpy(zero_copy_only=False)
    with np.errstate(over="ignore"):  # a float64 beyond float32's range becomes inf, refused just below
        matrix = np.asarray(values, dtype=np.float32).reshape(len(lengths), int(lengths[0]))
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        raise LibtradError(
            f"{file}: {_row_name(table, int(np.flatnonzero(bad)[0]))} has a NaN or infinite "
            "embedding value (a float32 overflow counts)"
        )
    return matrix


def _check_labels(file: Path, table, names: tuple[str, ...] | None) -> None:
    """A ClassLabel ``label`` holds 0..len(names)-1 (``-1``, datasets' "no label", cannot be scored)."""
    import pyarrow as pa

    if not names or "label" not in table.column_names or not pa.types.is_integer(table.column("label").type):
        return
    labels = table.column("label").to_numpy(zero_copy_only=False)
    labels = np.asarray(labels, dtype=np.float64)  # nulls become NaN
    bad = ~((labels >= 0) & (labels < len(names)))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = "null" if np.isnan(labels[row]) else int(labels[row])
        raise LibtradError(
            f"{file}: {_row_name(table, row)} has label {value}, outside its ClassLabel's "
            f"{len(names)} names ({', '.join(names[:6])}{', ...' if len(names) > 6 else ''}); "
            f"{int(bad.sum())} row(s) like it"
        )


def _key_column(column: pd.Series) -> pd.Series:
    """A key column as hashable values (list cells, e.g. a segment's ``source_file`` list, as JSON text)."""
    if column.dtype != object or all(isinstance(v, str) or v is None for v in column):
        return column.reset_index(drop=True)
    return pd.Series([json.dumps(_plain(v), sort_keys=True, default=str) for v in column])


def check_duplicates(
    df: pd.DataFrame, matrix: np.ndarray, origins: list[tuple[Path, int]], allow_duplicates: bool
) -> tuple[int, int]:
    """Refuse rows that repeat a key, then rows that hold a recording already on another side (module
    docstring; the first few named, with their files), or with ``allow_duplicates`` keep them all and
    note how many. Returns (rows repeating an earlier key, rows repeating an earlier recording)."""
    keys = [c for c in KEY_COLUMNS if c in df.columns] if any(c in df.columns for c in PATH_COLUMNS) else []
    if keys:
        frame = pd.DataFrame({c: _key_column(df[c]) for c in keys})
        what = "/".join(keys)
    else:
        frame = pd.DataFrame({"embedding": [row.tobytes() for row in matrix]})
        what = "embedding (no path column such as file)"
    repeated = frame.duplicated(keep="first").to_numpy()
    count = int(repeated.sum())
    if count:
        first = frame.duplicated(keep=False).to_numpy()
        pairs = []
        for row in np.flatnonzero(repeated)[:3]:
            earlier = int(np.flatnonzero(first & (frame.eq(frame.iloc[row]).all(axis=1)).to_numpy())[0])
            pairs.append((earlier, row))
        shown = [
            f"{_key_text(df, keys, row)} ({_origin(origins, earlier)} and {_origin(origins, row)})"
            for earlier, row in pairs
        ]
        _refuse_or_note(
            count,
            f"repeat the key ({what}) of an earlier row",
            shown,
            allow_duplicates,
            "a row embedded twice lands on both sides of a split; give each folder once",
        )
    # Without a path and without a sha256 the embedding is both key and content: nothing more to compare.
    checkable = keys or "sha256" in df.columns
    leaked = _check_recordings(df, matrix, origins, keys, repeated, allow_duplicates) if checkable else 0
    return count, leaked


def _check_recordings(
    df: pd.DataFrame,
    matrix: np.ndarray,
    origins: list[tuple[Path, int]],
    keys: list[str],
    repeated: np.ndarray,
    allow_duplicates: bool,
) -> int:
    """The content rule (module docstring) over the rows whose key is their own (``~repeated``)."""
    content, what = _content_ids(df, matrix)
    content = np.where(repeated, -1, content)  # a repeated key is the key rule's (and the same recording)
    sides = [c for c in SIDE_COLUMNS if c in df.columns]
    side = (
        pd.DataFrame({c: _key_column(df[c]) for c in sides})
        .groupby(sides, sort=False, dropna=False)
        .ngroup()
        .to_numpy()
        if sides
        else np.zeros(len(df), dtype=np.int64)
    )
    one_side = len(np.unique(side)) == 1
    ids = pd.Series(content)
    candidates = (content >= 0) & ids.duplicated(keep=False).to_numpy()
    leaks, within = [], []  # (earlier row, row)
    for rows in ids[candidates].groupby(ids[candidates]).indices.values():
        rows = np.flatnonzero(candidates)[rows].tolist()  # positions in df, ascending
        first_on: dict[int, int] = {side[rows[0]]: rows[0]}  # side -> the recording's first row there
        for row in rows[1:]:
            other = next((r for s, r in first_on.items() if s != side[row]), None)
            if one_side or other is not None:
                leaks.append((rows[0] if other is None else other, row))
            else:
                within.append((rows[0], row))
            first_on.setdefault(side[row], row)

    def shown(pairs):
        return [
            f"{_key_text(df, keys, row)} ({_origin(origins, row)}) and {_key_text(df, keys, earlier)} "
            f"({_origin(origins, earlier)})"
            for earlier, row in pairs[:3]
        ]

    if within:
        note(
            f"{len(within)} row(s) hold the same recording ({what}) as another row on the same side of the split, "
            f"under another name; kept (a side holding a recording twice does not score it against itself): "
            f"e.g. {shown(within)[0]}"
        )
    if leaks:
        where = (
            "as another row, and every row here is on one side (each is tested against the others)"
            if one_side
            else "as a row on another side of the split"
        )
        _refuse_or_note(
            len(leaks),
            f"hold the same recording ({what}) {where}",
            shown(leaks),
            allow_duplicates,
            "a recording on both sides finds itself; take it out of one side",
        )
    return len(leaks)


def _content_ids(df: pd.DataFrame, matrix: np.ndarray) -> tuple[np.ndarray, str]:
    """A recording number per row (-1: unknown) and what it was computed from: the stored ``sha256``
    (and ``channel``), else the embedding's bytes."""
    if "sha256" in df.columns:
        parts = [c for c in CONTENT_COLUMNS if c in df.columns]
        frame = pd.DataFrame({c: _key_column(df[c]) for c in parts})
        ids = frame.groupby(parts, sort=False, dropna=False).ngroup().to_numpy()
        return np.where(frame["sha256"].isna().to_numpy(), -1, ids), "/".join(parts)
    digests = [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in matrix]
    return pd.factorize(pd.Series(digests))[0], "identical embeddings: no sha256 column to compare"


def _refuse_or_note(count: int, what: str, shown: list[str], allow_duplicates: bool, advice: str) -> None:
    """One ``error:`` line naming the first rows, or with ``allow_duplicates`` one ``note:`` line."""
    if allow_duplicates:
        note(f"{count} row(s) {what} and are all kept (--allow-duplicates); e.g. {shown[0]}")
        return
    raise LibtradError(
        f"{count} row(s) {what}: {'; '.join(shown)}{' ...' if count > len(shown) else ''} — "
        f"{advice}, or pass --allow-duplicates to keep them"
    )


def _key_text(df: pd.DataFrame, keys: list[str], row: int) -> str:
    """A row's key as ``column=value`` pairs (its position when there are no key columns)."""
    return ", ".join(f"{c}={_plain(df[c].iloc[row])!r}" for c in keys) if keys else f"row {row}"


def _plain(value):
    """A cell as a plain Python value (NumPy scalars and arrays -> int/str/list) for messages."""
    return value.tolist() if hasattr(value, "tolist") else value


def _origin(origins: list[tuple[Path, int]], row: int) -> str:
    """``file row i`` of a row of the concatenated frame (``origins``: each file and its first row)."""
    file, start = next((f, s) for f, s in reversed(origins) if s <= row)
    return f"{file} row {row - start}"


def _hf_label_names(schema) -> tuple[str, ...] | None:
    """A ``ClassLabel`` ``label``'s names from the ``huggingface`` schema metadata, when present."""
    raw = (schema.metadata or {}).get(b"huggingface")
    try:
        feature = json.loads(raw)["info"]["features"]["label"] if raw else None
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" and isinstance(feature.get("names"), list):
        return tuple(str(n) for n in feature["names"])
    return None


# ----------------------------------------------------------------------------- public
def load_embeddings(
    paths: Sequence[str | Path] | str | Path,
    required: Sequence[str],
    optional: Sequence[str] | None = None,
    *,
    allow_duplicates: bool = False,
) -> pd.DataFrame:
    """One DataFrame of every row of every Parquet file under ``paths`` (concatenated in path order).

    ``required`` columns must be in every file (``embedding`` always is); ``optional`` ones are
    read where present (``None``: read every column), and the key, content and side columns
    (:data:`KEY_COLUMNS`, :data:`CONTENT_COLUMNS`, :data:`SIDE_COLUMNS`) always are. The ``embedding``
    column holds one float32 row each (views of one matrix); use :func:`embedding_matrix` for the 2-D
    array. ``df.attrs["duplicate_rows"]`` / ``df.attrs["leaked_rows"]``: how many rows repeat an
    earlier key / an earlier recording on another side (only with ``allow_duplicates``; otherwise
    they are refused).
    """
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not paths:
        raise ParameterError("embeddings", [], "give at least one embeddings folder or Parquet file")
    frames, matrices, names, width, origins, rows = [], [], set(), None, [], 0
    for file in [f for p in paths for f in parquet_files(p)]:
        schema = _schema(file)
        present = list(schema.names)
        _check_columns(file, present, required)
        wanted = (
            present
            if optional is None
            else [
                c
                for c in present
                if c in {EMBEDDING, *required, *optional, *KEY_COLUMNS, *CONTENT_COLUMNS, *SIDE_COLUMNS}
            ]
        )
        table = _read_table(file, wanted)
        matrix = _embedding_rows(file, table)
        if table.num_rows == 0:
            continue
        _check_labels(file, table, _hf_label_names(schema))
        origins.append((file, rows))
        rows += table.num_rows
        if width is not None and matrix.shape[1] != width:
            raise LibtradError(
                f"{file}: embeddings of unequal length ({matrix.shape[1]} values per row; earlier files have {width})"
            )
        width = matrix.shape[1]
        frames.append(table.drop_columns([EMBEDDING]).to_pandas())
        matrices.append(matrix)
        names.add(_hf_label_names(schema))
    if not frames:
        raise LibtradError(f"{', '.join(map(str, paths))}: the Parquet files hold no rows")
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    matrix = np.concatenate(matrices) if len(matrices) > 1 else matrices[0]
    duplicates, leaked = check_duplicates(df, matrix, origins, allow_duplicates)
    df[EMBEDDING] = pd.Series(list(matrix), index=df.index, dtype=object)
    if duplicates:
        df.attrs["duplicate_rows"] = duplicates
    if leaked:
        df.attrs["leaked_rows"] = leaked
    label_names = names.pop() if len(names) == 1 else None
    if label_names:
        df.attrs["label_names"] = list(label_names)
    return df


def embedding_matrix(df: pd.DataFrame) -> np.ndarray:
    """The ``embedding`` column as one C-contiguous (rows, D) float32 array."""
    if EMBEDDING not in df.columns:
        raise LibtradError(f"no column 'embedding' (columns: {', '.join(map(str, df.columns))})")
    if len(df) == 0:
        raise LibtradError("no rows: nothing to evaluate")
    try:
        return np.ascontiguousarray(np.stack(df[EMBEDDING].to_numpy()), dtype=np.float32)
    except ValueError:
        raise LibtradError("embeddings of unequal length in the 'embedding' column") from None


def require_columns(df: pd.DataFrame, required, suite: str) -> None:
    """Refuse (one line) a frame with no rows or without a column ``suite`` reads."""
    if len(df) == 0:
        raise LibtradError("the embeddings hold no rows")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise LibtradError(
            f"no column {missing[0]!r} in the embeddings (required by {suite}); columns present: "
            f"{', '.join(map(str, df.columns))}"
        )
