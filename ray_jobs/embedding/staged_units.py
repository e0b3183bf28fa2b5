"""Where ``libtrad embed``'s finished units wait until the output is published, and their reuse.

A unit's embeddings are written as soon as they arrive, under the unit's name, into the resumable
staging of the output (:func:`libtrad.folders.outputs.resumable_staging` on a local disk: temporary name,
then rename, :class:`DiskUnits`; on an object store one PUT, whole or absent, :class:`StoreUnits`). A
re-run with the same cache key finds them there, and a finished output of the same key lends its units
(:func:`reuse_finished`, :func:`reuse_from_store`), so only what is missing is computed. Both kinds of
staging answer the same questions (``has``, ``write``, ``metadata``, ``prune``, ``shown``), which is all
the driver (:mod:`.embed`) and the actor loop (:mod:`.actors`) ask.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from libtrad.core.errors import write_failed
from libtrad.folders.checksums import sha256_file
from libtrad.folders.marker import read_marker
from libtrad.ray_jobs.embedding.units import Unit

INFO_FILE = "embeddings.json"


def reuse_finished(out: Path, staging: Path, key: str, units: list[Unit]) -> dict[str, str]:
    """Link the units a finished output of the same key already holds into the staging folder;
    returns their SHA-256 (just checked against the old marker), so the new marker need not re-hash them."""
    info = _read_info(out)
    marker = read_marker(out) if info else None
    if not info or info.get("cache_key") != key or not marker:
        return {}
    verified = {}
    for unit in units:
        src, dst = out / unit.name, staging / unit.name
        if dst.exists() or not src.is_file():
            continue
        digest = sha256_file(src)
        if marker["files"].get(unit.name) != digest:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            dst.write_bytes(src.read_bytes())
        verified[unit.name] = digest
    return verified


def _read_info(folder: Path) -> dict | None:
    try:
        return json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class DiskUnits:
    """Finished units in the resumable staging folder on this machine: each written under a
    temporary name, then renamed (a killed driver leaves a whole unit or none)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def has(self, name: str) -> bool:
        return (self.folder / name).is_file()

    def shown(self, name: str) -> str:
        return str(self.folder / name)

    def write(self, unit: Unit, table: pa.Table) -> None:
        path = self.folder / unit.name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, path)
        except OSError as exc:  # a full disk: the unit's file named (Arrow's error names none), no half file left
            tmp.unlink(missing_ok=True)
            raise write_failed(path, exc) from None

    def metadata(self, name: str) -> dict:
        return pq.read_schema(self.folder / name).metadata or {}

    def prune(self, planned: set[str]) -> None:
        """Drop anything not planned (temporaries, units of another size) and emptied folders."""
        for path in sorted(self.folder.rglob("*"), reverse=True):
            rel = path.relative_to(self.folder).as_posix()
            if path.is_file() and rel not in planned:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


class StoreUnits:
    """Finished units in a staging prefix on an object store (:class:`~libtrad.folders.storage.RemoteStaging`):
    one PUT each, which the store makes visible whole or not at all — so no temporary name."""

    def __init__(self, staging):
        self.staging = staging
        self.present = staging.names()
        self.digests: dict[str, str] = {}

    def has(self, name: str) -> bool:
        return name in self.present

    def shown(self, name: str) -> str:
        return self.staging.shown(name)

    def put(self, name: str, data: bytes) -> None:
        self.staging.put(name, data)
        self.present.add(name)
        self.digests[name] = hashlib.sha256(data).hexdigest()

    def adopt(self, name: str, digest: str) -> None:
        self.present.add(name)
        self.digests[name] = digest

    def write(self, unit: Unit, table: pa.Table) -> None:
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        self.put(unit.name, buffer.getvalue())

    def digest(self, name: str) -> str:
        """SHA-256 of a staged unit (one a killed run staged is read back once to hash it)."""
        if name not in self.digests:
            self.digests[name] = hashlib.sha256(self.staging.get(name)).hexdigest()
        return self.digests[name]

    def metadata(self, name: str) -> dict:
        with self.staging.open(name) as f:
            return pq.read_schema(f).metadata or {}

    def prune(self, planned: set[str]) -> None:
        for name in sorted(self.present - planned):
            self.staging.remove(name)
            self.present.discard(name)


def reuse_from_store(store, staged: StoreUnits, key: str, units: list[Unit]) -> None:
    """A finished output of the same key on the store: its units are copied into the staging prefix
    (server-side), their digests taken from its marker — the completion manifest that listed them."""
    info = store.read_json(store.join(INFO_FILE))
    marker = store.marker() if info else None
    if not info or info.get("cache_key") != key or not marker:
        return
    for unit in units:
        if not staged.has(unit.name) and unit.name in marker["files"]:
            staged.staging.copy_from_output(unit.name)
            staged.adopt(unit.name, marker["files"][unit.name])
