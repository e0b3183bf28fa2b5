"""``libtrad build mimii``: MIMII on the generic export driver, each clip's eight microphones in one row.

Configs: ``min6dB``, ``0dB`` and ``6dB`` (one per SNR, named as Hitachi's baseline names its
folders) and ``all``, their union (the same Parquet shards, listed twice in the card's YAML); a
build makes the SNRs the folder has, and ``all``. Splits ``train`` and ``test`` follow the MIMII
protocol per SNR × machine type × machine ID (:mod:`.protocol`; ``--split-strategy baseline``,
the default, or ``random`` with ``--seed``).

A row is one published clip, the multichannel form LiB-TRAD's ``segments`` config uses: the
8-channel WAV embedded byte for byte as published (WAVE_FORMAT_EXTENSIBLE, 16 bit), so
``ds[i]["audio"].get_all_samples().data`` is 8 × 160 000; the ``channels`` column names its
channels ``ch1`` … ``ch8`` in file order (LiB-TRAD's microphone naming, the fault corpora's
``channels`` column). Hitachi's baseline reads the first channel only (``demux_wav(...,
channel=0)``), which is ``ch1`` here (:data:`BASELINE_CHANNEL`): the channel policy's default, so
``libtrad embed`` runs the corpus as the publisher's baseline does; ``--channels all`` embeds every
microphone (concatenated, or averaged with ``--multichannel mean``), ``--channels ch1,ch5`` a subset.

Validation reads each clip whole once (:func:`~libtrad.builders.audio_io.validate_audio`: a
complete RIFF/WAVE file, 16 kHz, 8 channels, 10 ± 0.1 s — a synthetic stand-in's clips: the
length its ``SYNTHETIC.json`` records — and its SHA-256); no two clips may hold the same bytes
(:func:`~libtrad.builders.scan.same_bytes`). The export reads each clip again straight into its
Parquet row group and refuses one whose SHA-256 changed in between, naming it. Reading twice is
the price of the ``sha256`` column and the same-bytes check before anything is written.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import datasets

from libtrad.builders.audio_io import (
    AudioCheck,
    DataFolder,
    InvalidAudio,
    SourceAudio,
    read_source,
    read_source_into,
    validate_audio,
)
from libtrad.builders.download import Download
from libtrad.builders.export import CardContext, DatasetComponent, ScanResult
from libtrad.builders.hub_export import ConfigSource, FileBytes, SplitSource
from libtrad.builders.mimii.layout import (
    CHANNEL_NAMES,
    CLIP_SECONDS,
    LABELS,
    MACHINE_IDS,
    MACHINES,
    NUM_CHANNELS,
    SAMPLE_RATE,
    SNR_CONFIGS,
    SNRS,
    Clip,
    archive_name,
    find_clips,
    snrs_present,
)
from libtrad.builders.mimii.protocol import SPLITS, assign_splits
from libtrad.builders.scan import Rejection, enforce_on_error, read_synthetic_marker, same_bytes, validate_all
from libtrad.core.channels import ChannelPolicy
from libtrad.core.errors import LibtradError, ParameterError

UNION = "all"
CONFIG_NAMES = (*SNR_CONFIGS.values(), UNION)
DURATION_TOLERANCE_S = 0.1
BASELINE_CHANNEL = CHANNEL_NAMES[0]  # the one channel Hitachi's baseline (and a mono pipeline) reads
FIGURE = "images/normal_vs_abnormal_logmel.png"
RECORD = "https://zenodo.org/records/3384388"
LICENSE = "cc-by-sa-4.0"
LICENSE_TEXT = (
    "Creative Commons Attribution-ShareAlike 4.0 International (CC BY-SA 4.0), as Hitachi, Ltd. states "
    "on the Zenodo record; an export is an adaptation and carries the same license"
)
# The Zenodo record's archives: size and MD5 as the record lists them (Zenodo gives MD5, not SHA-256).
ARCHIVES = {
    "-6_dB_fan": ("10.9 GB", "f02ae808a58d84b6815b7ec38ff30879"),
    "-6_dB_pump": ("8.2 GB", "d20b783a0ff9c93d58f452f98c37b112"),
    "-6_dB_slider": ("8.0 GB", "49913eda7d37f182cbf8ed5c984140e0"),
    "-6_dB_valve": ("8.0 GB", "fdfaf185fea61b21e11952a070a4ada7"),
    "0_dB_fan": ("10.4 GB", "6354d1cc2165c52168f9ef1bcd9c7c52"),
    "0_dB_pump": ("7.9 GB", "488748295c3f60b25de07b58fe75b049"),
    "0_dB_slider": ("7.5 GB", "4d674c21474f0646ecd75546db6c0c4e"),
    "0_dB_valve": ("7.5 GB", "178478eb0d11c79080a35562bfdeee71"),
    "6_dB_fan": ("10.2 GB", "0890f7d3c2fd8448634e69ff1d66dd47"),
    "6_dB_pump": ("7.7 GB", "a09ba6060c10fc09cd4c8770213b0b9f"),
    "6_dB_slider": ("7.1 GB", "838c2b3441858359c4704ef13a1b27ff"),
    "6_dB_valve": ("6.9 GB", "fe5fb7c337cd701b1d31dc641e621892"),
}
CITATION = """\
@inproceedings{purohit2019mimii,
  author    = {Purohit, Harsh and Tanabe, Ryo and Ichige, Kenji and Endo, Takashi and Nikaido, Yuki and
               Suefusa, Kaori and Kawaguchi, Yohei},
  title     = {{MIMII} Dataset: Sound Dataset for Malfunctioning Industrial Machine Investigation and Inspection},
  booktitle = {Proceedings of the 4th Workshop on Detection and Classification of Acoustic Scenes and Events
               (DCASE 2019)},
  year      = {2019},
  eprint    = {1909.09347},
  archivePrefix = {arXiv}
}"""
DESCRIPTION = (
    "MIMII (Hitachi, Ltd.): sounds of industrial fans, pumps, slide rails and valves, normal and "
    "anomalous, recorded with an 8-microphone array at 16 kHz and mixed with real factory noise at -6, 0 "
    "and 6 dB SNR; every clip keeps its eight channels, with the MIMII paper's train/test protocol per "
    "machine."
)


def archive_url(name: str) -> str:
    return f"{RECORD}/files/{name}.zip"


def mimii_features() -> datasets.Features:
    """The columns of every config (names fixed: the ``mimii`` evaluation suite reads them)."""
    text = datasets.Value("string")
    return datasets.Features(
        {
            "audio": datasets.Audio(sampling_rate=SAMPLE_RATE),
            "file": text,
            "snr_db": datasets.Value("int32"),
            "machine": text,
            "machine_id": datasets.Value("int32"),
            "label": datasets.ClassLabel(names=list(LABELS)),
            "channels": datasets.List(text),
            "sha256": text,
        }
    )


@dataclass(frozen=True)
class Row:
    """A validated clip and the side of the protocol's split it is on."""

    clip: Clip
    source: SourceAudio
    split: str


