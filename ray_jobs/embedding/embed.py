"""``libtrad embed``: embeddings of a dataset's rows by any encoder, on Ray, resumable, exactly once.

How it runs. The driver resolves the dataset's shards (:mod:`.source`), cuts them into
fixed row ranges ("units", :mod:`.units`) and sends each unit to a pool of Ray actors; an
actor loads the encoder once — from the encoder's files the driver put once into Ray's object
store (:mod:`.encoder_files`), so no node needs the driver's paths — reads its unit's rows
straight from the Parquet shard (a local path for a local job, or any fsspec store: the Hub,
``s3://``, ``gs://``), decodes and embeds them, and returns an Arrow table. The driver writes
each table under the unit's name (on a local disk: temporary name, then rename; on an object
store: one PUT, whole or absent), so a unit retried after a dead actor replaces only itself:
every input row appears exactly once.

Why actors fed units instead of ``read_parquet → map_batches``: on this project's 2-core machine
(GEMM stand-in, 800 clips) Ray Data's read → repartition → map_batches → write cost 25–30 % over an
in-process loop — a few shards become one block, so a pool of two actors feeds one — against the
≤ 10 % overhead target, while units that actors read themselves cost far less (``bench_embed`` in
``bench/RESULTS.md``). Where the named mechanism and the measured target disagree, the target wins.

Resume. The cache key hashes the encoder's file bytes and options, the dataset's shard checksums,
config and splits, and the unit size. Finished units wait in a staging folder named by the key
beside the output; a re-run with the same key (after a crash or SIGKILL) computes only the missing
units. A changed weight or dataset gives a new key: everything is embedded again. The output
folder follows libtrad's rules (:mod:`libtrad.folders.outputs`): marker kind ``embeddings``, never
replacing a folder libtrad did not write, checked before any work. An object-store output
(``s3://BUCKET/PREFIX``, no rename there) follows the same rules through
:class:`libtrad.folders.storage.RemoteOutput`: staged units beside the prefix, then a publication whose
last step writes the marker (the completion manifest), so readers see a whole output or none.

GPUs (:mod:`libtrad.core.devices`). ``device`` is resolved in each actor, on its node; the driver only
checks the text, and for a local job (no ``address``: the driver's node is the one that runs it)
that CUDA asked for is there. On a cluster with GPUs each actor asks Ray for ``gpus_per_actor``
of one (default 1 unless ``device="cpu"``), so by default there is one actor per GPU; the GPU Ray
assigns it is its ``cuda:0``. Neither the device nor the batch size is in the cache key (the
precision is): where each unit ran is recorded in ``embeddings.json`` (``compute``).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from libtrad.core.channels import ChannelSelection, select_channels
from libtrad.core.devices import check_precision, parse_device
from libtrad.core.errors import LibtradError, ParameterError
from libtrad.core.options import check_number
from libtrad.core.paths import exists
from libtrad.core.version import __version__
from libtrad.folders.checksums import sha256_file
from libtrad.folders.lock import output_lock
from libtrad.folders.outputs import atomic_output, check_output, resumable_staging
from libtrad.folders.storage import RemoteOutput, is_url, local_path, protocol
from libtrad.ray_jobs.embedding.actors import attached, run_units
from libtrad.ray_jobs.embedding.encoders import (
    EncoderSpec,
    check_encoder_folder,
    parse_encoder_spec,
    place,
    preflight,
    with_timeout,
)
from libtrad.ray_jobs.embedding.source import DatasetSource, resolve_dataset
from libtrad.ray_jobs.embedding.staged_units import (
    INFO_FILE,
    DiskUnits,
    StoreUnits,
    reuse_finished,
    reuse_from_store,
)
from libtrad.ray_jobs.embedding.units import (
    METADATA_KEY,
    MULTICHANNEL,
    EmbedOptions,
    Unit,
    default_rows_per_unit,
    mixed_channels,
    plan_units,
)

FORMAT = 3  # bump when the output files change (2: datasets features in the shard metadata; 3: channels)


@dataclass
class EmbedSummary:
    output: Path | str  # a local folder, or the object-store URL written
    cache_key: str
    rows: dict[str, int]
    units: int
    computed: int
    reused: int
    output_dim: int
    seconds: dict[str, float] = field(default_factory=dict)
    nodes: set[str] = field(default_factory=set)
    gpus_per_actor: float | None = None  # what the actors asked Ray for (None: no actor was started)
    encoder_verification: dict | None = None  # what libtrad.folders.verify.inputs found in the encoder's folder
    channels: ChannelSelection | None = None  # the channels embedded, and what chose them
    channel_sets: dict[str, int] = field(default_factory=dict)  # rows per embedded channel set ("DE": 105)


def embed_dataset(
    dataset: str,
    encoder: str,
    output: str | Path,
    *,
    config: str | None = None,
    splits: list[str] | None = None,
    address: str | None = None,
    actors: int | None = None,
    threads_per_actor: int | None = None,
    batch_size: int | None = None,
    frames: bool = False,
    multichannel: str = "concat",
    precision: str = "fp32",
    device: str = "auto",
    gpus_per_actor: float | None = None,
    rows_per_unit: int | None = None,
    progress: bool = True,
    no_verify: bool = False,
    encoder_weights: str | Path | None = None,
    channels: str | None = None,
    chunk_seconds: float = 10.0,
    encoder_timeout: float | None = None,
) -> EmbedSummary:
    """Embed ``config``/``splits`` of ``dataset`` with ``encoder`` into the embeddings folder ``output``.

    A local dataset libtrad exported, and an encoder folder libtrad wrote (``convert echo``,
    ``train ae``), are checked against their own checksums first (``no_verify``: used anyway,
    recorded in ``embeddings.json``). ``device``: ``auto|cpu|cuda|cuda:N`` in each actor;
    ``batch_size`` None: 8 clips per call on a CPU, 64 on a GPU; ``gpus_per_actor``: see the module.
    ``channels``: ``"DE"``, ``"DE,FE"``, ``"all"``; None: the dataset's channel policy, else all.
    ``chunk_seconds``: chunk length for long clips (frame-local encoders) and, times the batch size,
    the most audio one forward holds (:mod:`.encoders.chunking`). ``encoder_timeout``: seconds each call
    into a ``py:``/``hear:`` encoder's code may take (import, build, probe, one batch's forward, in the
    driver's load-time probe and in every actor; None: 120 s, :mod:`.encoders.user_code`)."""
    _check_numbers(multichannel, actors, threads_per_actor, rows_per_unit, batch_size, chunk_seconds)
    device = check_device_request(device, precision, gpus_per_actor, local=not address)
    spec = parse_encoder_spec(encoder, weights=encoder_weights)  # encoder_weights: a py: class's safetensors
    spec = with_timeout(spec, encoder_timeout)  # carried to every actor with the spec
    store = _store_output(output, dataset)  # an object-store URL: checked there, before any work
    if store is None:
        output = local_path(output) if is_url(str(output)) else output
        local_input = local_path(dataset) if is_url(dataset) else Path(dataset).expanduser()
        local_input = local_input if local_input is not None and exists(local_input) else None
        inputs = {"dataset": local_input, "encoder": spec.path}
        out = check_output(output, "embeddings", inputs=inputs)
    source = resolve_dataset(dataset, config, splits, no_verify=no_verify)
    selection = select_channels(channels, source.channel_policy)
    encoder_check = check_encoder_folder(spec, no_verify=no_verify)
    preflight(spec, precision=precision)  # loaded here before any actor: a bad folder fails at once, in one line
    options = EmbedOptions(
        frames=frames,
        multichannel=multichannel,
        precision=precision,
        batch_size=batch_size,
        device=device,
        channels=selection.names,
        channels_origin=selection.origin,
        chunk_seconds=float(chunk_seconds),
    )
    unit_rows = rows_per_unit or default_rows_per_unit(sum(s.num_rows for s in source.shards))
    fingerprint = spec.fingerprint()
    key = cache_key(spec, options, source, unit_rows, fingerprint)
    units = plan_units(source, unit_rows)
    run = (fingerprint, address, actors, threads_per_actor, gpus_per_actor, progress)
    with attached(address):  # a refused --address leaves nothing behind: no lock, no resume folder
        if store is not None:
            return _embed_to_store(store, units, spec, options, source, key, unit_rows, encoder_check, run, selection)
        with output_lock(out):
            staging = resumable_staging(out, key[:24])
            verified = reuse_finished(out, staging, key, units)
            staged = DiskUnits(staging)
            missing = [u for u in units if not staged.has(u.name)]
            summary = _summary(out, key, units, missing, encoder_check, selection)
            if missing:
                run_units(missing, spec, options, source, staged, summary, *run)
            with atomic_output(out, "embeddings", inputs=inputs, staging=staging, checksums=verified):
                _finish(staged, units, spec, fingerprint, options, source, key, unit_rows, summary, staging)
    return summary


