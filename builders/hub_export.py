"""Stream builder examples into a Hub dataset repository: Parquet shards, card, manifest.

Shared by every builder: a config is a list of splits, each an iterator of examples with audio
bytes embedded. Rows are encoded and written one row group at a time, so peak memory does not
grow with the dataset. Shard files are named ``data/<config>/<split>-NNNNN-of-NNNNN.parquet``
as the Hub expects; a config may instead reuse another config's shards (``reuses``), e.g.
``all`` = the union of ``tr1``..``tr3`` when splits are drawn per experiment.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
from datasets.info import DatasetInfosDict
from tqdm.auto import tqdm

from libtrad.builders.parquet_shard import ShardWriter
from libtrad.core.errors import LibtradError

ROWS_PER_GROUP = 100  # datasets' row-group size for audio Parquet (fast random access on the Hub)
MAX_ROW_GROUP_BYTES = 64 * 2**20  # fewer rows per group when rows are large (4-channel segments)
MAX_SHARD_BYTES = 500 * 2**20  # the Hub's usual Parquet shard size
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class FileBytes:
    """An ``Audio`` value embedded straight from a source file, as ``{"bytes": <the file>, "path": path}``.

    The writer reads the file into the row group's own Arrow buffer: no Python ``bytes`` object
    per file and no copy into Arrow (for a dataset of unchanged WAVs that halves the memory
    traffic of an export). ``read_into`` gets a writable view of exactly ``size`` bytes and fills
    it or raises; it is where a component re-checks and hashes the bytes it embeds.
    """

    size: int
    path: str | None
    read_into: Callable[[memoryview], None]

    def materialize(self) -> dict:
        """The plain ``{"bytes", "path"}`` value (for writers other than this module's)."""
        buffer = bytearray(self.size)
        self.read_into(memoryview(buffer))
        return {"bytes": bytes(buffer), "path": self.path}


@dataclass(frozen=True)
class AfterRead:
    """A cell known only once its row's :class:`FileBytes` are read: the SHA-256 a component takes of
    the bytes it embeds (DCASE's ``sha256`` column), so each file is still read exactly once.
    The writers call ``value()`` after reading the row group's files."""

    value: Callable[[], object]


def materialized(example: dict) -> dict:
    """``example`` with every :class:`FileBytes` value read into a plain ``{"bytes", "path"}`` dict
    (and every :class:`AfterRead` cell computed once they are)."""
    if any(isinstance(v, FileBytes) for v in example.values()):
        example = {k: v.materialize() if isinstance(v, FileBytes) else v for k, v in example.items()}
    return _resolved(example)


def _resolved(row: dict) -> dict:
    """``row`` with its :class:`AfterRead` cells computed (call only after its files are read)."""
    if not any(isinstance(v, AfterRead) for v in row.values()):
        return row
    return {k: v.value() if isinstance(v, AfterRead) else v for k, v in row.items()}


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

    def merge(self, other: SplitResult) -> None:
        self.num_examples += other.num_examples
        self.num_bytes += other.num_bytes
        self.labels.update(other.labels)
        self.files.update(other.files)
        self.file_bytes += other.file_bytes


def write_configs(
    root: Path, configs: list[ConfigSource], *, max_shard_bytes: int = MAX_SHARD_BYTES, progress: bool = True
) -> dict[str, dict[str, SplitResult]]:
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
        raise LibtradError(
            f"{option}: {', '.join(empty)} would have 0 rows (not enough valid input for it); "
            "leave that config out or add data"
        )


def _union(config: ConfigSource, parts: list[dict[str, SplitResult]]) -> dict[str, SplitResult]:
    out = {}
    for split in config.splits:
        merged = SplitResult(split.name)
        for part in parts:
            merged.merge(part[split.name])
        out[split.name] = merged
    return out


def _write_split(
    root: Path,
    config: ConfigSource,
    split: SplitSource,
    max_shard_bytes: int,
    progress: bool,
    hasher: ThreadPoolExecutor,
) -> SplitResult:
    """Encode and write one split as a pipeline of four threads.

    One produces examples up to a row group ahead (file reading and decoding, GIL mostly
    released); a second encodes them into Arrow row groups (reading :class:`FileBytes` straight
    into Arrow memory); this one only writes Parquet (GIL released); the ``hasher`` checksums
    what is already written. Each stage hands whole items over, so the cores overlap instead of
    waiting on each other.
    """
    folder = root / "data" / config.name
    folder.mkdir(parents=True, exist_ok=True)
    schema = config.features.arrow_schema
    result = SplitResult(split.name)
    shards: list[tuple[Path, Future]] = []
    writer: ShardWriter | None = None
    examples = _prefetched(split.examples(), depth=ROWS_PER_GROUP, size_of=_payload_size)
    groups = _row_groups(examples, _example_encoder(config.features), schema, result.labels)
    tables = _prefetched(groups, depth=1, size_of=lambda t: t.nbytes)
    # The bar is closed (its line ended) also when a row fails, so the error prints on a line of its own.
    with tqdm(total=split.num_rows, desc=f"{config.name}/{split.name}", unit="row", disable=not progress) as bar:
        try:
            for table in tables:
                if writer is None:
                    writer = ShardWriter(folder / f"{split.name}-{len(shards):05d}.partial", schema, hasher)
                writer.write(table)
                result.num_bytes += table.nbytes
                result.num_examples += table.num_rows
                bar.update(table.num_rows)
                if writer.bytes_written >= max_shard_bytes:
                    shards.append(writer.close())
                    writer = None
        except BaseException:
            if writer is not None:
                writer.abandon()
            raise
        finally:
            # On a failure, stop the reading threads now, not when the traceback holding this frame is freed:
            # downstream first, each close ends the thread that feeds it.
            for stage in (tables, groups, examples):
                stage.close()
    if not shards and writer is None:
        raise LibtradError(f"{config.name}/{split.name}: no rows were produced; nothing written")
    if writer is not None:
        shards.append(writer.close())
    for index, (partial, digest) in enumerate(shards):
        final = folder / f"{split.name}-{index:05d}-of-{len(shards):05d}.parquet"
        result.files[final.relative_to(root).as_posix()] = digest.result()
        partial.rename(final)
        result.file_bytes += final.stat().st_size
    return result


def _row_groups(
    examples: Iterable[dict], encode: Callable[[dict], dict], schema: pa.Schema, labels: Counter
) -> Iterator[pa.Table]:
    """Encoded examples as Arrow tables of ``ROWS_PER_GROUP`` rows (fewer when the payload passes
    ``MAX_ROW_GROUP_BYTES``), counting ``labels`` on the way."""
    batch: list[dict] = []
    batch_bytes = 0
    for example in examples:
        labels[example.get("label")] += 1
        batch.append(encode(example))
        batch_bytes += _payload_size(example)
        if len(batch) == ROWS_PER_GROUP or batch_bytes >= MAX_ROW_GROUP_BYTES:
            yield _to_table(batch, schema)
            batch, batch_bytes = [], 0
    if batch:
        yield _to_table(batch, schema)


def _to_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Encoded rows as one Arrow table; columns of :class:`FileBytes` are read straight into Arrow memory."""
    direct = [
        name
        for name in schema.names
        if all(isinstance(row[name], FileBytes) for row in rows) and _is_bytes_path(schema.field(name).type)
    ]
    mixed = {
        name for name in schema.names if name not in direct and any(isinstance(row[name], FileBytes) for row in rows)
    }
    if mixed:  # FileBytes beside other values in one column: plain dicts for that column
        rows = [
            {k: v.materialize() if k in mixed and isinstance(v, FileBytes) else v for k, v in row.items()}
            for row in rows
        ]
    files = {name: _file_column([row[name] for row in rows], schema.field(name).type) for name in direct}
    rows = [_resolved(row) for row in rows]  # the files are read now: cells computed from them are known
    if not direct:
        return pa.Table.from_pylist(rows, schema=schema)
    rest_schema = pa.schema([f for f in schema if f.name not in direct], metadata=schema.metadata)
    rest = pa.Table.from_pylist([{k: row[k] for k in rest_schema.names} for row in rows], schema=rest_schema)
    columns = [files[name] if name in direct else rest.column(name) for name in schema.names]
    return pa.Table.from_arrays(columns, schema=schema)


def _is_bytes_path(dtype: pa.DataType) -> bool:
    return (
        pa.types.is_struct(dtype)
        and [f.name for f in dtype] == ["bytes", "path"]
        and dtype.field("bytes").type == pa.binary()
        and dtype.field("path").type == pa.string()
    )


def _file_column(values: list[FileBytes], dtype: pa.StructType) -> pa.StructArray:
    """``struct<bytes, path>`` whose bytes are the files themselves, read into one Arrow buffer."""
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum([v.size for v in values], out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise RuntimeError(f"a row group of {offsets[-1]} bytes is past Arrow's binary limit")
    data = pa.allocate_buffer(int(offsets[-1]))
    view = memoryview(data).cast("B")
    for value, start, end in zip(values, offsets[:-1], offsets[1:], strict=True):
        value.read_into(view[start:end])
    payload = pa.Array.from_buffers(pa.binary(), len(values), [None, pa.py_buffer(offsets.astype(np.int32)), data])
    paths = pa.array([v.path for v in values], type=pa.string())
    return pa.StructArray.from_arrays([payload, paths], fields=list(dtype))


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
        return {
            name: _encoded_later(encoder, example[name])
            if isinstance(example[name], AfterRead)
            else encoder(example[name])
            for name, encoder in encoders.items()
        }

    return encode


def _encoded_later(encoder: Callable, cell: AfterRead) -> AfterRead:
    """An :class:`AfterRead` cell whose value is encoded when it is computed."""
    return AfterRead(lambda: encoder(cell.value()))


_PLAIN = (str, int, float, bool)


def _column_encoder(feature) -> Callable:
    from datasets.features.features import cast_to_python_objects, encode_nested_example

    def generic(value):
        return encode_nested_example(feature, cast_to_python_objects(value))

    if isinstance(feature, datasets.Audio):

        def audio(value):
            if isinstance(value, FileBytes):
                return value  # read by the writer itself (_file_column)
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
        elif isinstance(value, FileBytes):
            total += value.size
        elif isinstance(value, np.ndarray):
            total += value.nbytes  # vibration signals (channels x samples)
    return total


def _prefetched(
    iterable: Iterable, depth: int, size_of: Callable[[object], int], max_bytes: int = MAX_ROW_GROUP_BYTES
) -> Iterator:
    """Iterate ``iterable`` in a background thread, up to ``depth`` items and ``max_bytes`` ahead.

    Producing an example is mostly file reading (GIL released), so it overlaps with encoding and
    Parquet writing in the caller. The byte budget (``size_of`` each item) keeps large rows
    (8-channel 50 kHz arrays of several MB each) from piling up: at least one item is always in
    flight. Errors are re-raised in the caller; an early exit stops the producer.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    done, stop = object(), threading.Event()
    failure: list[BaseException] = []
    budget = threading.Condition()
    pending = [0]  # bytes produced and not yet taken by the consumer

    def produce() -> None:
        try:
            for item in iterable:
                size = size_of(item)
                with budget:
                    budget.wait_for(lambda: stop.is_set() or pending[0] == 0 or pending[0] + size <= max_bytes)  # noqa: B023
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


def dataset_infos(configs: list[ConfigSource], results: dict[str, dict[str, SplitResult]]) -> DatasetInfosDict:
    """The ``dataset_info:`` YAML of the card, from what was actually written."""
    infos = DatasetInfosDict()
    for config in configs:
        splits = datasets.SplitDict()
        for name, res in results[config.name].items():
            splits.add(datasets.SplitInfo(name=name, num_bytes=res.num_bytes, num_examples=res.num_examples))
        size = sum(r.file_bytes for r in results[config.name].values())
        infos[config.name] = datasets.DatasetInfo(
            features=config.features,
            splits=splits,
            download_size=size,
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