@dataclass
class MimiiState:
    """The component's parse of the folder (``ScanResult.state``)."""

    rows: list[Row]  # every valid clip, in (SNR, machine, ID, label, name) order
    folder: DataFolder  # the data folder, resolved once for this build


class MimiiComponent(DatasetComponent):
    """MIMII as a Hub dataset (one component of its own family)."""

    name = "mimii"
    pretty_name = "MIMII"
    title = "MIMII: Sound Dataset for Malfunctioning Industrial Machine Investigation and Inspection"
    description = DESCRIPTION
    citation = CITATION
    license = LICENSE
    config_names = CONFIG_NAMES
    tags = ("anomaly-detection", "machine-sound", "mimii", "audio", "multichannel", "microphone-array")
    channels = ChannelPolicy(
        default=(BASELINE_CHANNEL,),
        names=CHANNEL_NAMES,
        reason=(
            "Hitachi's MIMII baseline reads the first channel of each clip only (demux_wav(..., channel=0)); "
            "--channels all embeds the eight microphones"
        ),
    )

    @property
    def DOWNLOADS(self) -> tuple:  # noqa: N802 - the attribute name the download machinery reads
        """The twelve Zenodo archives, each unpacked into a folder of its own name (the layout read here)."""
        return tuple(Download(archive_url(name), f"{name}.zip", extract_to=name) for name in ARCHIVES)

    def check_options(self, options: dict) -> dict:
        options = super().check_options(options)
        if options["split_strategy"] != "random" and options["seed"] != 0:
            raise ParameterError(
                "seed",
                options["seed"],
                f"is read only by --split-strategy random (this build "
                f"splits by {options['split_strategy']!r}); give --split-strategy random or "
                "leave the seed at 0",
            )
        return options

    def default_configs(self, data_dir: Path) -> list[str]:
        present = [SNR_CONFIGS[snr] for snr in snrs_present(data_dir)]
        return [*present, UNION] if present else list(CONFIG_NAMES)  # none: the scan says what is missing

    def scan(self, data_dir, configs, options, *, on_error, progress) -> ScanResult:
        synthetic = read_synthetic_marker(data_dir)  # a broken marker stops the build before any clip is read
        wanted = tuple(SNRS) if UNION in configs else tuple(s for s in SNRS if SNR_CONFIGS[s] in configs)
        rejected: list[Rejection] = []
        listing = find_clips(data_dir, wanted, rejected)
        check = AudioCheck(SAMPLE_RATE, NUM_CHANNELS, clip_seconds(synthetic), DURATION_TOLERANCE_S)
        valid = validate_all(
            data_dir,
            listing.clips,
            lambda c: (c, validate_audio(c.path, check, root=data_dir)),
            lambda c: c.path,
            rejected,
            desc="validating MIMII",
            progress=progress,
        )
        valid = same_bytes(
            valid,
            rejected,
            sha256=lambda v: v[1].sha256,
            rel=lambda v: v[0].rel,
            label=lambda v: f"{v[0].machine} id_{v[0].machine_id:02d} {v[0].label}",
        )
        enforce_on_error(data_dir, rejected, on_error)
        _require_configs(data_dir, configs, {clip.snr_db for clip, _ in valid})
        sides = assign_splits([clip for clip, _ in valid], options["split_strategy"], options["seed"])
        rows = sorted((Row(clip, source, sides[clip.file]) for clip, source in valid), key=_order)
        sources = [
            {
                "path": r.clip.rel,
                "sha256": r.source.sha256,
                "size": r.source.size,
                "sample_rate": r.source.sample_rate,
                "channels": r.source.channels,
                "frames": r.source.frames,
            }
            for r in sorted(rows, key=lambda r: r.clip.rel)
        ]
        not_read = [Rejection(path, why) for path, why in listing.not_read]
        return ScanResult(
            data_dir, sources, rejected, synthetic, state=MimiiState(rows, DataFolder(data_dir)), not_read=not_read
        )

    def config_sources(self, scan, configs, options) -> list[ConfigSource]:
        state: MimiiState = scan.state
        by_config = {
            config: [r for r in state.rows if SNR_CONFIGS[r.clip.snr_db] == config] for config in SNR_CONFIGS.values()
        }
        out = []
        for config in configs:
            rows = state.rows if config == UNION else by_config[config]
            parts = tuple(c for c, members in by_config.items() if members) if config == UNION else ()
            out.append(
                ConfigSource(
                    config,
                    mimii_features(),
                    [_split(state, rows, s) for s in SPLITS],
                    _config_description(config),
                    reuses=parts,
                )
            )
        return out

    def manifest_extra(self, options: dict) -> dict:
        return {
            "split": {"strategy": options["split_strategy"], "seed": options["seed"]},
            "validation": {
                "on_error": options["on_error"],
                "sample_rate": SAMPLE_RATE,
                "channels": NUM_CHANNELS,
                "duration_tolerance_s": DURATION_TOLERANCE_S,
            },
        }

    def figure(self, root, scan, configs, options) -> str | None:
        from libtrad.cards.figures import spectrogram_comparison

        state: MimiiState = scan.state  # its rows are those of the configs built (the scan reads no other SNR)
        picks: dict[str, Row] = {}
        for row in state.rows:
            if row.split == "test":
                picks.setdefault(row.clip.label, row)
        if len(picks) < 2:
            return None
        ordered = sorted(picks.items(), key=lambda kv: kv[0] != "normal")
        examples = [
            (
                f"{label}: {r.clip.machine} id_{r.clip.machine_id:02d}, {r.clip.snr_db} dB, {BASELINE_CHANNEL}",
                read_source(r.source.path, root=scan.data_dir),
            )
            for label, r in ordered
        ]
        spectrogram_comparison(examples, root / FIGURE, sample_rate=SAMPLE_RATE)
        return FIGURE

    def default_config(self, configs: list[str]) -> str:
        return UNION if UNION in configs else configs[0]

    def usage(self, configs):
        config = self.default_config(configs)
        usage = [
            {"var": "train", "config": config, "split": "train", "what": "normal clips the protocol trains on"},
            {"var": "test", "config": config, "split": "test", "what": "normal and anomalous test clips"},
        ]
        tail = (
            'samples = test[0]["audio"].get_all_samples()  # torchcodec AudioSamples; .data is 8 × samples\n'
            'fan_00 = test.filter(lambda m, i: m == "fan" and i == 0, input_columns=["machine", "machine_id"])'
        )
        return usage, tail

    def validation_text(self, options: dict) -> str:
        return (
            f"complete RIFF/WAVE file, {SAMPLE_RATE // 1000} kHz, {NUM_CHANNELS} channels, "
            f"{CLIP_SECONDS:g} ± {DURATION_TOLERANCE_S:g} s (a stand-in: its recorded clip length), readable; "
            "no two clips with the same bytes (SHA-256)"
        )

    def card_parts(self, context: CardContext) -> tuple[str, str]:
        from libtrad.cards.dataset_card import render_part

        state: MimiiState = context.scan.state
        options = context.options
        intro = render_part(
            "mimii_intro.md",
            groups=group_table(state.rows),
            figure=context.figure or "",
            record=RECORD,
            license=LICENSE_TEXT,
            baseline_channel=BASELINE_CHANNEL,
            archives=[{"name": n, "url": archive_url(n), "size": s, "md5": m} for n, (s, m) in ARCHIVES.items()],
        )
        details = render_part(
            "mimii_details.md",
            strategy=options["split_strategy"],
            seed=options["seed"],
            configs=[c.name for c in context.configs],
            snr_configs=[
                {"name": n, "snr": s} for s, n in SNR_CONFIGS.items() if n in [c.name for c in context.configs]
            ],
            machines=", ".join(MACHINES),
            ids=", ".join(f"{i:02d}" for i in MACHINE_IDS),
            channels=", ".join(CHANNEL_NAMES),
            baseline_channel=BASELINE_CHANNEL,
        )
        return intro, details