def _check_numbers(
    multichannel: str,
    actors: int | None,
    threads_per_actor: int | None,
    rows_per_unit: int | None,
    batch_size: int | None,
    chunk_seconds: float,
) -> None:
    """The plain option checks, before anything is read (each a one-line ``ParameterError``)."""
    if multichannel not in MULTICHANNEL:
        raise ParameterError("multichannel", multichannel, f"must be one of {', '.join(MULTICHANNEL)}")
    for name, value in (("actors", actors), ("threads_per_actor", threads_per_actor), ("rows_per_unit", rows_per_unit)):
        if value is not None:
            check_number(name, value, low=1, high=4096, integer=True)
    if batch_size is not None:
        check_number("batch_size", batch_size, low=1, high=65536, integer=True)
    check_number("chunk_seconds", chunk_seconds, low=0.1, high=3600)


def _summary(
    output, key: str, units: list[Unit], missing: list[Unit], encoder_check, selection: ChannelSelection
) -> EmbedSummary:
    """The summary before any unit runs: how many are computed, how many reused (the rest is filled in later)."""
    return EmbedSummary(
        output,
        key,
        {},
        len(units),
        len(missing),
        len(units) - len(missing),
        0,
        encoder_verification=encoder_check,
        channels=selection,
    )


def _store_output(output, dataset: str):
    """A :class:`~libtrad.folders.storage.RemoteOutput` for an object-store ``output`` URL, checked (its bucket
    reachable and readable, the prefix empty or libtrad's embeddings folder); None for a local path
    (or ``file://``: the local disk has rename, and libtrad.folders.outputs' rules apply as they are)."""
    if not is_url(str(output)) or local_path(str(output)) is not None:
        return None

    if protocol(str(output)) == "hf":
        raise ParameterError(
            "output",
            str(output),
            "the Hub is not written by embed (each file would be a commit); "
            "write to a folder or an object store, then `libtrad publish dataset FOLDER --repo-id ...`",
        )

    store = RemoteOutput(str(output), "embeddings", inputs={"dataset": dataset if is_url(dataset) else None})
    store.check()
    return store


