"""``libtrad build siren --component dcase2020 … dcase2026``: DCASE Task 2 on the generic export driver.

One component per year, one config per component (``dcaseYYYY``: every machine type, both
sets; ``machine``/``set``/``section``/``domain`` are columns, selected with ``Dataset.filter``),
splits ``train`` and ``test``. The scan (:mod:`.clips`) walks the year's folder (:mod:`.layout`),
labels evaluation test clips from the ground truth (:mod:`.eval_lists`) and validates every clip
from its header and chunk table. The export then reads each clip once: it re-checks the bytes
against what the scan saw, embeds them unchanged and records their SHA-256 for the manifest.

Channels. 2020–2025 are mono (channel policy ``mono``). DCASE 2026's clips are two-channel and are
kept as published, both channels in one row as LiB-TRAD's ``segments`` and MIMII's rows keep
theirs: ``ds[i]["audio"].get_all_samples().data`` is 2 × samples, and the ``channels`` column names
them ``near`` (left: the near microphone) and ``far`` (right). The card's channel policy
(:data:`~libtrad.builders.dcase.years.NEAR_FAR_POLICY`) makes ``near`` the default, as the
official baseline reads only the left channel; ``libtrad embed --channels far`` or ``--channels
both`` (``near,far``) embeds the rest.

What the organisers published per year (Zenodo records, titles, protocols, papers) lives in
:mod:`.publications`; the per-year machine types, sections and channels in :mod:`.years`.
"""

from __future__ import annotations

import functools
from pathlib import Path

import datasets

from libtrad.builders.audio_io import InvalidAudio, read_probed
from libtrad.builders.dcase.clips import SPLITS, Clip, DcaseState, scan_dcase
from libtrad.builders.dcase.eval_lists import LABELS
from libtrad.builders.dcase.layout import SETS, parse_attributes
from libtrad.builders.dcase.publications import (
    DOWNLOADS,
    LICENSE,
    OVERVIEWS,
    PART_NAMES,
    PROTOCOLS,
    TITLES,
    archive_name,
    citation,
    license_text,
)
from libtrad.builders.dcase.years import MONO, NEAR_FAR_POLICY, SAMPLE_RATE, SPECS
from libtrad.builders.download import Download
from libtrad.builders.export import CardContext, DatasetComponent, ScanResult
from libtrad.builders.hub_export import AfterRead, ConfigSource, FileBytes, SplitSource
from libtrad.builders.siren import MONO_WAV
from libtrad.core.errors import LibtradError, ParameterError

FIGURE = "images/normal_vs_anomaly_logmel.png"


def dcase_features(year: int) -> datasets.Features:
    """The columns of a DCASE config (names fixed: evaluation code relies on them); a multichannel year
    (2026) adds ``channels``, the names of each row's channels in file order."""
    text = datasets.Value("string")
    multichannel = {"channels": datasets.List(text)} if SPECS[year].channel_names != MONO else {}
    return datasets.Features(
        {
            "audio": datasets.Audio(sampling_rate=SAMPLE_RATE),
            "file": text,
            "machine": text,
            "section": datasets.Value("int32"),
            "domain": text,
            "attributes": text,
            "attribute_values": datasets.List({"key": text, "value": text}),
            "year": datasets.Value("int32"),
            "set": text,
            "label": datasets.ClassLabel(names=list(LABELS)),
            "sha256": text,
            **multichannel,
        }
    )


