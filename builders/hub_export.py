"""Stream builder examples into a Hub dataset repository: Parquet shards, card, manifest.

Shared by every builder: a config is a list of splits, each an iterator of examples with audio
bytes embedded. Rows are encoded and written one row group at a time, so peak memory does not
grow with the dataset. Shard files are named ``data/<config>/<split>-NNNNN-of-NNNNN.parquet``
as the Hub expects; a config may instead reuse another config's shards (``reuses``), e.g.
``all`` = the union of ``tr1``..``tr3`` when splits are drawn per experiment.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import datasets
from datasets.info import DatasetInfosDict
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from libtrad.errors import LibtradError

ROWS_PER_GROUP = 100  # datasets' row-group size for audio Parquet (fast random access on the Hub)
MAX_ROW_GROUP_BYTES = 64 * 2**20  # fewer rows per group when rows are large (4-channel segments)
MAX_SHARD_BYTES = 500 * 2**20  # the Hub's usual Parquet shard size
MANIFEST = "manifest.json"


@dataclass
class SplitSource:
    name: str
    num_rows: int
    examples: Callable[[], Iterator[dict]]


@dataclass
class ConfigSource:
    name: str
    features: datasets.Features
    splits: list[SplitSource] = field(default_factory=list)
    description: str = ""
    reuses: tuple[str, ...] = ()  # take every split's shards from these configs instead of writing


@dataclass
class SplitResult:
    name: str
    num_examples: int = 0
    num_bytes: int = 0
    labels: Counter = field(default_factory=Counter)
    files: dict[str, str] = field(default_factory=dict)  # repo-relative path -> sha256
    file_bytes: int = 0

    def merge(self, other: "SplitResult") -> None:
        self.num_examples += other.num_examples
        self.num_bytes += other.num_bytes
        self.labels.update(other.labels)
        self.files.update(other.files)
        self.file_bytes += other.file_bytes


def write_configs(root: Path, configs: list[ConfigSource], *, max_shard_bytes: int = MAX_SHARD_BYTES,
                  progress: bool = True) -> dict[str, dict[str, SplitResult]]:
    """Write every config's splits under ``root/data`` and return what was written."""
    refuse_empty_splits(configs)
    results: dict[str, dict[str, SplitResult]] = {}
    for config in configs:
        if config.reuses:
            results[config.name] = _union(config, [results[name] for name in config.reuses])
            continue
        with ThreadPoolExecutor(max_workers=1) as hasher:
            results[config.name] = {
                split.name: _write_split(root, config, split, max_shard_bytes, progress, hasher)
                for split in config.splits
            }
    return results


def refuse_empty_splits(configs: list[ConfigSource], option: str = "--configs") -> None:
    """Refuse a config/split that would have 0 rows: ``load_dataset`` cannot read such a shard."""
    empty = [f"{c.name}/{s.name}" for c in configs if not c.reuses for s in c.splits if s.num_rows == 0]
    if empty:
        raise LibtradError(f"{option}: {', '.join(empty)} would have 0 rows (not enough valid input for it); "
                           "leave that config out or add data")


def _union(config: ConfigSource, parts: list[dict[str, SplitResult]]) -> dict[str, SplitResult]:
    out = {}
    for split in config.splits:
        merged = SplitResult(split.name)
        for part in parts:
            merged.merge(part[split.name])
        out[split.name] = merged
    return out