def _embed_to_store(
    store,
    units: list[Unit],
    spec: EncoderSpec,
    options: EmbedOptions,
    source: DatasetSource,
    key: str,
    unit_rows: int,
    encoder_check,
    run,
    selection: ChannelSelection,
) -> EmbedSummary:
    """The object-store twin of the local path: staged units under ``.NAME.resume-KEY/`` beside the
    output (one PUT each), reuse of a finished output of the same key, then the completion-manifest
    publication of :class:`~libtrad.folders.storage.RemoteOutput` (marker last)."""
    import tempfile

    staging = store.staging(key[:24])
    staged = StoreUnits(staging)
    reuse_from_store(store, staged, key, units)
    missing = [u for u in units if not staged.has(u.name)]
    summary = _summary(store.url, key, units, missing, encoder_check, selection)
    if missing:
        run_units(missing, spec, options, source, staged, summary, *run)
    with tempfile.TemporaryDirectory(prefix="libtrad-embeddings-info-") as tmp:
        fingerprint = run[0]  # run: (fingerprint, address, actors, threads, gpus_per_actor, progress)
        _finish(staged, units, spec, fingerprint, options, source, key, unit_rows, summary, Path(tmp))
        extras = sorted(p for p in Path(tmp).rglob("*") if p.is_file())
        files = {p.relative_to(tmp).as_posix(): sha256_file(p) for p in extras}
        for path in extras:
            staged.put(path.relative_to(tmp).as_posix(), path.read_bytes())
    files.update({u.name: staged.digest(u.name) for u in units})
    store.publish(staging, files)
    return summary


