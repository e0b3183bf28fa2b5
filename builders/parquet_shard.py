"""One Parquet shard of an export, written front to back by Arrow and hashed while it grows.

The export writer (:mod:`libtrad.builders.hub_export`) streams row groups into a :class:`ShardWriter`;
the shard's SHA-256 (for the manifest) is ready moments after the file is closed, because the bytes
written so far are hashed on a helper thread while the next row group is built. Apart from the
writer because this is the one place that knows Parquet's file layout and the codec choices.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from libtrad.core.errors import LibtradError, naming_file


class ShardWriter:
    """One Parquet shard, written by Arrow's native file writer and hashed as it grows.

    Parquet is written front to back and never rewritten, so after each row group the bytes up
    to the file's current size are final: the ``hasher`` thread reads and hashes them while the
    next row group is built, and closing the shard leaves only its footer to hash.
    """

    def __init__(self, path: Path, schema: pa.Schema, hasher: ThreadPoolExecutor):
        self.path = path
        # WAV payloads neither compress nor repeat: no codec and no dictionary for them (dictionary
        # encoding would hash every payload), both for the small columns.
        leaves = leaf_paths(schema)
        payloads = {name for name in leaves if name.endswith(".bytes")}
        compression = {name: "none" if name in payloads else "snappy" for name in leaves}
        self._writer = pq.ParquetWriter(
            str(path),
            schema,
            compression=compression,
            use_dictionary=[n for n in leaves if n not in payloads],
            write_statistics=False,
        )
        self.bytes_written = 0  # Arrow bytes, the measure datasets uses for max_shard_size
        self._hasher = hasher
        self._sha = hashlib.sha256()
        self._hashed = 0

    def write(self, table: pa.Table) -> None:
        try:
            self._writer.write_table(table, row_group_size=len(table) or None)
        except OSError as exc:  # Arrow's I/O error names no file: this shard's, for the one error line
            raise naming_file(exc, self.path) from None
        self.bytes_written += table.nbytes
        self._hasher.submit(self._hash_up_to, os.path.getsize(self.path))  # bytes written so far are final

    def close(self) -> tuple[Path, Future]:
        """Finish the file; (its path, the future SHA-256 of all its bytes)."""
        try:
            self._writer.close()
        except OSError as exc:
            raise naming_file(exc, self.path) from None
        return self.path, self._hasher.submit(self._finish)

    def abandon(self) -> None:
        """Close the file after a failure (the staging folder it lies in is discarded)."""
        try:
            self._writer.close()
        except Exception:  # noqa: BLE001 - the failure being raised is the one to report
            pass

    def _hash_up_to(self, size: int) -> None:
        """Hash bytes ``[hashed, size)`` (run in order on the one hasher thread)."""
        with self.path.open("rb") as f:
            f.seek(self._hashed)
            while self._hashed < size:
                chunk = f.read(min(4 * 2**20, size - self._hashed))
                if not chunk:
                    raise LibtradError(f"{self.path.name}: shorter than the {size} bytes written to it")
                self._sha.update(chunk)
                self._hashed += len(chunk)

    def _finish(self) -> str:
        self._hash_up_to(os.path.getsize(self.path))
        return self._sha.hexdigest()


def leaf_paths(schema: pa.Schema) -> list[str]:
    def walk(prefix: str, dtype: pa.DataType) -> list[str]:
        if pa.types.is_struct(dtype):
            return [p for f in dtype for p in walk(f"{prefix}.{f.name}", f.type)]
        if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
            return walk(f"{prefix}.list.element", dtype.value_type)
        return [prefix]

    return [p for f in schema for p in walk(f.name, f.type)]