class DcaseComponent(DatasetComponent):
    """One DCASE Task 2 year as a Hub dataset."""

    family = "siren"
    license = LICENSE
    tags = ("anomaly-detection", "machine-sound", "dcase", "audio", "domain-shift")
    channels = MONO_WAV

    def __init__(self, year: int):
        self.year = year
        self.spec = SPECS[year]
        self.name = f"dcase{year}"
        self.pretty_name = f"DCASE {year} Task 2"
        self.title = f"DCASE {year} Challenge Task 2: {TITLES[year]}"
        self.description = (
            f"The development and evaluation datasets of DCASE {year} Challenge Task 2 (anomalous "
            "sound detection for machine condition monitoring): normal training clips and normal / "
            f"anomalous test clips of machines, 16 kHz {_channel_words(self.spec.channel_names)}, with labels, "
            "sections, domains and attributes as columns."
        )
        self.citation = citation(year)
        self.config_names = (self.name,)
        self.channels = MONO_WAV if self.spec.channel_names == MONO else NEAR_FAR_POLICY
        if self.spec.channel_names != MONO:
            self.tags = (*self.tags, "multichannel")

    @property
    def DOWNLOADS(self) -> tuple:  # noqa: N802 - the attribute name the download machinery reads
        """Every archive of this year (one per part and machine type), for ``download_and_prepare()``."""
        return tuple(
            Download(
                part["url"].rsplit("/", 1)[0] + "/" + archive_name(part, machine),
                archive_name(part, machine),
                extract_to=part["extract_to"],
            )
            for name, part in DOWNLOADS[self.year].items()
            for machine in self.spec.machines("dev" if name == "dev" else "eval")
        )

    def check_options(self, options: dict) -> dict:
        options = super().check_options(options)
        given = options["eval_list"]
        if given is not None:
            path = Path(given).expanduser().resolve()
            if not path.is_file():
                raise ParameterError("eval_list", str(given), "no such file")
            options["eval_list"] = path
        return options

    def scan(self, data_dir, configs, options, *, on_error, progress) -> ScanResult:
        state, sources, rejected, synthetic = scan_dcase(
            data_dir, self.spec, options, on_error=on_error, progress=progress
        )
        return ScanResult(data_dir, sources, rejected, synthetic, state=state, source_checksums=state.checksums)

    def config_sources(self, scan, configs, options) -> list[ConfigSource]:
        state: DcaseState = scan.state

        def split_source(split: str) -> SplitSource:
            clips = state.splits[split]
            return SplitSource(split, len(clips), lambda: (example(state, c) for c in clips))

        description = f"DCASE {self.year} Task 2: every machine type, development and evaluation sets."
        features = dcase_features(self.year)
        return [ConfigSource(self.name, features, [split_source(s) for s in SPLITS], description)]

    def manifest_extra(self, options: dict) -> dict:
        given = options["eval_list"]
        return {
            "year": self.year,
            "validation": {
                "on_error": options["on_error"],
                "sample_rate": SAMPLE_RATE,
                "channels": self.spec.channels,
                "eval_list": None if given is None else str(given),
                "allow_unlabelled": options["allow_unlabelled"],
            },
        }

    def figure(self, root, scan, configs, options) -> str | None:
        return _figure(root, scan.state)

    def usage(self, configs):
        name = configs[0]
        usage = [
            {"var": "train", "config": name, "split": "train", "what": "normal training clips, both sets"},
            {"var": "test", "config": name, "split": "test", "what": "normal and anomalous test clips"},
        ]
        tail = (
            'fan_dev = test.filter(lambda m, s: m == "fan" and s == "dev", input_columns=["machine", "set"])'
            "  # no audio decoded"
        )
        return usage, tail

    def validation_text(self, options: dict) -> str:
        return (
            f"16 kHz {_channel_words(self.spec.channel_names)} WAV with complete RIFF chunks, readable, "
            "finite, not empty; no fixed duration (DCASE "
            "clip lengths differ between years and machine types)"
        )

    def card_parts(self, context: CardContext) -> tuple[str, str]:
        from libtrad.cards.dataset_card import render_part

        state: DcaseState = context.scan.state
        downloads = [
            {"what": PART_NAMES[part], "record": d["record"], "url": d["url"]}
            for part, d in DOWNLOADS[self.year].items()
        ]
        intro = render_part(
            "dcase_intro.md",
            year=self.year,
            task=TITLES[self.year],
            overview=OVERVIEWS[self.year],
            machines=machine_table(state),
            figure=context.figure or "",
            downloads=downloads,
            license=license_text(self.year),
            ground_truth=state.truth_note,
        )
        details = render_part(
            "dcase_details.md",
            year=self.year,
            config=self.name,
            protocol=PROTOCOLS[self.year],
            first_section=self.spec.sections("dev", "fan")[0],
        )
        return intro, details