def check_device_request(device: str, precision: str, gpus_per_actor: float | None, *, local: bool) -> str:
    """The driver's checks of ``device``/``precision``/``gpus_per_actor`` before anything is read or
    written; returns the device text. A local job (``local``: its actors run on this node) also
    resolves the device here, so ``cuda`` without a GPU (or fp16 where auto means the CPU) is one
    line at once instead of an error from every actor."""
    spec = parse_device(device)
    check_precision(precision, "cpu" if spec.kind == "cpu" else None)
    if gpus_per_actor is not None:
        check_number("gpus_per_actor", gpus_per_actor, low=0, high=8)
        if gpus_per_actor > 1 and not float(gpus_per_actor).is_integer():
            raise ParameterError(
                "gpus_per_actor",
                gpus_per_actor,
                "above 1 it must be a whole number of GPUs (Ray shares a GPU only in fractions of one)",
            )
        if gpus_per_actor > 0 and spec.kind == "cpu":
            raise ParameterError(
                "gpus_per_actor",
                gpus_per_actor,
                "asks for GPUs, but --device cpu runs on the CPU; use --gpus-per-actor 0 or --device auto|cuda",
            )
    if local and spec.kind != "cpu":
        place(spec, precision)  # on this node: CUDA asked for must be here, fp16 needs it
    return spec.text