def _write_split(root: Path, config: ConfigSource, split: SplitSource, max_shard_bytes: int, progress: bool,
                 hasher: ThreadPoolExecutor) -> SplitResult:
    """Encode and write one split; reading runs one row group ahead, hashing runs behind."""
    folder = root / "data" / config.name
    folder.mkdir(parents=True, exist_ok=True)
    schema = config.features.arrow_schema
    encode = _example_encoder(config.features)
    result = SplitResult(split.name)
    shards: list[tuple[Path, Future]] = []
    writer: _ShardWriter | None = None
    batch: list[dict] = []
    batch_bytes = 0
    bar = tqdm(total=split.num_rows, desc=f"{config.name}/{split.name}", unit="row", disable=not progress)

    def flush() -> None:
        nonlocal writer, batch_bytes
        table = pa.Table.from_pylist(batch, schema=schema)
        if writer is None:
            writer = _ShardWriter(folder / f"{split.name}-{len(shards):05d}.partial", schema)
        writer.write(table)
        result.num_bytes += table.nbytes
        batch.clear()
        batch_bytes = 0
        if writer.bytes_written >= max_shard_bytes:
            shards.append(writer.close(hasher))
            writer = None

    for example in _prefetched(split.examples(), depth=ROWS_PER_GROUP):
        result.labels[example.get("label")] += 1
        batch.append(encode(example))
        batch_bytes += _payload_size(example)
        result.num_examples += 1
        bar.update()
        if len(batch) == ROWS_PER_GROUP or batch_bytes >= MAX_ROW_GROUP_BYTES:
            flush()
    if batch:
        flush()
    if not shards and writer is None:
        raise LibtradError(f"{config.name}/{split.name}: no rows were produced; nothing written")
    if writer is not None:
        shards.append(writer.close(hasher))
    bar.close()
    for index, (partial, digest) in enumerate(shards):
        final = folder / f"{split.name}-{index:05d}-of-{len(shards):05d}.parquet"
        result.files[final.relative_to(root).as_posix()] = digest.result()
        partial.rename(final)
        result.file_bytes += final.stat().st_size
    return result


def _example_encoder(features: datasets.Features) -> Callable[[dict], dict]:
    """``features.encode_example``, one precomputed encoder per column, embedded audio passed through.

    ``Audio.encode_example`` imports torch and torchcodec (seconds) even for values that are
    already ``{"bytes", "path"}``; those need no encoding at all. Scalar and class-label columns
    get the same result as ``Value``/``ClassLabel.encode_example`` without datasets' generic
    ``cast_to_python_objects`` walk (about 0.1 ms per column and row); anything else (lists,
    structs, numpy arrays) goes through the generic path.
    """
    encoders = {name: _column_encoder(feature) for name, feature in features.items()}

    def encode(example: dict) -> dict:
        return {name: encoder(example[name]) for name, encoder in encoders.items()}

    return encode


_PLAIN = (str, int, float, bool)


def _column_encoder(feature) -> Callable:
    from datasets.features.features import cast_to_python_objects, encode_nested_example

    def generic(value):
        return encode_nested_example(feature, cast_to_python_objects(value))

    if isinstance(feature, datasets.Audio):
        def audio(value):
            embedded = isinstance(value, dict) and value.keys() <= {"bytes", "path"} and value.get("bytes") is not None
            return {"bytes": value["bytes"], "path": value.get("path")} if embedded else feature.encode_example(value)
        return audio
    if isinstance(feature, datasets.ClassLabel):
        index = {name: i for i, name in enumerate(feature.names)}

        def label(value):
            return index[value] if type(value) is str and value in index else generic(value)
        return label
    if isinstance(feature, datasets.Value):
        def scalar(value):
            return None if value is None else feature.encode_example(value) if type(value) in _PLAIN else generic(value)
        return scalar
    return generic


def _payload_size(example: dict) -> int:
    """Bytes of the media and arrays in an example (what dominates a row group's memory)."""
    total = 0
    for value in example.values():
        if isinstance(value, dict) and value.get("bytes"):
            total += len(value["bytes"])
        elif isinstance(value, np.ndarray):
            total += value.nbytes  # vibration signals (channels x samples)
    return total


