"""One :class:`~libtrad.builders.export.DatasetComponent` for every fault layout.

The component is the glue between a layout (walk, check, row) and the export driver: it refuses
the DCASE-only build options, validates every found file in threads (any reader error becomes a
rejection naming the file), applies ``--on-error``, streams each config's single ``train`` split
row by row (a row's samples are read only when it is written) and renders the card parts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from libtrad.builders.download import Download
from libtrad.builders.export import CardContext, DatasetComponent, ScanResult
from libtrad.builders.fault.common import SPLIT, Checked, Layout, check_set
from libtrad.builders.hub_export import ConfigSource, SplitSource
from libtrad.builders.scan import Rejection, enforce_on_error, read_synthetic_marker, validate_all
from libtrad.core.channels import ChannelPolicy
from libtrad.core.errors import ParameterError

FIGURE = "images/classes.png"
SET_RULES = "no two files with the same bytes (SHA-256)"  # what check_set adds to every layout's checks
DCASE_ONLY = {"eval_list": None, "allow_unlabelled": False}

# Card text shared by the corpora: column meanings (arrays, every row) and the Fraunhofer IDMT license line.
SIGNALS = {
    "signals": 'the file\'s channels as float32, channels × samples (`ds.with_format("numpy")` gives an ndarray)',
    "channels": "the name of each row of `signals`",
    "sampling_rate": "samples per second of `signals`",
}
COMMON = {
    "label": "the class (see the table above)",
    "file": "path of the raw file, relative to the publisher's root folder",
    "sha256": "SHA-256 of that raw file",
}
ZENODO_LICENSE = (
    "as stated on the Zenodo record (Fraunhofer IDMT publishes its ISA datasets under a Creative "
    "Commons license; check the record's terms before redistributing)"
)
# Channel policies (libtrad.core.channels): where SIREN's toolkit (github.com/yucongzh/SIREN) reads a corpus, its
# loader says which channels; these phrases say so where it has none, and for the mono WAV corpora.
SIREN_LOADERS = "SIREN's fault tester loads CWRU, MAFAULDA, IIEE and IICA only"


def no_siren_loader(module: str, fact: str) -> str:
    """The reason of a policy for a corpus SIREN's toolkit does not read: the publisher's ``fact``."""
    return (
        f"{fact}; {SIREN_LOADERS} (siren/core/data_loader/{module}_data_loader.py is a placeholder), so "
        "every channel the file holds is used"
    )


@dataclass(frozen=True)
class CardText:
    """What a component's card says beyond the numbers: source, license, protocol, column meanings."""

    source: str
    protocol_summary: str  # one line, for the manifest
    license_text: str
    downloads: tuple[dict, ...]
    acquisition: str
    classes: dict[str, str]  # class -> meaning
    protocol: str
    column_meanings: dict[str, str]
    layout: str  # the raw tree, as a code block
    config_descriptions: dict[str, str] = field(default_factory=dict)


@dataclass
class FaultScan:
    """A validated folder: the valid files per config and what the walk listed as not read."""

    rows: dict[str, list[Checked]]
    not_read: list[tuple[str, str]]


