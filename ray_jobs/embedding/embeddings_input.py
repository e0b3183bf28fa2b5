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
and no two rows may share a key (the identity columns :data:`KEY_COLUMNS` present, e.g. ``file`` or
``experiment``/``segment``/``channel``; without any, the embedding itself) — a row embedded twice
lands on both sides of a split and scores itself (X-ARES kNN 0.00 on a folder alone, 0.72 with every
row doubled). ``allow_duplicates`` keeps every row and says how many repeat.

The embeddings become float32 (how ``libtrad embed`` stores them); :func:`embedding_matrix`
returns them as one 2-D array. The label names of a Hugging Face ``ClassLabel`` ``label``
column, when every file's schema metadata carries the same ones, are kept in
``df.attrs["label_names"]`` (a hint: the fault suite prefers explicit names).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from libtrad.errors import LibtradError, ParameterError, exception_reason

EMBEDDING = "embedding"
# Columns that together say which recording/segment/channel a row is (whichever are present);
# ``split`` is deliberately not one: the same clip in train and test is the leak being refused.
KEY_COLUMNS = ("year", "machine", "section", "set", "experiment", "subset", "recording", "file", "source_file",
               "segment", "cut", "channel")


# ----------------------------------------------------------------------------- finding files
def parquet_files(path: str | Path) -> list[Path]:
    """The Parquet files of one ``--embeddings`` path (a file, or a folder searched recursively)."""
    root = Path(path).expanduser()
    if not root.exists():
        raise LibtradError(f"{root}: no such file or folder (expected an embeddings folder of Parquet files)")
    if root.is_file():
        if root.suffix != ".parquet":
            raise LibtradError(f"{root}: not a .parquet file (expected an embeddings folder or a Parquet file)")
        return [root]
    files = sorted(p for p in root.rglob("*.parquet")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise LibtradError(f"{root}: no .parquet files in this folder "
                           "(expected EMB/data/**.parquet from libtrad embed)")
    return files


# ----------------------------------------------------------------------------- one file
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
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)) \
            or not (pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)):
        raise LibtradError(f"{file}: column 'embedding' is {kind}, expected a list of numbers (list<float32>)")
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise LibtradError(f"{file}: {_row_name(table, row)} has no embedding (null)")
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    if (lengths != lengths[0]).any() or lengths[0] == 0:
        row = int(np.flatnonzero(lengths != lengths[0])[0]) if lengths[0] else 0
        raise LibtradError(f"{file}: embeddings of unequal length ({_row_name(table, row)} has {lengths[row]}, "
                           f"the first row {lengths[0]})")
    values = column.flatten().to_numpy(zero_copy_only=False)
    with np.errstate(over="ignore"):  # a float64 beyond float32's range becomes inf, refused just below
        matrix = np.asarray(values, dtype=np.float32).reshape(len(lengths), int(lengths[0]))
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        raise LibtradError(f"{file}: {_row_name(table, int(np.flatnonzero(bad)[0]))} has a NaN or infinite "
                           "embedding value (a float32 overflow counts)")
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
        raise LibtradError(f"{file}: {_row_name(table, row)} has label {value}, outside its ClassLabel's "
                           f"{len(names)} names ({', '.join(names[:6])}{', ...' if len(names) > 6 else ''}); "
                           f"{int(bad.sum())} row(s) like it")


def _key_column(column: pd.Series) -> pd.Series:
    """A key column as hashable values (list cells, e.g. a segment's ``source_file`` list, as JSON text)."""
    if column.dtype != object or all(isinstance(v, str) or v is None for v in column):
        return column.reset_index(drop=True)
    return pd.Series([json.dumps(_plain(v), sort_keys=True, default=str) for v in column])


