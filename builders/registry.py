"""The datasets libtrad can synthesize and build: one entry per family drives ``libtrad synth|build NAME``.

An entry names its components (one Hub dataset each: LiB-TRAD and MIMII have one, SIREN fifteen) as lazy
``module:attribute`` references, so listing the commands (``libtrad --help``) imports no dataset
code, and declares its options once (:class:`~libtrad.core.options.OptionSpec`) for the library's
checks and the CLI's flags alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from libtrad.builders.difficulty import synth_options as synth_difficulty
from libtrad.core.errors import LibtradError, ParameterError
from libtrad.core.options import SEED_MAX, OptionSpec, resolve_options
from libtrad.core.resolve import resolve
from libtrad.folders.marker import MARKER, read_marker
from libtrad.folders.outputs import refuse_input_url

# The export driver, named like the components and synthesizers: the driver itself reads a component's
# build options from this table (DatasetComponent.check_options), so the table never imports it.
EXPORT_DRIVER = "libtrad.builders.export:export_dataset"


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
        return resolve(self.components[name])

    def resolve_build_options(self, values: dict) -> dict:
        return resolve_options(self.build_options, values)

    def synthesize(self, out: str | Path, *, component: str | None = None, progress: bool = True, **options):
        """Write a synthetic stand-in to ``out``; returns a summary with ``describe()``."""
        values = resolve_options(self.synth_options, options)
        if self.multi and component == "all":
            return synthesize_family(self, out, progress=progress, **values)
        if self.multi:
            if component not in self.components:
                raise ParameterError("component", component, f"must be one of {', '.join(self.components)}")
            values["component"] = component
        return resolve(self.synthesizer)(out, progress=progress, **values)

    def build(
        self,
        data_dir,
        output_dir=None,
        *,
        component: str | None = None,
        configs=None,
        on_error="raise",
        repo_id=None,
        license=None,
        progress: bool = True,
        **options,
    ):
        """Export one component of this family (see :func:`libtrad.builders.export.export_dataset`)."""
        export_dataset = resolve(EXPORT_DRIVER)
        if self.multi and component == "all":
            return build_family(
                self,
                data_dir,
                output_dir,
                configs=configs,
                on_error=on_error,
                repo_id=repo_id,
                license=license,
                progress=progress,
                **options,
            )
        chosen = self.component(component)
        return export_dataset(
            chosen,
            data_dir,
            output_dir or self.default_output or chosen.name,
            configs=configs,
            on_error=on_error,
            repo_id=repo_id,
            license=license,
            progress=progress,
            **options,
        )


@dataclass
class FamilySummary:
    """What ``--component all`` did: one summary per component, and the component folders not found."""

    parts: list[tuple[str, object]]
    missing: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"[{name}] {summary.describe()}" for name, summary in self.parts]
        if self.missing:
            lines.append(f"not built (no folder of that name in --data-dir): {', '.join(self.missing)}")
        return "\n".join(lines)


def build_family(entry: DatasetEntry, data_dir, output_dir=None, **kwargs) -> FamilySummary:
    """``--component all``: DATA_DIR/<component>/ -> OUTPUT/<component>/, one dataset export each.

    A folder in DATA_DIR named after no component is an error naming it (never skipped silently);
    components without a folder are listed in the summary.
    """
    refuse_input_url(data_dir, "--data-dir")
    root = Path(data_dir).expanduser().resolve()
    out_root = Path(output_dir or entry.name).expanduser().resolve()
    if not root.is_dir():
        raise ParameterError("data_dir", str(root), "no such folder")
    if out_root == root or out_root.is_relative_to(root) or root.is_relative_to(out_root):
        raise ParameterError("output_dir", str(out_root), f"may not be, contain or lie inside --data-dir {root}")
    if out_root.is_dir() and read_marker(out_root) is not None:
        raise ParameterError(
            "output_dir",
            str(out_root),
            f"is itself a libtrad folder ({MARKER}); with --component "
            "all it must be a plain folder that holds one export per component",
        )
    strays = sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and p.name not in entry.components)
    if strays:
        raise LibtradError(
            f"{root}: {', '.join(strays)}: not a component folder (expected folders named "
            f"{', '.join(entry.components)})"
        )
    present = [name for name in entry.components if (root / name).is_dir()]
    if not present:
        raise ParameterError("data_dir", str(root), f"holds no component folder ({', '.join(entry.components)})")
    parts = [(name, entry.build(root / name, out_root / name, component=name, **kwargs)) for name in present]
    return FamilySummary(parts, [name for name in entry.components if name not in present])


def synthesize_family(entry: DatasetEntry, out, **kwargs) -> FamilySummary:
    """``synth --component all``: one synthetic stand-in per component, in OUT/<component>/."""
    out = Path(out)
    return FamilySummary([(name, entry.synthesize(out / name, component=name, **kwargs)) for name in entry.components])


_SEED = dict(kind=int, low=0, high=SEED_MAX)

LIB_TRAD = DatasetEntry(
    name="lib-trad",
    summary="LiB-TRAD: lithium-battery thermal runaway, 4 microphones, 16 kHz.",
    components={"lib-trad": "libtrad.builders.lib_trad.export:LIB_TRAD"},
    synthesizer="libtrad.builders.lib_trad.synth:synthesize_lib_trad",
    default_output="lib-trad",
    data_dir_help="Raw layout: TR1/ TR2/ TR3/ (normal/, abnormal/), normal_charging/, annotations.csv.",
    build_options=(
        OptionSpec(
            "split_strategy",
            "grouped",
            "grouped: a segment's 4 channels stay together; paper: per-file "
            "random; temporal: train on the earliest segments.",
            kind=str,
            choices=("grouped", "paper", "temporal"),
        ),
        OptionSpec("seed", 0, "Split seed.", **_SEED),
        OptionSpec(
            "train_fraction", 0.8, "Share of the pool that goes to train.", low=0, high=1, low_open=True, high_open=True
        ),
        OptionSpec(
            "resample", False, "Resample files at other sample rates to 16 kHz instead of rejecting them.", kind=bool
        ),
        OptionSpec(
            "duration_tolerance_s",
            0.1,
            "Allowed deviation from 10 s per file, in seconds.",
            low=0,
            high=10,
            flag="--duration-tolerance",
        ),
    ),
    synth_options=(
        OptionSpec(
            "scale",
            1.0,
            "Multiplies the paper's segment counts (100/185/186, 1000/41).",
            low=0,
            low_open=True,
            high=100,
        ),
        OptionSpec("seed", 0, "Seed.", **_SEED),
        *synth_difficulty("Venting-to-background level"),
        OptionSpec(
            "layout", "mono", "Per-microphone mono WAVs or 4-channel WAVs.", kind=str, choices=("mono", "multichannel")
        ),
    ),
)

DCASE_YEARS = tuple(range(2020, 2027))
SIREN = DatasetEntry(
    name="siren",
    summary=(
        "SIREN, the machine-signal benchmark of the ECHO paper: DCASE Task 2 2020-2025 and the two-channel "
        "2026 (anomalous sound detection), CWRU and MAFAULDA (vibration), IIEE and IICA (sound) fault classification."
    ),
    components={
        **{f"dcase{year}": f"libtrad.builders.dcase.components:DCASE{year}" for year in DCASE_YEARS},
        "cwru": "libtrad.builders.fault.cwru:COMPONENT",
        "mafaulda": "libtrad.builders.fault.mafaulda:COMPONENT",
        "iiee": "libtrad.builders.fault.iiee:COMPONENT",
        "iica": "libtrad.builders.fault.iica:COMPONENT",
        "paderborn": "libtrad.builders.fault.paderborn:COMPONENT",
        "xjtu-sy": "libtrad.builders.fault.xjtu_sy:COMPONENT",
        "mfpt": "libtrad.builders.fault.mfpt:COMPONENT",
        "seu": "libtrad.builders.fault.seu:COMPONENT",
        "jnu": "libtrad.builders.fault.jnu:COMPONENT",
    },
    synthesizer="libtrad.builders.siren:synthesize_siren",
    data_dir_help="The component's raw folder as its publisher distributes it (each layout: its page in "
    "libtrad's documentation, docs/).",
    build_options=(
        OptionSpec(
            "eval_list",
            None,
            "DCASE only: the evaluation ground-truth CSV (default: the folder's own, "
            "else the list shipped with libtrad).",
            kind=Path,
        ),
        OptionSpec(
            "allow_unlabelled", False, "DCASE only: keep evaluation clips without ground truth (label -1).", kind=bool
        ),
    ),
    synth_options=(
        OptionSpec(
            "scale",
            1.0,
            "Multiplies the stand-in's (small) number of files per class/section/domain.",
            low=0,
            low_open=True,
            high=100,
        ),
        OptionSpec("seed", 0, "Seed.", **_SEED),
        *synth_difficulty("Anomaly-to-background (DCASE) or class-signature (fault corpora) level"),
    ),
    extra={"tiny_synth": {"scale": 1.0}},
)
LIB_TRAD.extra["tiny_synth"] = {"scale": 0.02}

MIMII = DatasetEntry(
    name="mimii",
    summary=(
        "MIMII (Hitachi): fan, pump, slider and valve sounds, 8 microphones, 16 kHz, mixed with factory noise "
        "at -6, 0 and 6 dB SNR."
    ),
    components={"mimii": "libtrad.builders.mimii.component:MIMII"},
    synthesizer="libtrad.builders.mimii.synth:synthesize_mimii",
    default_output="mimii",
    data_dir_help=(
        "The unpacked Zenodo archives: -6_dB_fan/ ... 6_dB_valve/ (each <machine>/id_XX/{normal,abnormal}/"
        "NNNNNNNN.wav), or the baseline's min6dB/ 0dB/ 6dB/ folders."
    ),
    build_options=(
        OptionSpec(
            "split_strategy",
            "baseline",
            "baseline: per SNR, machine and ID the first N normal clips by name "
            "(N = its anomalous clips) are tested, as Hitachi's baseline splits; random: those N drawn with "
            "--seed.",
            kind=str,
            choices=("baseline", "random"),
        ),
        OptionSpec("seed", 0, "Seed of --split-strategy random.", **_SEED),
    ),
    synth_options=(
        OptionSpec(
            "scale",
            1.0,
            "Multiplies the stand-in's (small) number of clips per SNR, machine and ID.",
            low=0,
            low_open=True,
            high=100,
        ),
        OptionSpec("seed", 0, "Seed.", **_SEED),
        *synth_difficulty("Anomaly-to-machine level (before the factory noise of each SNR)"),
    ),
    extra={"tiny_synth": {"scale": 0.5}},
)

DATASETS: dict[str, DatasetEntry] = {entry.name: entry for entry in (LIB_TRAD, SIREN, MIMII)}


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