class FaultComponent(DatasetComponent):
    family = "siren"
    layout: Layout
    card: CardText
    task_categories = ("audio-classification",)

    def __init__(
        self,
        name: str,
        pretty_name: str,
        layout: Layout,
        card: CardText,
        *,
        title: str,
        description: str,
        citation: str,
        license: str,
        tags: tuple[str, ...],
        channels: ChannelPolicy,
        task_categories: tuple[str, ...] | None = None,
    ):
        self.name, self.pretty_name, self.layout, self.card = name, pretty_name, layout, card
        self.channels = channels
        self.title, self.description, self.citation, self.license = title, description, citation, license
        self.config_names = tuple(layout.configs)
        self.tags = tags
        if task_categories:
            self.task_categories = task_categories

    @property
    def DOWNLOADS(self) -> tuple:  # noqa: N802 - the attribute name the download machinery reads
        """The published archives libtrad can fetch itself (web pages of single files are listed on the card)."""
        return tuple(
            Download(d["url"], d["url"].rsplit("/", 1)[1])
            for d in self.card.downloads
            if d["url"].endswith((".zip", ".tar.gz", ".tgz"))
        )

    def check_options(self, options: dict) -> dict:
        resolved = super().check_options(options)
        for option, default in DCASE_ONLY.items():
            if resolved.get(option, default) != default:
                raise ParameterError(option, resolved[option], f"is for the DCASE components only, not {self.name}")
        return resolved

    def default_configs(self, data_dir: Path) -> list[str]:
        return self.layout.present_configs(data_dir)

    def scan(self, data_dir, configs, options, *, on_error, progress) -> ScanResult:
        synthetic = read_synthetic_marker(data_dir)  # a broken marker stops the build before any data is read
        rejected = []
        listing = self.layout.find(data_dir, configs, rejected)
        wanted = [f for f in listing.found if f.config in configs]
        checked = validate_all(
            data_dir,
            wanted,
            lambda f: self.layout.check(data_dir, f),
            lambda f: f.path,
            rejected,
            desc=f"validating {self.layout.dataset}",
            progress=progress,
        )
        checked = check_set(self.layout, checked, rejected, synthetic=synthetic is not None)
        enforce_on_error(data_dir, rejected, on_error)
        rows = {config: self.layout.finish([c for c in checked if c.found.config == config]) for config in configs}
        sources = sorted((c.manifest_entry() for c in checked), key=lambda s: s["path"])
        not_read = [Rejection(path, why) for path, why in listing.not_read]
        return ScanResult(
            data_dir, sources, rejected, synthetic, state=FaultScan(rows, listing.not_read), not_read=not_read
        )

    def config_sources(self, scan, configs, options) -> list[ConfigSource]:
        state: FaultScan = scan.state
        data_dir, layout = scan.data_dir, self.layout

        def source(config: str) -> ConfigSource:
            rows = state.rows[config]
            split = SplitSource(SPLIT, len(rows), lambda: (layout.example(data_dir, c) for c in rows))
            return ConfigSource(config, layout.features(config), [split], self.card.config_descriptions.get(config, ""))

        return [source(config) for config in configs]

    def manifest_extra(self, options: dict) -> dict:
        return {
            "family": "siren",
            "protocol": self.card.protocol_summary,
            **self.layout.manifest_info,
            "validation": {"on_error": options["on_error"], "checks": self.validation_text(options)},
        }

    def figure(self, root, scan, configs, options) -> str | None:
        from libtrad.builders.fault.figure import class_panels

        state: FaultScan = scan.state
        rows = state.rows[configs[0].name]
        first: dict[str, Checked] = {}
        for checked in rows:
            first.setdefault(checked.found.label, checked)
        names = self.layout.configs[configs[0].name]
        panels = [(label, *self.layout.preview(scan.data_dir, first[label])) for label in names if label in first]
        if not panels:
            return None
        class_panels(panels, root / FIGURE, kind=self.layout.figure_kind)
        return FIGURE

    def default_config(self, configs: list[str]) -> str:
        return configs[0]

    def usage(self, configs):
        usage = [
            {
                "var": "ds" if i == 0 else config,
                "config": config,
                "split": SPLIT,
                "what": self.card.config_descriptions.get(config, f"{self.pretty_name}, every file"),
            }
            for i, config in enumerate(configs)
        ]
        if "signals" in self.layout.payload_features():
            tail = 'signals = ds.with_format("numpy")[0]["signals"]  # float32 array, channels × samples'
        else:
            tail = 'samples = ds[0]["audio"].get_all_samples()  # torchcodec AudioSamples'
        if "fold" in self.layout.columns:
            tail += '\ntest = ds.filter(lambda fold: fold == 0, input_columns="fold")  # fold 0 of 5 as the test part'
        return usage, tail

    def validation_text(self, options: dict) -> str:
        return f"{self.layout.check_text}; {SET_RULES}"

    def card_parts(self, context: CardContext) -> tuple[str, str]:
        from libtrad.cards.dataset_card import render_part

        state: FaultScan = context.scan.state
        built = [c.name for c in context.configs]
        rows = [c for name in built for c in state.rows[name]]
        seconds = sum(c.frames / c.sample_rate for c in rows)
        counts = Counter(c.found.label for c in rows)
        intro = render_part(
            "fault_intro.md",
            pretty_name=self.pretty_name,
            card=self.card,
            figure=context.figure or "",
            figure_what="Power spectrum" if self.layout.figure_kind == "spectrum" else "Spectrogram",
            files=len(rows),
            duration=_duration(seconds),
            size=_megabytes(sum(c.size for c in rows)),
            rates=sorted({c.sample_rate for c in rows}),
            classes=[{"name": n, "meaning": m, "files": counts.get(n, 0)} for n, m in self.card.classes.items()],
        )
        features = context.configs[0].features
        columns = [
            {"name": name, "type": type_name(feature), "meaning": self.card.column_meanings.get(name, "")}
            for name, feature in features.items()
        ]
        details = render_part(
            "fault_details.md", card=self.card, columns=columns, not_read=state.not_read, configs=built
        )
        return intro, details


def type_name(feature) -> str:
    """A short, readable type for the card's feature table (derived from the feature itself)."""
    if isinstance(feature, datasets.ClassLabel):
        return "ClassLabel"
    if isinstance(feature, datasets.Audio):
        return f"Audio ({feature.sampling_rate / 1000:g} kHz)"
    if isinstance(feature, datasets.Value):
        return feature.dtype
    inner = getattr(feature, "feature", None)
    if isinstance(inner, datasets.Value):
        return f"list of {inner.dtype}"
    if inner is not None and isinstance(getattr(inner, "feature", None), datasets.Value):
        return f"{inner.feature.dtype} array (channels × samples)"
    return type(feature).__name__


def _duration(seconds: float) -> str:
    return (
        f"{seconds / 3600:.1f} h"
        if seconds >= 3600
        else f"{seconds / 60:.1f} min"
        if seconds >= 60
        else f"{seconds:.1f} s"
    )


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"
