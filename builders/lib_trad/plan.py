"""LiB-TRAD's protocols: configs, features, protocol splits, examples (the plan every build path reads).

The export (:mod:`libtrad.builders.lib_trad.export`) and the ``datasets`` builder
(:data:`libtrad.builders.lib_trad.builder.LibTrad`, the generic
:func:`~libtrad.builders.hf_builder.make_builder` over the same component) both write the rows
:class:`LibTradPlan` gives.

Configs (each a protocol of the paper over one experiment or all three):

* ``tr1``, ``tr2``, ``tr3``, ``all`` — unsupervised anomaly detection (paper Table 3):
  ``train`` = 80 % of the normal audio, ``test`` = the other 20 % of normal + all abnormal.
* ``tr1_cls`` ... ``all_cls`` — supervised classification (paper Table 2): ``train`` /
  ``validation`` = 80 / 20 % of everything, drawn per experiment and label.
* ``segments`` — one row per 10-s segment holding all four microphones (4-channel WAV).
* ``normal_charging`` — the normal-charging sets (not used for training in the paper).

Rows of the per-channel configs are one microphone of one segment, as in the paper ("each
channel of the array is treated as a separate audio file"). ``split_strategy``: ``grouped``
(default) keeps the four channels of a segment on one side; ``paper`` splits channel files
independently, as the paper's per-file random split does; ``temporal`` trains on the earliest
segments (by ``start_s`` when annotated, else by segment number).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import datasets
import numpy as np

from libtrad.builders.audio_samples import encode_wav, read_samples, resample
from libtrad.builders.lib_trad.layout import (
    EXPERIMENTS,
    LABELS,
    SAMPLE_RATE,
    SEGMENT_SECONDS,
    ChannelRef,
    LibTradScan,
    Segment,
    charging_sets,
)
from libtrad.builders.splits import STRATEGIES, split_pools
from libtrad.core.errors import LibtradError

CITATION = """\
@article{libtrad2025,
  title   = {{LiB-TRAD}: A Lithium Battery Thermal Runaway Acoustic Dataset for Anomalous Sound Detection},
  author  = {{The LiB-TRAD authors}},
  journal = {Scientific Data},
  year    = {2025},
  note    = {4-microphone array, 16 kHz, three overcharge-triggered thermal-runaway experiments}
}"""
DESCRIPTION = (
    "LiB-TRAD: a four-microphone, 16 kHz acoustic recording of lithium-battery thermal runaway "
    "(normal charging/machinery noise vs safety-valve opening and venting), with the paper's "
    "supervised and unsupervised anomaly-detection protocols."
)
PROTOCOLS = ("anomaly", "classification", "segments", "charging")


@dataclass
class LibTradConfig(datasets.BuilderConfig):
    """One LiB-TRAD view. Split/validation options are recorded in the card and manifest."""

    experiments: tuple[str, ...] = EXPERIMENTS
    protocol: str = "anomaly"
    split_strategy: str = "grouped"
    seed: int = 0
    train_fraction: float = 0.8
    on_error: str = "raise"
    resample: bool = False
    duration_tolerance_s: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        if self.protocol not in PROTOCOLS:
            raise LibtradError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {self.protocol!r}")
        if self.split_strategy not in STRATEGIES:
            raise LibtradError(f"--split-strategy must be one of {', '.join(STRATEGIES)}, not {self.split_strategy!r}")
        if not 0.0 < self.train_fraction < 1.0:
            raise LibtradError(f"train fraction must be strictly between 0 and 1, not {self.train_fraction}")
        self.experiments = tuple(self.experiments)

    @property
    def split_names(self) -> tuple[str, ...]:
        return {"anomaly": ("train", "test"), "classification": ("train", "validation")}.get(self.protocol, ("train",))


def _configs() -> list[LibTradConfig]:
    configs = []
    for protocol, suffix, what in (("anomaly", "", "anomaly detection"), ("classification", "_cls", "classification")):
        for exp in EXPERIMENTS:
            configs.append(
                LibTradConfig(
                    name=f"{exp.lower()}{suffix}",
                    experiments=(exp,),
                    protocol=protocol,
                    description=f"Experiment {exp}, {what} protocol.",
                )
            )
        configs.append(
            LibTradConfig(
                name=f"all{suffix}",
                experiments=EXPERIMENTS,
                protocol=protocol,
                description=f"All three experiments, {what} protocol.",
            )
        )
    configs.append(
        LibTradConfig(
            name="segments", protocol="segments", description="One row per 10-s segment with all four microphones."
        )
    )
    configs.append(
        LibTradConfig(
            name="normal_charging",
            experiments=(),
            protocol="charging",
            description="The normal-charging sets (near-silent; not used for training).",
        )
    )
    return configs


CONFIGS = _configs()
CONFIG_NAMES = tuple(c.name for c in CONFIGS)


def lib_trad_features(protocol: str) -> datasets.Features:
    """Per-channel rows (mono audio) or, for ``segments``, 4-channel rows with per-file lists."""
    multi = protocol == "segments"
    text = datasets.Value("string")
    return datasets.Features(
        {
            "audio": datasets.Audio(sampling_rate=SAMPLE_RATE),
            "label": datasets.ClassLabel(names=list(LABELS)),
            "experiment": text,
            "segment": datasets.Value("int32"),
            **({} if multi else {"channel": datasets.Value("int8")}),
            "start_s": datasets.Value("float64"),
            "event_onset_s": datasets.Value("float64"),
            "event_offset_s": datasets.Value("float64"),
            "source_file": datasets.List(text) if multi else text,
            "sha256": datasets.List(text) if multi else text,
        }
    )


def config_groups(config: LibTradConfig, data_dir: Path) -> tuple[str, ...]:
    """The raw-layout folders a config reads (experiments, or the charging sets present)."""
    if config.protocol != "charging":
        return config.experiments
    sets = tuple(charging_sets(data_dir))
    if not sets:
        raise LibtradError(f"{data_dir}: no normal_charging/<SET>/ folders for config {config.name!r}")
    return sets


@dataclass(frozen=True)
class _Row:
    segment: Segment
    ref: ChannelRef | None  # None: the whole 4-channel segment

    @property
    def key(self) -> str:
        return self.segment.key if self.ref is None else f"{self.segment.key}/ch{self.ref.channel}"


class LibTradPlan:
    """Which rows go to which split for one config, and the examples they become.

    The builder and the Hub export both generate examples through this one class.
    """

    def __init__(self, scan: LibTradScan, config: LibTradConfig):
        self.scan, self.config = scan, config
        if config.protocol == "charging":
            segments = [s for s in scan.segments if s.experiment not in EXPERIMENTS]
        else:
            segments = [s for s in scan.segments if s.experiment in config.experiments]
        if config.protocol == "segments":
            rows = [_Row(s, None) for s in segments]
        else:
            rows = [_Row(s, ref) for s in segments for ref in s.channels]
        self._splits = self._assign(rows)

    @property
    def split_names(self) -> tuple[str, ...]:
        return self.config.split_names

    def rows(self, split: str) -> list[_Row]:
        return self._splits[split]

    def _assign(self, rows: list[_Row]) -> dict[str, list[_Row]]:
        cfg = self.config
        if cfg.protocol in ("segments", "charging"):
            return {"train": rows}
        per_file = cfg.split_strategy == "paper"
        unit_key = (lambda r: r.key) if per_file else (lambda r: r.segment.key)
        units = {unit_key(r): r for r in rows}.values()
        if cfg.protocol == "anomaly":
            units = [u for u in units if u.segment.label == "normal"]
            pool = lambda r: r.segment.experiment  # noqa: E731
        else:
            pool = lambda r: (r.segment.experiment, r.segment.label)  # noqa: E731
        train = split_pools(
            units,
            pool=pool,
            key=unit_key,
            time=lambda r: (_start_time(r.segment), r.segment.segment),
            strategy=cfg.split_strategy,
            seed=cfg.seed,
            train_fraction=cfg.train_fraction,
        )
        other = cfg.split_names[1]
        out: dict[str, list[_Row]] = {"train": [], other: []}
        for row in rows:
            out["train" if unit_key(row) in train else other].append(row)
        return out

    def examples(self, split: str) -> Iterator[tuple[str, dict]]:
        """(key, example) pairs with the audio bytes embedded, in a stable order."""
        for row in self._splits[split]:
            yield row.key, self.example(row)

    def example(self, row: _Row) -> dict:
        """The example of one row (audio bytes embedded)."""
        seg = row.segment
        base = f"{seg.experiment}/{seg.label}/seg{seg.segment:04d}"
        if row.ref is None:
            sources = sorted({ref.source.path: ref.source for ref in seg.channels}.values(), key=lambda s: s.path)
            audio = {"bytes": _segment_wav(seg), "path": f"{base}.wav"}
            source_file = [self.scan.relative(s.path) for s in sources]
            sha = [s.sha256 for s in sources]
            extra = {}
        else:
            audio = {"bytes": _channel_wav(row.ref), "path": f"{base}_ch{row.ref.channel}.wav"}
            source_file, sha = self.scan.relative(row.ref.source.path), row.ref.source.sha256
            extra = {"channel": row.ref.channel}
        return {
            "audio": audio,
            "label": seg.label,
            "experiment": seg.experiment,
            "segment": seg.segment,
            **extra,
            "start_s": seg.start_s,
            "event_onset_s": seg.event_onset_s,
            "event_offset_s": seg.event_offset_s,
            "source_file": source_file,
            "sha256": sha,
        }


def _start_time(segment: Segment) -> float:
    return segment.start_s if segment.start_s is not None else segment.segment * SEGMENT_SECONDS


@lru_cache(maxsize=2)
def _decoded(path: Path) -> tuple[np.ndarray, int, str]:
    """The last files decoded: the four rows of a 4-channel file decode it once."""
    samples, sr, subtype = read_samples(path)
    return resample(samples, sr, SAMPLE_RATE), sr, subtype


def _channel_wav(ref: ChannelRef) -> bytes:
    """One microphone as 16 kHz WAV bytes: the source bytes themselves when nothing changes."""
    src = ref.source
    if ref.column is None and src.sample_rate == SAMPLE_RATE:
        return src.path.read_bytes()
    samples, _, subtype = _decoded(src.path)
    column = samples[:, [ref.column or 0]]
    return encode_wav(column, SAMPLE_RATE, subtype)


def _segment_wav(segment: Segment) -> bytes:
    """All four microphones as one 16 kHz 4-channel WAV."""
    multi = segment.multichannel_source
    if multi is not None and multi.sample_rate == SAMPLE_RATE:
        return multi.path.read_bytes()
    if multi is not None:
        samples, _, subtype = _decoded(multi.path)
        return encode_wav(samples, SAMPLE_RATE, subtype)
    parts = [_decoded(ref.source.path) for ref in segment.channels]
    subtypes = sorted({p[2] for p in parts})
    if len(subtypes) > 1:  # the scan rejects such segments; never write them downgraded to one format
        raise LibtradError(f"segment {segment.key}: its channel files differ in sample format ({', '.join(subtypes)})")
    stacked = np.concatenate([p[0] for p in parts], axis=1)
    return encode_wav(stacked, SAMPLE_RATE, subtypes[0])
