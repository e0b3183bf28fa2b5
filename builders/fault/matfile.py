"""Reading the MATLAB files of the fault corpora (CWRU, and the struct-based Paderborn, MFPT) the same way.

Both publishers ship MATLAB v5 files whose signals sit in structs (Paderborn: one struct named after
the file, its ``Y`` struct array of named signals; MFPT: a ``bearing`` struct with ``sr`` and
``gs``). :func:`load_mat` parses one file's bytes with ``scipy.io.loadmat`` (structs as attribute
objects, singleton dimensions squeezed) and turns every way a file can be unreadable into one
:class:`~libtrad.builders.audio_io.InvalidAudio` naming the file: a truncated or foreign file, and a
MATLAB v7.3 (HDF5) file — neither publisher writes v7.3, so libtrad does not read it (h5py is not
a dependency) and says so instead of failing inside scipy. :func:`field` and :func:`vector` check
what a struct holds, so a missing variable is named with what the file has instead.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from libtrad.builders.audio_io import InvalidAudio

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # at byte 0, or 512 behind a MATLAB v7.3 header


def load_mat(data: bytes, path: Path, dataset: str, *, squeeze: bool = True) -> dict:
    """The variables of a MATLAB v5 file (``__header__`` and friends left out), or InvalidAudio.

    ``squeeze``: singleton dimensions squeezed (the struct corpora); CWRU's plain arrays keep their
    shape (its reader checks each is a vector itself)."""
    from scipy.io import loadmat

    if data[:8] == HDF5_SIGNATURE or data[512:520] == HDF5_SIGNATURE:
        raise InvalidAudio(
            path,
            f"is a MATLAB v7.3 (HDF5) file; {dataset} publishes MATLAB v5 files (re-save it "
            "with save(..., '-v7') or use the publisher's copy)",
        )
    try:
        content = loadmat(io.BytesIO(data), squeeze_me=squeeze, struct_as_record=False)
    except Exception as exc:  # noqa: BLE001 - scipy raises many types for a broken or truncated file
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InvalidAudio(path, f"not a readable MATLAB .mat file ({detail}; truncated or not a .mat file?)") from None
    return {key: value for key, value in content.items() if not key.startswith("__")}


def names(content) -> str:
    """What a file or struct holds, for messages: its variable or field names."""
    keys = list(content) if isinstance(content, dict) else list(getattr(content, "_fieldnames", []) or [])
    return ", ".join(sorted(keys)) or "nothing"


def field(path: Path, struct, name: str, what: str):
    """``struct.name`` (a loadmat struct), or InvalidAudio saying which fields it has instead."""
    fields = getattr(struct, "_fieldnames", None)
    if fields is None:
        raise InvalidAudio(path, f"{what} is not a MATLAB struct")
    if name not in fields:
        raise InvalidAudio(path, f"{what} has no field {name!r} (it has {names(struct)})")
    return getattr(struct, name)


def vector(path: Path, value, what: str) -> np.ndarray:
    """A non-empty numeric vector as float32, or InvalidAudio naming ``what``; non-finite samples refused."""
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    if array.dtype.kind not in "fiu" or array.size == 0 or sum(d > 1 for d in array.shape) > 1:
        raise InvalidAudio(path, f"{what} is not a non-empty numeric vector")
    out = array.reshape(-1).astype(np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        raise InvalidAudio(
            path,
            f"{int(bad.sum())} non-finite value(s) (NaN/inf) in {what}, the first at sample "
            f"{int(np.flatnonzero(bad)[0])}",
        )
    return out


def number(value) -> float | None:
    """A scalar of a struct field as float (None when it is not one finite number)."""
    array = np.asarray(value)
    if array.dtype.kind not in "fiu" or array.size != 1:
        return None
    out = float(array.reshape(-1)[0])
    return out if np.isfinite(out) else None