def check_duplicates(df: pd.DataFrame, matrix: np.ndarray, origins: list[tuple[Path, int]],
                     allow_duplicates: bool) -> int:
    """Refuse rows that share a key (first few named, with their files), or with ``allow_duplicates``
    keep them all and note how many; returns the number of rows repeating an earlier one."""
    keys = [c for c in KEY_COLUMNS if c in df.columns]
    if keys:
        frame = pd.DataFrame({c: _key_column(df[c]) for c in keys})
        what = "/".join(keys)
    else:
        frame = pd.DataFrame({"embedding": [row.tobytes() for row in matrix]})
        what = "embedding (no key column such as file)"
    repeated = frame.duplicated(keep="first").to_numpy()
    count = int(repeated.sum())
    if not count:
        return 0
    from libtrad.console import note

    first = frame.duplicated(keep=False).to_numpy()
    shown = []
    for row in np.flatnonzero(repeated)[:3]:
        earlier = int(np.flatnonzero(first & (frame.eq(frame.iloc[row]).all(axis=1)).to_numpy())[0])
        key = ", ".join(f"{c}={_plain(df[c].iloc[row])!r}" for c in keys) if keys else f"row {row}"
        shown.append(f"{key} ({_origin(origins, earlier)} and {_origin(origins, row)})")
    if allow_duplicates:
        note(f"{count} row(s) repeat the key ({what}) of an earlier row and are all kept (--allow-duplicates); "
             f"e.g. {shown[0]}")
        return count
    raise LibtradError(f"{count} row(s) repeat the key ({what}) of an earlier row: {'; '.join(shown)}"
                       f"{' ...' if count > len(shown) else ''} — a row embedded twice lands on both sides of a "
                       "split; give each folder once, or pass --allow-duplicates to keep them")


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
def load_embeddings(paths: Sequence[str | Path] | str | Path, required: Sequence[str],
                    optional: Sequence[str] | None = None, *, allow_duplicates: bool = False) -> pd.DataFrame:
    """One DataFrame of every row of every Parquet file under ``paths`` (concatenated in path order).

    ``required`` columns must be in every file (``embedding`` always is); ``optional`` ones are
    read where present (``None``: read every column), and the key columns (:data:`KEY_COLUMNS`)
    always are. The ``embedding`` column holds one float32 row each (views of one matrix); use
    :func:`embedding_matrix` for the 2-D array. ``df.attrs["duplicate_rows"]``: how many rows
    repeat an earlier key (only with ``allow_duplicates``; otherwise they are refused).
    """
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not paths:
        raise ParameterError("embeddings", [], "give at least one embeddings folder or Parquet file")
    frames, matrices, names, width, origins, rows = [], [], set(), None, [], 0
    for file in [f for p in paths for f in parquet_files(p)]:
        schema = _schema(file)
        present = list(schema.names)
        _check_columns(file, present, required)
        wanted = present if optional is None else \
            [c for c in present if c in {EMBEDDING, *required, *optional, *KEY_COLUMNS}]
        table = _read_table(file, wanted)
        matrix = _embedding_rows(file, table)
        if table.num_rows == 0:
            continue
        _check_labels(file, table, _hf_label_names(schema))
        origins.append((file, rows))
        rows += table.num_rows
        if width is not None and matrix.shape[1] != width:
            raise LibtradError(f"{file}: embeddings of unequal length ({matrix.shape[1]} values per row; "
                               f"earlier files have {width})")
        width = matrix.shape[1]
        frames.append(table.drop_columns([EMBEDDING]).to_pandas())
        matrices.append(matrix)
        names.add(_hf_label_names(schema))
    if not frames:
        raise LibtradError(f"{', '.join(map(str, paths))}: the Parquet files hold no rows")
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    matrix = np.concatenate(matrices) if len(matrices) > 1 else matrices[0]
    duplicates = check_duplicates(df, matrix, origins, allow_duplicates)
    df[EMBEDDING] = pd.Series(list(matrix), index=df.index, dtype=object)
    if duplicates:
        df.attrs["duplicate_rows"] = duplicates
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
        raise LibtradError(f"no column {missing[0]!r} in the embeddings (required by {suite}); columns present: "
                           f"{', '.join(map(str, df.columns))}")