def _channel_words(names: tuple[str, ...]) -> str:
    """How the card and the validation text name a year's channels."""
    return "mono" if names == MONO else f"{len(names)}-channel ({', '.join(names)}, in file order)"


def example(state: DcaseState, clip: Clip) -> dict:
    """One row; the audio is the source file's bytes, unchanged (read by the writer, see clip_bytes)."""
    c = clip.candidate
    return {
        "audio": FileBytes(
            clip.source.size, f"{c.set}/{c.machine}/{c.split}/{c.path.name}", functools.partial(clip_bytes, state, clip)
        ),
        "file": c.path.name,
        "machine": c.machine,
        "section": c.clip.section,
        "domain": clip.domain,
        "attributes": clip.attributes,
        "attribute_values": parse_attributes(clip.attributes),
        "year": state.spec.year,
        "set": c.set,
        "label": clip.label,
        # The clip's content identity (what evaluate's leak check compares across splits), taken while
        # the writer reads the bytes it embeds.
        "sha256": AfterRead(functools.partial(state.checksums.of, clip.rel)),
        **({"channels": list(state.spec.channel_names)} if state.spec.channel_names != MONO else {}),
    }


def clip_bytes(state: DcaseState, clip: Clip, into: memoryview | None = None) -> memoryview:
    """The clip's bytes, read once (into ``into`` if given), re-checked against what the scan
    validated; their checksum goes to the manifest."""
    try:
        data, sha256 = read_probed(clip.source, root=state.folder, into=into)
    except InvalidAudio as exc:
        raise LibtradError(f"{clip.rel}: {exc.reason}; run the build again") from None
    state.checksums.record(clip.rel, sha256)
    return data


def machine_table(state: DcaseState) -> list[dict]:
    """Per set and machine type: sections and clip counts, for the card."""
    table: dict[tuple[str, str], dict] = {}
    for split, clips in state.splits.items():
        for clip in clips:
            c = clip.candidate
            row = table.setdefault(
                (c.set, c.machine),
                {
                    "set": c.set,
                    "machine": c.machine,
                    "sections": set(),
                    "train": 0,
                    "normal": 0,
                    "anomaly": 0,
                    "unlabelled": 0,
                },
            )
            row["sections"].add(c.clip.section)
            if split == "train":
                row["train"] += 1
            else:
                row[LABELS[clip.label] if clip.label >= 0 else "unlabelled"] += 1
    rows = [table[k] for k in sorted(table, key=lambda k: (SETS.index(k[0]), k[1]))]
    return [{**r, "sections": ", ".join(f"{s:02d}" for s in sorted(r["sections"]))} for r in rows]


def _figure(root: Path, state: DcaseState) -> str | None:
    """Log-mel of the first normal and the first anomalous test clip (development set first)."""
    from libtrad.cards.figures import spectrogram_comparison

    picks: dict[int, Clip] = {}
    for clip in state.splits["test"]:
        if clip.label >= 0:
            picks.setdefault(clip.label, clip)
    if len(picks) < 2:
        return None
    examples = [
        (
            f"{LABELS[label]}: {c.candidate.set} {c.candidate.machine}, section {c.candidate.clip.section:02d}",
            bytes(clip_bytes(state, c)),
        )
        for label, c in sorted(picks.items())
    ]
    spectrogram_comparison(examples, root / FIGURE, sample_rate=SAMPLE_RATE)
    return FIGURE


DCASE2020 = DcaseComponent(2020)
DCASE2021 = DcaseComponent(2021)
DCASE2022 = DcaseComponent(2022)
DCASE2023 = DcaseComponent(2023)
DCASE2024 = DcaseComponent(2024)
DCASE2025 = DcaseComponent(2025)
DCASE2026 = DcaseComponent(2026)
COMPONENTS = {c.name: c for c in (DCASE2020, DCASE2021, DCASE2022, DCASE2023, DCASE2024, DCASE2025, DCASE2026)}