def _prefetched(iterable: Iterable, depth: int, max_bytes: int = MAX_ROW_GROUP_BYTES) -> Iterator:
    """Iterate ``iterable`` in a background thread, up to ``depth`` items and ``max_bytes`` ahead.

    Producing an example is mostly file reading (GIL released), so it overlaps with encoding and
    Parquet writing in the caller. The byte budget keeps large rows (8-channel 50 kHz arrays of
    several MB each) from piling up: at least one item is always in flight. Errors are re-raised
    in the caller; an early exit stops the producer.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    done, stop = object(), threading.Event()
    failure: list[BaseException] = []
    budget = threading.Condition()
    pending = [0]  # bytes produced and not yet taken by the consumer

    def produce() -> None:
        try:
            for item in iterable:
                size = _payload_size(item) if isinstance(item, dict) else 0
                with budget:
                    budget.wait_for(lambda: stop.is_set() or pending[0] == 0 or pending[0] + size <= max_bytes)
                    pending[0] += size
                while not stop.is_set():
                    try:
                        items.put((item, size), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            failure.append(exc)
        items.put((done, 0))

    thread = threading.Thread(target=produce, name="libtrad-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, size = items.get()
            if item is done:
                break
            with budget:
                pending[0] -= size
                budget.notify()
            yield item
    finally:
        stop.set()
        with budget:
            budget.notify_all()
        thread.join()
    if failure:
        raise failure[0]


class _ShardWriter:
    """One Parquet shard, written by Arrow's native file writer (no Python in the write path)."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path = path
        # WAV payloads neither compress nor repeat: no codec and no dictionary for them (dictionary
        # encoding would hash every payload), both for the small columns.
        leaves = _leaf_paths(schema)
        payloads = {name for name in leaves if name.endswith(".bytes")}
        compression = {name: "none" if name in payloads else "snappy" for name in leaves}
        self._writer = pq.ParquetWriter(
            str(path), schema, compression=compression, use_dictionary=[n for n in leaves if n not in payloads],
            write_statistics=False,
        )
        self.bytes_written = 0  # Arrow bytes, the measure datasets uses for max_shard_size

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table, row_group_size=len(table) or None)
        self.bytes_written += table.nbytes

    def close(self, hasher: ThreadPoolExecutor) -> tuple[Path, Future]:
        """Finish the file and checksum it in the background while the next shard is written."""
        self._writer.close()
        return self.path, hasher.submit(_sha256_file, self.path)


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(4 * 2**20):
            sha.update(chunk)
    return sha.hexdigest()


def _leaf_paths(schema: pa.Schema) -> list[str]:
    def walk(prefix: str, dtype: pa.DataType) -> list[str]:
        if pa.types.is_struct(dtype):
            return [p for f in dtype for p in walk(f"{prefix}.{f.name}", f.type)]
        if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
            return walk(f"{prefix}.list.element", dtype.value_type)
        return [prefix]

    return [p for f in schema for p in walk(f.name, f.type)]


def dataset_infos(configs: list[ConfigSource], results: dict[str, dict[str, SplitResult]]) -> DatasetInfosDict:
    """The ``dataset_info:`` YAML of the card, from what was actually written."""
    infos = DatasetInfosDict()
    for config in configs:
        splits = datasets.SplitDict()
        for name, res in results[config.name].items():
            splits.add(datasets.SplitInfo(name=name, num_bytes=res.num_bytes, num_examples=res.num_examples))
        size = sum(r.file_bytes for r in results[config.name].values())
        infos[config.name] = datasets.DatasetInfo(
            features=config.features, splits=splits, download_size=size,
            dataset_size=sum(r.num_bytes for r in results[config.name].values()),
        )
    return infos


def data_files_yaml(configs: list[ConfigSource], default: str | None = None) -> list[dict]:
    """The ``configs:`` YAML of the card: which shard files each config/split loads."""
    entries = []
    for config in configs:
        sources = config.reuses or (config.name,)
        files = []
        for split in config.splits:
            paths = [f"data/{src}/{split.name}-*" for src in sources]
            files.append({"split": split.name, "path": paths if len(paths) > 1 else paths[0]})
        entry = {"config_name": config.name, "data_files": files}
        if config.name == default:
            entry["default"] = True
        entries.append(entry)
    return entries
