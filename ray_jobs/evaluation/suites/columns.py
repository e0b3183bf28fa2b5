"""Reading a suite's columns: integers and texts by row position, each problem named by its row's file."""

from __future__ import annotations

import numpy as np
import pandas as pd

from libtrad.core.errors import LibtradError


def int_column(df: pd.DataFrame, name: str) -> np.ndarray:
    values = df[name]
    if values.isna().any():
        raise LibtradError(f"column {name!r}: empty in the row file={df.loc[values.isna(), 'file'].iloc[0]!r}")
    try:
        as_int = values.to_numpy().astype(np.int64)
    except (TypeError, ValueError):
        raise LibtradError(f"column {name!r}: expected integers, found {values.dtype}") from None
    if not np.array_equal(as_int, values.to_numpy().astype(np.float64)):
        raise LibtradError(f"column {name!r}: expected integers, found non-integer values")
    return as_int


def text_column(df: pd.DataFrame, name: str, *, allow_empty: bool = False) -> np.ndarray:
    values = df[name]
    empty = values.isna().to_numpy()
    if empty.any() and not allow_empty:
        raise LibtradError(f"column {name!r}: empty in the row file={df['file'].iloc[int(np.flatnonzero(empty)[0])]!r}")
    return np.array([None if e else str(v) for v, e in zip(values.to_numpy(), empty)], dtype=object)
