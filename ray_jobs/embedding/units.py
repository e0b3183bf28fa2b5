"""One unit of ``libtrad embed``: rows [start, end) of one shard -> an Arrow table of embeddings.

Pure Python (no Ray): the Ray actor in :mod:`libtrad.ray_jobs.embedding.embed` holds one
:class:`UnitEmbedder` (the model loaded once) and calls :meth:`UnitEmbedder.run` per unit; the
driver writes the returned table under the unit's own file name, so a retried unit replaces
nothing but itself and every input row appears exactly once.

Audio is decoded here, in the worker, one row at a time: soundfile on the embedded WAV/FLAC bytes
(not datasets' decoder), or the ``signals`` array (channels × samples) with its ``sampling_rate``
column, read straight from Arrow's buffers (a Python list of a 40-s, 48-kHz, 3-channel row would
take ~200 MB). The channels ``options.channels`` selects are kept (:mod:`libtrad.core.channels`: a row
lacking one is an error naming it), then resampled to the encoder's rate (polyphase,
``scipy.signal.resample_poly``) and counted. A multichannel row has each channel embedded alone,
then the channel embeddings concatenated (SIREN's way, channel-major) or averaged. Long records go
through the encoder in chunks where it is frame-local, and every forward holds at most ``batch
size × chunk_seconds`` of audio (:mod:`.encoders.chunking`); clips leave memory once embedded.

Devices. The encoder is loaded on ``options.device`` resolved here, in the worker (a Ray actor
with GPUs sees the ones Ray assigned it as ``cuda:0…``). On a GPU the rows are decoded by one
background thread a few batches ahead of the encoder, so decoding overlaps the model; batches are
cut from the unit's clips exactly as without it (batch k = clips [k·B, (k+1)·B)), so the output is
the same either way. Each unit's metadata records where it ran (:func:`libtrad.core.devices.device_record`,
the node, the GPUs per actor and ``ray.get_gpu_ids()``): ``embeddings.json`` lists them.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from libtrad.builders.audio_samples import resample
from libtrad.core.channels import ALL, EMBEDDED_COLUMN, ChannelSelection, row_channel_names
from libtrad.core.devices import default_batch_size, device_record, node_name
from libtrad.core.errors import LibtradError, first_line
from libtrad.folders.storage import storage_error
from libtrad.ray_jobs.embedding.encoder_files import Materialised
from libtrad.ray_jobs.embedding.encoders import describe, load_encoder
from libtrad.ray_jobs.embedding.source import DatasetSource, Shard

MULTICHANNEL = ("concat", "mean")
METADATA_KEY = b"libtrad_embed"
# Test hook: ``LIBTRAD_TEST_CRASH_UNIT=<unit name>`` with ``LIBTRAD_TEST_CRASH_FLAG=<file>`` makes the
# worker process exit (``os._exit``) the first time it starts that unit (the flag file records
# that it happened), so the tests can kill an actor mid-job.
_CRASH_UNIT, _CRASH_FLAG = "LIBTRAD_TEST_CRASH_UNIT", "LIBTRAD_TEST_CRASH_FLAG"


@dataclass(frozen=True)
class EmbedOptions:
    """What changes the embeddings (all part of the cache key) plus how they are computed."""

    frames: bool = False
    multichannel: str = "concat"
    precision: str = "fp32"
    batch_size: int | None = None  # None: devices.default_batch_size of the device the worker resolved
    device: str = "auto"  # auto|cpu|cuda|cuda:N, resolved in each worker
    gpus_per_actor: float = 0.0  # what each actor requested from Ray (provenance)
    prefetch: bool | None = None  # decode rows in a background thread; None: on a GPU only
    channels: tuple[str, ...] | None = None  # the selected channels (libtrad.core.channels); None: every channel
    channels_origin: str = ""  # what chose them, for the error naming a row that lacks one
    chunk_seconds: float = 10.0  # long clips: chunk length where the encoder is frame-local, and the budget

    def identity(self) -> dict:
        """The options that change the output (batch size, chunking, device and prefetch do not: batches
        and stitched chunks are exact, and the device's numerics are recorded beside the output)."""
        return {
            "frames": self.frames,
            "multichannel": self.multichannel,
            "precision": self.precision,
            "channels": ALL if self.channels is None else list(self.channels),
        }

    def selection(self) -> ChannelSelection:
        return ChannelSelection(self.channels, self.channels_origin or "--channels")


@dataclass(frozen=True)
class Unit:
    """Rows [start, end) of one shard; ``name`` is the output file's path inside the embeddings folder."""

    shard: Shard
    start: int
    end: int
    name: str


def plan_units(source: DatasetSource, rows_per_unit: int) -> list[Unit]:
    """Fixed-size row ranges of every shard, named by shard and range (stable across runs)."""
    units = []
    for shard in source.shards:
        for start in range(0, shard.num_rows, rows_per_unit):
            end = min(shard.num_rows, start + rows_per_unit)
            name = f"data/{source.config}/{shard.split}/{shard.key}.rows-{start:07d}-{end:07d}.parquet"
            units.append(Unit(shard, start, end, name))
    return units


def default_rows_per_unit(total_rows: int) -> int:
    """Enough units to balance a few actors, few enough files: 8…256 rows, ~64 units."""
    return int(min(256, max(8, math.ceil(total_rows / 64))))


class UnitEmbedder:
    """The encoder plus everything needed to turn a unit into its output table."""

    def __init__(
        self,
        encoder_spec,
        options: EmbedOptions,
        source: DatasetSource,
        threads: int | None = None,
        files: tuple[dict[str, str], dict[str, bytes]] | None = None,
    ):
        """``files``: the encoder's ``(digests, bytes)`` the driver shipped (:mod:`.encoder_files`):
        written into a temporary folder of this process and loaded from there, instead of
        ``encoder_spec``'s paths (which need not exist on this node)."""
        import torch

        if threads:
            torch.set_num_threads(int(threads))
        with Materialised(encoder_spec, *(files or (None, None))) as spec:
            self.encoder = load_encoder(spec, precision=options.precision, device=options.device)
        self.device = self.encoder.device
        self.info = describe(self.encoder)
        self._bind(options, source)

    def retarget(self, options: EmbedOptions, source: DatasetSource) -> UnitEmbedder:
        """This embedder for another dataset or options, its encoder kept loaded (a shared pool's actor, :mod:`.actors`,
        going to its next component); what the load depends on (precision, device) must not change."""
        if (options.precision, options.device) != (self.options.precision, self.options.device):
            raise LibtradError(f"an actor loaded for {self.options.precision} on {self.options.device} is not reusable")
        other = copy.copy(self)
        other._bind(options, source)
        return other

    def _bind(self, options: EmbedOptions, source: DatasetSource) -> None:
        """What depends on the dataset and the options, not on the loaded encoder."""
        self.options = options
        self.source = source
        self.fs = source.filesystem()
        self.batch_size = options.batch_size or default_batch_size(self.device)
        # On a CPU the decoding thread would take a core from the encoder's threads: only on a GPU by default.
        self.prefetch = self.device.type == "cuda" if options.prefetch is None else bool(options.prefetch)
        self.compute = {
            **device_record(self.device, options.precision),
            "node": node_name(),
            "gpus_per_actor": options.gpus_per_actor,
            "batch_size": self.batch_size,
        }
        self.features_json = _features_json(source, options)
        self._layout: dict[str, list[int]] = {}  # shard -> rows per row group
        self._cached: tuple = (None, None)  # (shard, row groups) -> the table last read

    def run(self, unit: Unit) -> tuple[pa.Table, dict]:
        """Embed one unit -> (output table, stats: rows, seconds per stage, resampled counts, node)."""
        _maybe_crash(unit.name)
        times = Counter()
        start = time.perf_counter()
        table = self._read(unit)
        times["read"] += time.perf_counter() - start
        pooled, frames, used, resampled = self._decode_and_embed(table, unit, times)
        embedding, frame_rows = self._assemble(pooled, frames, used, unit)
        out = self._output(table, unit, embedding, frame_rows, resampled, used, {**self.compute, "gpu_ids": _gpu_ids()})
        stats = {
            "rows": unit.end - unit.start,
            "seconds": dict(times),
            "resampled": dict(resampled),
            "pid": os.getpid(),
            "node": _node_id(),
            "dim": int(embedding.shape[1]),
        }
        return out, stats

    # -- reading and decoding
    def _read(self, unit: Unit) -> pa.Table:
        columns = self.source.kept_columns + ([self.source.audio_column] if self.source.audio_column else ["signals"])
        columns = list(dict.fromkeys(columns))
        try:
            first, groups = self._row_groups(unit)
            key = (unit.shard.path, tuple(groups))
            if self._cached[0] != key:  # Parquet reads whole row groups: keep the last one for the next unit
                self._cached = (key, self._open(unit.shard.path).read_row_groups(groups, columns=columns))
            table = self._cached[1]
        except (OSError, pa.ArrowException) as exc:
            raise LibtradError(
                f"{unit.shard.path}: cannot read rows {unit.start}-{unit.end} ({first_line(exc)})"
            ) from None
        except Exception as exc:  # noqa: BLE001 - a store's own errors (no credentials on this node …): one line
            if self.fs is None:
                raise

            raise storage_error(
                "dataset", unit.shard.path, exc, f"cannot read rows {unit.start}-{unit.end} on this worker"
            ) from None
        table = table.slice(unit.start - first, unit.end - unit.start)
        if table.num_rows != unit.end - unit.start:
            raise LibtradError(f"{unit.shard.path}: has fewer rows than its metadata said (changed during the job?)")
        return table

    def _open(self, path: str) -> pq.ParquetFile:
        return pq.ParquetFile(self.fs.open(path, "rb") if self.fs is not None else path)

    def _row_groups(self, unit: Unit) -> tuple[int, list[int]]:
        """The row groups holding rows [start, end) of the unit's shard, and the first one's first row."""
        if self._layout.get(unit.shard.path) is None:
            meta = self._open(unit.shard.path).metadata
            self._layout[unit.shard.path] = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        first, offset, groups = None, 0, []
        for i, n in enumerate(self._layout[unit.shard.path]):
            if offset + n > unit.start and offset < unit.end:
                groups.append(i)
                first = offset if first is None else first
            offset += n
        return first or 0, groups

    def _decode_and_embed(self, table: pa.Table, unit: Unit, times: Counter):
        """Decode the rows (ahead, in a thread, when prefetching) and embed their clips batch by batch:
        -> (pooled (clips, D), frames per clip (None unless kept), channel names used per row, resampled
        counts). A clip is dropped from memory once its batch is embedded."""
        resampled: Counter = Counter()
        decode_seconds = [0.0]
        rows = self._decoded_rows(table, unit, resampled, decode_seconds)
        if self.prefetch:
            rows = _prefetched(rows, depth=2 * self.batch_size)
        pending, used, pooled, frames = [], [], [], []
        step = max(1, self.batch_size)
        rate = int(self.info["sampling_rate"])
        chunk = max(1, int(round(self.options.chunk_seconds * rate)))

        def embed_batch(clips: list) -> None:
            start = time.perf_counter()
            p, f = self.encoder.embed(clips, chunk_samples=chunk, batch_samples=step * chunk)
            pooled.append(p)
            frames.extend(f if self.options.frames else [None] * len(f))
            times["model"] += time.perf_counter() - start

        try:
            for signal, names in rows:
                pending.extend(signal)
                used.append(names)
                while len(pending) >= step:
                    embed_batch(pending[:step])
                    del pending[:step]
        finally:
            rows.close()  # an encoder error stops the decoding thread now, not when the frame is collected
        if pending:
            embed_batch(pending)
        times["decode"] += decode_seconds[0]
        return np.concatenate(pooled), frames, used, resampled

    def _decoded_rows(self, table: pa.Table, unit: Unit, resampled: Counter, seconds: list):
        """Each row's selected channels as mono clips at the encoder's rate, (channels, samples) float32,
        with their names, in order; one row decoded at a time."""
        target = self.info["sampling_rate"]
        audio = self.source.audio_column
        cells = table.column(audio if audio else "signals")
        rates = None if audio else table.column("sampling_rate")
        stored = table.column("channels") if not audio and "channels" in table.column_names else None
        files = table.column("file") if "file" in table.column_names else None
        selection = self.options.selection()
        for i in range(table.num_rows):
            start = time.perf_counter()
            where = f"{unit.shard.path} row {unit.start + i}"
            if files is not None and files[i].is_valid:
                where += f" ({files[i].as_py()})"
            if audio:
                signal, rate = _decode_cell(cells[i].as_py(), None, where)
            else:
                signal, rate = _decode_cell(_arrow_signals(cells[i], where), rates[i].as_py(), where)
            names = row_channel_names(
                None if stored is None else stored[i].as_py(), signal.shape[0], self.source.channel_policy, where
            )
            picked = selection.pick(names, where)
            if picked != list(range(signal.shape[0])):
                signal = signal[picked]
            if rate != target:
                signal = resample(signal, rate, target, axis=-1)
                resampled[f"{rate}->{target}"] += 1
            seconds[0] += time.perf_counter() - start
            yield signal, tuple(names[j] for j in picked)

    def _assemble(self, pooled: np.ndarray, frames: list, used: list[tuple[str, ...]], unit: Unit):
        """Per row: its channels' embeddings concatenated (channel-major) or averaged."""
        rows, frame_rows, at = [], [], 0
        for names in used:
            channels = len(names)
            part, part_frames = pooled[at : at + channels], frames[at : at + channels]
            at += channels
            if channels == 1:
                rows.append(part[0])
                frame_rows.append(part_frames[0])
            elif self.options.multichannel == "mean":
                rows.append(part.mean(axis=0))
                frame_rows.append(np.mean(np.stack(part_frames), axis=0) if self.options.frames else None)
            else:
                rows.append(part.reshape(-1))
                frame_rows.append(np.concatenate(part_frames, axis=-1) if self.options.frames else None)
        if len({r.shape[0] for r in rows}) > 1:
            sets = Counter(",".join(names) for names in used)
            raise LibtradError(
                f"{unit.shard.path}: rows {unit.start}-{unit.end} embed {mixed_channels(sets)}, so "
                "concatenated embeddings differ in length; choose channels every row has with "
                "--channels, or use --multichannel mean"
            )
        return np.stack(rows).astype(np.float32, copy=False), frame_rows

    def _output(
        self,
        table: pa.Table,
        unit: Unit,
        embedding: np.ndarray,
        frames: list[np.ndarray],
        resampled: Counter,
        used: list[tuple[str, ...]],
        compute: dict,
    ) -> pa.Table:
        kept = table.select(self.source.kept_columns)
        dim = embedding.shape[1]
        flat = pa.array(embedding.reshape(-1), type=pa.float32())
        columns = {name: kept.column(name) for name in kept.column_names}
        columns["split"] = pa.array([unit.shard.split] * kept.num_rows, type=pa.string())
        columns["embedding"] = pa.ListArray.from_arrays(
            pa.array(np.arange(0, (kept.num_rows + 1) * dim, dim, dtype=np.int32)), flat
        )
        if self.options.frames:
            columns["frames"] = pa.array(
                [f.astype(np.float32).tolist() for f in frames], type=pa.list_(pa.list_(pa.float32()))
            )
        if self.source.named_channels:
            columns[EMBEDDED_COLUMN] = pa.array([list(names) for names in used], type=pa.list_(pa.string()))
        out = pa.table(columns)
        sets = Counter(",".join(names) for names in used)
        meta = {
            "encoder": self.info,
            "rows": kept.num_rows,
            "resampled": dict(resampled),
            "dim": dim,
            "multichannel_rows": sum(1 for names in used if len(names) > 1),
            "channel_sets": dict(sets),
            "compute": compute,
        }
        return out.replace_schema_metadata(
            {METADATA_KEY: json.dumps(meta, sort_keys=True).encode(), b"huggingface": self.features_json}
        )


def _prefetched(items, depth: int):
    """``items`` (an iterator) produced by one background thread at most ``depth`` ahead of the consumer.

    An error the producer raises is raised at the consumer in its place; a consumer that stops early
    (its own error) stops the producer before returning."""
    slots: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, end))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((False, exc))

    thread = threading.Thread(target=produce, name="libtrad-decode", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = slots.get()
            if not ok:
                raise item
            if item is end:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _gpu_ids() -> list:
    """The GPUs Ray assigned this worker (empty outside Ray or without GPUs)."""
    try:
        import ray

        return list(ray.get_gpu_ids()) if ray.is_initialized() else []
    except Exception:  # noqa: BLE001 - only informative
        return []


def _features_json(source: DatasetSource, options: EmbedOptions) -> bytes:
    """datasets' schema metadata for the output (class names survive: ``label`` stays a ClassLabel)."""
    from libtrad.cards.embeddings_card import embeddings_features

    features = embeddings_features(
        source.features, source.schema, source.kept_columns, options.frames, channels=source.named_channels
    )
    return json.dumps({"info": {"features": features.to_dict()}}).encode()


def _decode_cell(cell, rate, where: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    if isinstance(cell, dict):
        data = cell.get("bytes")
        if data is None:
            raise LibtradError(
                f"{where}: the audio has no embedded bytes (only a path: {cell.get('path')!r}); "
                "embed the bytes when exporting (datasets' embed_table_storage)"
            )
        try:
            samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except (RuntimeError, sf.LibsndfileError, ValueError) as exc:
            raise LibtradError(f"{where}: audio cannot be decoded ({first_line(exc)})") from None
        signal = np.ascontiguousarray(samples.T)
    else:
        if cell is None or rate is None:
            raise LibtradError(f"{where}: empty signals or sampling_rate")
        signal = np.asarray(cell, dtype=np.float32)
        if signal.ndim == 1:
            signal = signal[None, :]
        if signal.ndim != 2:
            raise LibtradError(f"{where}: signals must be channels × samples, got shape {signal.shape}")
    if signal.shape[1] == 0:
        raise LibtradError(f"{where}: the clip is empty")
    if not np.isfinite(signal).all():
        raise LibtradError(f"{where}: the signal holds NaN or infinite samples")
    return signal, int(rate)


def _arrow_signals(cell: pa.Scalar, where: str) -> np.ndarray | None:
    """A ``signals`` cell (Arrow list of channels, each a list of samples) as a (channels, samples)
    array taken from Arrow's buffers, without Python lists (None for a null cell)."""
    if not cell.is_valid or cell.values is None:
        return None
    channels = cell.values
    if not (
        pa.types.is_list(channels.type)
        or pa.types.is_large_list(channels.type)
        or pa.types.is_fixed_size_list(channels.type)
    ):
        return channels.to_numpy(zero_copy_only=False)  # one channel stored as a flat list
    import pyarrow.compute as pc

    if channels.null_count or channels.flatten().null_count:
        raise LibtradError(f"{where}: signals hold a null channel or sample")
    lengths = set(pc.list_value_length(channels).to_pylist())
    if len(lengths) > 1:
        raise LibtradError(
            f"{where}: signals must be channels × samples, but its channels hold "
            f"{', '.join(str(n) for n in sorted(lengths))} samples"
        )
    flat = channels.flatten().to_numpy(zero_copy_only=False)
    return flat.reshape(len(channels), lengths.pop() if lengths else 0)


def mixed_channels(rows_per_set: Counter) -> str:
    """ "channel sets DE,FE,BA (3 rows) and DE (2 rows)": what rows of different channel counts embed."""
    return "channel sets " + " and ".join(
        f"{name or 'none'} ({n} row{'s' if n > 1 else ''})" for name, n in rows_per_set.most_common()
    )


def _maybe_crash(unit_name: str) -> None:
    wanted, flag = os.environ.get(_CRASH_UNIT), os.environ.get(_CRASH_FLAG)
    if wanted and flag and unit_name == wanted and not os.path.exists(flag):
        with open(flag, "w") as f:
            f.write(str(os.getpid()))
        os._exit(1)


def _node_id() -> str | None:
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    except Exception:  # noqa: BLE001 - only informative
        return None