def cache_key(
    spec: EncoderSpec, options: EmbedOptions, source: DatasetSource, rows_per_unit: int, fingerprint: dict | None = None
) -> str:
    """SHA-256 of everything the output depends on: encoder file bytes and options, shard checksums,
    config, splits and unit size — never a class name. ``fingerprint``: ``spec.fingerprint()`` if
    the caller has just taken it (the encoder's files are then shipped checked against it)."""
    identity = {
        "format": FORMAT,
        "encoder": fingerprint or spec.fingerprint(),
        "options": options.identity(),
        "dataset": source.identity(),
        "rows_per_unit": rows_per_unit,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


# ----------------------------------------------------------------------------- finishing
@dataclass
class _UnitTally:
    """What the staged units' own metadata say, summed: rows per split, resampled clips, channel sets,
    the embedding length (one for all: checked), the encoder's record and where the units ran."""

    rows: Counter = field(default_factory=Counter)
    resampled: Counter = field(default_factory=Counter)
    channel_sets: Counter = field(default_factory=Counter)
    multichannel_rows: int = 0
    encoder_info: dict | None = None
    dim: int | None = None
    computed_on: dict[str, dict] = field(default_factory=dict)  # distinct device records
    unrecorded: int = 0  # units reused from a run older than the record

    @classmethod
    def read(cls, staged, units: list[Unit]) -> _UnitTally:
        """Every unit's metadata, checked (its row count; one embedding length for all)."""
        tally = cls()
        for unit in units:
            meta = staged.metadata(unit.name)
            info = json.loads(meta.get(METADATA_KEY, b"{}"))
            if info.get("rows") != unit.end - unit.start:
                raise LibtradError(
                    f"{staged.shown(unit.name)}: holds {info.get('rows')} rows, expected {unit.end - unit.start}"
                )
            if tally.dim is not None and info["dim"] != tally.dim:
                sets = tally.channel_sets + Counter(info.get("channel_sets", {}))
                raise LibtradError(
                    f"{staged.shown(unit.name)}: embeddings of length {info['dim']}, others {tally.dim}: the "
                    f"rows embed {mixed_channels(sets)}; choose channels every row has with --channels, "
                    "or use --multichannel mean"
                )
            tally.dim, tally.encoder_info = info["dim"], info["encoder"]
            tally.rows[unit.shard.split] += info["rows"]
            tally.resampled.update(info.get("resampled", {}))
            tally.channel_sets.update(info.get("channel_sets", {}))
            tally.multichannel_rows += info.get("multichannel_rows", 0)
            if "compute" in info:
                where = {k: v for k, v in info["compute"].items() if k != "gpu_ids"}
                tally.computed_on[json.dumps(where, sort_keys=True)] = where
            else:
                tally.unrecorded += 1
        return tally

    def compute(self) -> dict:
        """``embeddings.json``'s ``compute``: the distinct devices the units ran on, the GPU shares."""
        return {
            "devices": [self.computed_on[k] for k in sorted(self.computed_on)],
            "gpus_per_actor": sorted(
                {d.get("gpus_per_actor") for d in self.computed_on.values()}, key=lambda v: (v is None, v)
            ),
            **({"units_without_record": self.unrecorded} if self.unrecorded else {}),
        }


def _finish(
    staged,
    units: list[Unit],
    spec: EncoderSpec,
    fingerprint: dict,
    options: EmbedOptions,
    source: DatasetSource,
    key: str,
    rows_per_unit: int,
    summary: EmbedSummary,
    folder: Path,
) -> None:
    """Drop anything not planned from the staged units, check every unit, write embeddings.json and
    the card into ``folder`` (the staging folder itself on a local disk). ``fingerprint``: the
    encoder's, as the cache key was computed from it (recorded as it is, not hashed again)."""
    from libtrad.cards.embeddings_card import embeddings_features, write_embeddings_card

    staged.prune({u.name for u in units})
    tally = _UnitTally.read(staged, units)
    summary.rows, summary.output_dim, summary.channel_sets = dict(tally.rows), int(tally.dim), dict(tally.channel_sets)
    selection = summary.channels or options.selection()
    record = {
        "format": FORMAT,
        "libtrad_version": __version__,
        "cache_key": key,
        "encoder": {
            "spec": spec.text,
            **fingerprint,
            **tally.encoder_info,
            **({"verification": summary.encoder_verification} if summary.encoder_verification else {}),
        },
        "options": {**options.identity(), "rows_per_unit": rows_per_unit, "chunk_seconds": options.chunk_seconds},
        "embedding_dim": int(tally.dim),
        "dataset": {
            "source": source.display,
            "hub_id": source.hub_id,
            "revision": source.revision,
            "component": source.component,  # the builder's (manifest.json): the leaderboard's column
            "config": source.config,
            "splits": source.splits,
            "synthetic": bool(source.synthetic),  # its card says stand-in: results say so (flags.py)
            "shards": [
                {"split": s.split, "key": s.key, "sha256": s.checksum, "rows": s.num_rows} for s in source.shards
            ],
            **({"verification": source.verification} if source.verification is not None else {}),
        },
        "rows": dict(tally.rows),
        "resampled": dict(tally.resampled),
        "multichannel_rows": tally.multichannel_rows,
        "channels": {
            "selection": selection.identity,
            "chosen_by": selection.origin,
            "policy": source.channel_policy.to_yaml() if source.channel_policy else None,
            "rows_per_set": dict(sorted(tally.channel_sets.items())),
        },
        "compute": tally.compute(),
    }
    (folder / INFO_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    features = embeddings_features(
        source.features, source.schema, source.kept_columns, options.frames, channels=source.named_channels
    )
    write_embeddings_card(folder, record, features, source.synthetic)
