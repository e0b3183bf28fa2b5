"""The datasets libtrad can synthesize and build: one entry per family drives ``libtrad synth|build NAME``.

An entry names its components (one Hub dataset each: LiB-TRAD has one, SIREN ten) as lazy
``module:attribute`` references, so listing the commands (``libtrad --help``) imports no dataset
code, and declares its options once (:class:`~libtrad.options.OptionSpec`) for the library's
checks and the CLI's flags alike.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from libtrad.errors import ParameterError
from libtrad.options import SEED_MAX, OptionSpec, resolve_options

COMMON_BUILD = ("data_dir", "output_dir", "configs", "on_error", "repo_id", "license", "progress")


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset family: its components, build and synth options, and its synthesizer."""

    name: str
    summary: str
    components: Mapping[str, str]  # component name -> "module:ATTRIBUTE" of a DatasetComponent
    synthesizer: str  # "module:function" writing a synthetic stand-in in the official raw layout
    build_options: tuple[OptionSpec, ...] = ()
    synth_options: tuple[OptionSpec, ...] = ()
    data_dir_help: str = "The raw folder, as its publisher distributes it."
    default_output: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def multi(self) -> bool:
        """Several components: the commands take ``--component``."""
        return len(self.components) > 1

    def component(self, name: str | None = None):
        if name is None and not self.multi:
            name = next(iter(self.components))
        if name not in self.components:
            raise ParameterError("component", name, f"must be one of {', '.join(self.components)}")
        return _load(self.components[name])

    def resolve_build_options(self, values: dict) -> dict:
        return resolve_options(self.build_options, values)

    def synthesize(self, out: str | Path, *, component: str | None = None, progress: bool = True, **options):
        """Write a synthetic stand-in to ``out``; returns a summary with ``describe()``."""
        values = resolve_options(self.synth_options, options)
        if self.multi:
            if component not in self.components:
                raise ParameterError("component", component, f"must be one of {', '.join(self.components)}")
            values["component"] = component
        return _load(self.synthesizer)(out, progress=progress, **values)

    def build(self, data_dir, output_dir=None, *, component: str | None = None, configs=None, on_error="raise",
              repo_id=None, license=None, progress: bool = True, **options):
        """Export one component of this family (see :func:`libtrad.builders.export.export_dataset`)."""
        from libtrad.builders.export import export_dataset

        chosen = self.component(component)
        return export_dataset(chosen, data_dir, output_dir or self.default_output or chosen.name, configs=configs,
                              on_error=on_error, repo_id=repo_id, license=license, progress=progress, **options)


def _load(reference: str):
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


_SEED = dict(kind=int, low=0, high=SEED_MAX)

LIB_TRAD = DatasetEntry(
    name="lib-trad",
    summary="LiB-TRAD: lithium-battery thermal runaway, 4 microphones, 16 kHz.",
    components={"lib-trad": "libtrad.builders.lib_trad.export:LIB_TRAD"},
    synthesizer="libtrad.builders.lib_trad.synth:synthesize_lib_trad",
    default_output="lib-trad",
    data_dir_help="Raw layout: TR1/ TR2/ TR3/ (normal/, abnormal/), normal_charging/, annotations.csv.",
    build_options=(
        OptionSpec("split_strategy", "grouped", "grouped: a segment's 4 channels stay together; paper: per-file "
                   "random; temporal: train on the earliest segments.", kind=str,
                   choices=("grouped", "paper", "temporal")),
        OptionSpec("seed", 0, "Split seed.", **_SEED),
        OptionSpec("train_fraction", 0.8, "Share of the pool that goes to train.", low=0, high=1, low_open=True,
                   high_open=True),
        OptionSpec("resample", False, "Resample files at other sample rates to 16 kHz instead of rejecting them.",
                   kind=bool),
        OptionSpec("duration_tolerance_s", 0.1, "Allowed deviation from 10 s per file, in seconds.", low=0, high=10,
                   flag="--duration-tolerance"),
    ),
    synth_options=(
        OptionSpec("scale", 1.0, "Multiplies the paper's segment counts (100/185/186, 1000/41).", low=0,
                   low_open=True, high=100),
        OptionSpec("seed", 0, "Seed.", **_SEED),
        OptionSpec("snr_db", 10.0, "Venting-to-background level: the difficulty knob (lower is harder).", low=-60,
                   high=100),
        OptionSpec("layout", "mono", "Per-microphone mono WAVs or 4-channel WAVs.", kind=str,
                   choices=("mono", "multichannel")),
    ),
)

DATASETS: dict[str, DatasetEntry] = {entry.name: entry for entry in (LIB_TRAD,)}


def register(entry: DatasetEntry) -> DatasetEntry:
    """Add a dataset family (a name may be registered once)."""
    if entry.name in DATASETS and DATASETS[entry.name] is not entry:
        raise ValueError(f"dataset {entry.name!r} is already registered")
    DATASETS[entry.name] = entry
    return entry


def dataset(name: str) -> DatasetEntry:
    if name not in DATASETS:
        raise ParameterError("dataset", name, f"must be one of {', '.join(DATASETS)}")
    return DATASETS[name]