def clip_seconds(synthetic: dict | None) -> float:
    """The length every clip has: MIMII's 10 s, or what a synthetic stand-in's marker records."""
    if synthetic is None:
        return CLIP_SECONDS
    seconds = synthetic.get("clip_seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= CLIP_SECONDS:
        raise LibtradError(
            f"SYNTHETIC.json: 'clip_seconds' must be a number of seconds in (0, {CLIP_SECONDS:g}], "
            f"not {seconds!r} (a folder `libtrad synth mimii` wrote records it)"
        )
    return float(seconds)


def _require_configs(data_dir: Path, configs: list[str], snrs: set[int]) -> None:
    """One line when a requested SNR config has no valid clip (its folders are missing or held nothing valid)."""
    missing = [f"{name} ({snr} dB)" for snr, name in SNR_CONFIGS.items() if name in configs and snr not in snrs]
    if UNION in configs and not snrs:
        missing.append(UNION)
    if missing:
        raise LibtradError(
            f"{data_dir}: no valid MIMII clip for --configs {', '.join(missing)}; expected "
            f"{archive_name(-6, 'fan')}/ … {archive_name(6, 'valve')}/ or min6dB/ 0dB/ 6dB/ folders"
        )


def _order(row: Row) -> tuple:
    c = row.clip
    return c.snr_db, MACHINES.index(c.machine), c.machine_id, LABELS.index(c.label), c.name


def _split(state: MimiiState, rows: list[Row], split: str) -> SplitSource:
    chosen = [r for r in rows if r.split == split]
    return SplitSource(split, len(chosen), lambda: (example(state, r) for r in chosen))


def _config_description(config: str) -> str:
    if config == UNION:
        return "Every SNR built: the union of the SNR configs (the same files)."
    snr = next(s for s, name in SNR_CONFIGS.items() if name == config)
    return f"The clips mixed at {snr} dB SNR (the archives {archive_name(snr, '<machine>')}.zip)."


def example(state: MimiiState, row: Row) -> dict:
    """One row; the audio is the published clip's bytes, read when the row is written (:func:`clip_into`)."""
    clip = row.clip
    return {
        "audio": FileBytes(row.source.size, clip.file, functools.partial(clip_into, state.folder, row)),
        "file": clip.file,
        "snr_db": clip.snr_db,
        "machine": clip.machine,
        "machine_id": clip.machine_id,
        "label": LABELS.index(clip.label),
        "channels": list(CHANNEL_NAMES),
        "sha256": row.source.sha256,
    }


def clip_into(folder: DataFolder, row: Row, into: memoryview) -> None:
    """Read the clip into ``into`` (its row group's buffer), refused if it is not the file validation read."""
    try:
        size = read_source_into(row.source.path, into, folder)
    except InvalidAudio as exc:
        raise LibtradError(f"{row.clip.rel}: {exc.reason}; run the build again") from None
    if size != row.source.size or hashlib.sha256(into).hexdigest() != row.source.sha256:
        raise LibtradError(f"{row.clip.rel}: changed since it was validated (SHA-256 differs); run the build again")


def group_table(rows: list[Row]) -> list[dict]:
    """Per SNR × machine type × ID: the clips on each side of the split, for the card."""
    table: dict[tuple, dict] = {}
    for row in rows:
        c = row.clip
        entry = table.setdefault(
            c.group,
            {
                "snr": c.snr_db,
                "machine": c.machine,
                "id": f"{c.machine_id:02d}",
                "train": 0,
                "test_normal": 0,
                "test_abnormal": 0,
            },
        )
        entry["train" if row.split == "train" else f"test_{c.label}"] += 1
    return [table[k] for k in sorted(table, key=lambda k: (k[0], MACHINES.index(k[1]), k[2]))]


MIMII = MimiiComponent()
