"""The generic export driver: a dataset component's raw folder -> a complete Hub dataset repository.

A component (one per dataset, e.g. ``libtrad.builders.lib_trad.export.LIB_TRAD``) supplies its
layout scan, its configs as :class:`~libtrad.builders.hub_export.ConfigSource` objects, its card
parts, figure and citation. Everything else is done here, once, for every dataset: option and
output checks before any scan, config selection (``all``-style configs as explicit unions),
the streamed Parquet export into an atomic libtrad folder, ``manifest.json`` (label counts by
``features["label"].names``), the card with its ``configs:``/``dataset_info:`` YAML, and the
summary the CLI prints.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from libtrad.builders.hub_export import (
    MAX_SHARD_BYTES,
    ConfigSource,
    SplitResult,
    data_files_yaml,
    dataset_infos,
    refuse_empty_splits,
    write_configs,
)
from libtrad.builders.registry import dataset
from libtrad.builders.scan import MANIFEST, Rejection, SourceChecksums, check_on_error
from libtrad.core.channels import YAML_KEY as CHANNEL_POLICY
from libtrad.core.channels import ChannelPolicy, policies_yaml
from libtrad.core.errors import ParameterError
from libtrad.core.version import __version__
from libtrad.folders.outputs import atomic_output, check_output, refuse_input_url


@dataclass
class ScanResult:
    """What a component's scan found: accepted sources (manifest entries), rejections, synthetic info."""

    data_dir: Path
    sources: list[dict]  # {"path", "sha256", "size", ...} per accepted source file, for the manifest
    rejected: list[Rejection] = field(default_factory=list)
    synthetic: dict | None = None
    state: object = None  # the component's own parse of the folder (segments, clips, ...)
    not_read: list[Rejection] = field(default_factory=list)  # documentation etc. deliberately not read, and why
    source_checksums: SourceChecksums | None = None  # fills sources' "sha256": None once the export has read them


@dataclass
class CardContext:
    """What a component's card parts may show, computed by the driver from what was written."""

    scan: ScanResult
    configs: list[ConfigSource]
    results: dict[str, dict[str, SplitResult]]
    options: dict
    figure: str | None
    repo_id: str


class DatasetComponent:
    """One dataset's part of the export; subclasses fill in the hooks below."""

    name: str = ""  # CLI and manifest name, e.g. "lib-trad", "dcase2021"
    family: str = ""  # its registry entry when that is named otherwise (e.g. "siren")
    pretty_name: str = ""
    title: str = ""  # the card's heading (default: pretty_name)
    description: str = ""
    citation: str = ""
    license: str = "other"
    config_names: tuple[str, ...] = ()
    unions: Mapping[str, tuple[str, ...]] = {}  # config -> the configs whose shards it reuses (see _with_unions)
    tags: tuple[str, ...] = ()
    task_categories: tuple[str, ...] = ("audio-classification",)
    channels: ChannelPolicy | None = None  # the channels `embed` uses by default (libtrad.core.channels)

    def check_options(self, options: dict) -> dict:
        """Every build option checked (a :class:`ParameterError` before any file is touched), defaults filled."""
        return dataset(self.family or self.name).resolve_build_options(options)

    def default_configs(self, data_dir: Path) -> list[str]:
        return list(self.config_names)

    def scan(self, data_dir: Path, configs: list[str], options: dict, *, on_error: str, progress: bool) -> ScanResult:
        raise NotImplementedError

    def config_sources(self, scan: ScanResult, configs: list[str], options: dict) -> list[ConfigSource]:
        """One ConfigSource per selected config (unions included; the driver sets their ``reuses``)."""
        raise NotImplementedError

    def manifest_extra(self, options: dict) -> dict:
        return {}

    def channel_policy(self, config: str) -> ChannelPolicy | None:
        """The channel policy of ``config``'s rows, written into the card's YAML (``channel_policy:``)."""
        return self.channels

    def figure(self, root: Path, scan: ScanResult, configs: list[ConfigSource], options: dict) -> str | None:
        return None

    def default_config(self, configs: list[str]) -> str:
        return configs[0]

    def usage(self, configs: list[str]) -> tuple[list[dict], str]:
        """(load calls ``{"var", "config", "split", "what"}``, the snippet's last line) for the card."""
        raise NotImplementedError

    def validation_text(self, options: dict) -> str:
        return "readable, the expected format"

    def card_parts(self, context: CardContext) -> tuple[str, str]:
        """(intro before the split table, details after it) as Markdown."""
        return "", ""


@dataclass
class ExportSummary:
    output: Path
    configs: dict[str, dict[str, dict]]
    rejected: list[dict]
    synthetic: bool
    num_sources: int
    pretty_name: str = ""

    def describe(self) -> str:
        lines = [f"{'SYNTHETIC stand-in ' if self.synthetic else ''}{self.pretty_name} exported to {self.output}"]
        for name, splits in self.configs.items():
            parts = ", ".join(
                f"{s}: {v['rows']} rows ({' / '.join(f'{n} {label}' for label, n in v['labels'].items())})"
                for s, v in splits.items()
            )
            lines.append(f"  {name:16s} {parts}")
        lines.append(f"  {self.num_sources} source files validated, {len(self.rejected)} rejected")
        lines += [f"  rejected {r['path']}: {r['reason']}" for r in self.rejected]
        return "\n".join(lines)


def export_dataset(
    component: DatasetComponent,
    data_dir: str | Path,
    output_dir: str | Path,
    *,
    configs: tuple[str, ...] | None = None,
    on_error: str = "raise",
    repo_id: str | None = None,
    license: str | None = None,
    max_shard_bytes: int = MAX_SHARD_BYTES,
    progress: bool = True,
    **options,
) -> ExportSummary:
    """Validate ``data_dir`` and write the selected configs as Parquet + card + manifest to ``output_dir``."""
    check_on_error(on_error)
    options = component.check_options(options)
    refuse_input_url(data_dir, "--data-dir")
    data_dir = Path(data_dir).expanduser().resolve()
    if not data_dir.is_dir():
        raise ParameterError("data_dir", str(data_dir), "no such folder")
    inputs = {"--data-dir": data_dir}
    output = check_output(output_dir, "dataset", inputs=inputs)  # before the long scan
    names = select_configs(component, configs, data_dir)
    scan = component.scan(data_dir, names, options, on_error=on_error, progress=progress)
    sources = _with_unions(component, component.config_sources(scan, names, options), set(names))
    refuse_empty_splits(sources)
    checksums: dict[str, str] = {}
    with (
        atomic_output(output, "dataset", inputs=inputs, checksums=checksums) as tmp,
        ThreadPoolExecutor(max_workers=1) as side,
    ):
        figure_done = side.submit(component.figure, tmp, scan, sources, options)  # drawn while Parquet is written
        results = write_configs(tmp, sources, max_shard_bytes=max_shard_bytes, progress=progress)
        parquet = {
            p: sha
            for c in sources
            if not c.reuses
            for r in results[c.name].values()
            for p, sha in sorted(r.files.items())
        }
        checksums.update(parquet)
        counts = {c.name: {s: _counts(r, c) for s, r in results[c.name].items()} for c in sources}
        figure = figure_done.result()
        sources_read = scan.sources if scan.source_checksums is None else scan.source_checksums.fill(scan.sources)
        rejected = [dataclasses.asdict(r) for r in scan.rejected]
        manifest = {
            "dataset": component.name,
            "libtrad_version": __version__,
            "synthetic": scan.synthetic is not None,
            "synthetic_info": scan.synthetic,
            **component.manifest_extra({**options, "on_error": on_error}),
            "configs": counts,
            "parquet_files": parquet,
            "sources": sources_read,
            "rejected": rejected,
            **({"not_read": [dataclasses.asdict(r) for r in scan.not_read]} if scan.not_read else {}),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        context = CardContext(scan, sources, results, {**options, "on_error": on_error}, figure, repo_id or output.name)
        _card(component, context, manifest, license).save(tmp / "README.md")
    return ExportSummary(output, counts, rejected, scan.synthetic is not None, len(scan.sources), component.pretty_name)


def select_configs(component: DatasetComponent, configs: tuple[str, ...] | None, data_dir: Path) -> list[str]:
    """The requested configs in the component's order (all that the folder supports when none given)."""
    if configs is None:
        return component.default_configs(data_dir)
    unknown = [c for c in configs if c not in component.config_names]
    if unknown or not configs:
        raise ParameterError(
            "configs",
            ",".join(configs),
            f"unknown config(s) {', '.join(unknown) or '(none given)'} "
            f"(choose from {', '.join(component.config_names)})",
        )
    return [c for c in component.config_names if c in configs]


def _with_unions(component: DatasetComponent, sources: list[ConfigSource], selected: set[str]) -> list[ConfigSource]:
    """A union config reuses its parts' shards when every part is built too; else it is written itself.

    The parts are the component's ``unions`` entry, or those its config source names itself
    (``reuses``): MIMII's ``all`` is the union of the SNR configs the folder has.
    """
    out = []
    for source in sources:
        parts = tuple(component.unions.get(source.name, ())) or source.reuses
        reuses = parts if parts and set(parts) <= selected else ()
        out.append(dataclasses.replace(source, reuses=reuses))
    return out


def label_names(config: ConfigSource) -> list[str]:
    label = config.features.get("label")
    return list(getattr(label, "names", None) or [])


def _counts(result: SplitResult, config: ConfigSource) -> dict:
    names = label_names(config)
    labels = {name: 0 for name in names}
    for value, n in result.labels.items():
        if isinstance(value, int) and 0 <= value < len(names):
            key = names[value]
        else:
            key = "unlabelled" if value in (-1, None) else str(value)  # DCASE eval clips without ground truth
        labels[key] = labels.get(key, 0) + n
    return {"rows": result.num_examples, "labels": labels, "files": sorted(result.files)}


def _card(component: DatasetComponent, context: CardContext, manifest: dict, license: str | None):
    from libtrad.cards.dataset_card import render_dataset_card

    sources, results = context.configs, context.results
    names = list(dict.fromkeys(n for c in sources for n in label_names(c)))  # config order, then label order
    split_rows = [
        {
            "config": c.name,
            "split": s,
            "rows": r.num_examples,
            "labels": [
                manifest["configs"][c.name][s]["labels"].get(n, "–") if n in label_names(c) else "–" for n in names
            ],
        }
        for c in sources
        for s, r in results[c.name].items()
    ]
    synthetic = context.scan.synthetic
    total_rows = sum(r.num_examples for c in sources if not c.reuses for r in results[c.name].values())
    built = [c.name for c in sources]
    metadata = {
        "pretty_name": component.pretty_name + (" (synthetic stand-in)" if synthetic else ""),
        "license": license or component.license,
        "language": [],
        "task_categories": list(component.task_categories),
        "tags": [*component.tags, *(["synthetic"] if synthetic else [])],
        "size_categories": [_size_category(total_rows)],
    }
    policies = {c.name: component.channel_policy(c.name) for c in sources}
    if any(policies.values()):  # read back by `embed` (core.channels.read_policy), from a folder or the Hub alike
        metadata[CHANNEL_POLICY] = policies_yaml(policies)
    intro, details = component.card_parts(context)
    usage, usage_tail = component.usage(built)
    if not usage:
        raise RuntimeError(f"component {component.name} gave no usage example for configs {', '.join(built)}")
    return render_dataset_card(
        metadata=metadata,
        configs_yaml=data_files_yaml(sources, default=component.default_config(built)),
        infos=dataset_infos(sources, results),
        title=component.title or component.pretty_name,
        synth_command=f"libtrad synth {component.family} --component {component.name}"
        if component.family
        else f"libtrad synth {component.name}",
        pretty_name=component.pretty_name,
        synthetic=synthetic,
        description=component.description,
        intro=intro,
        details=details,
        label_names=names,
        split_rows=split_rows,
        usage=usage,
        usage_tail=usage_tail,
        channel_policies=[
            {
                "config": name,
                "default": ", ".join(p.default) if not p.all_by_default else "all",
                "names": ", ".join(p.names),
                "reason": p.reason,
            }
            for name, p in policies.items()
            if p
        ],
        repo_id=context.repo_id,
        num_sources=len(manifest["sources"]),
        validation=component.validation_text(context.options),
        rejected=manifest["rejected"],
        on_error=context.options["on_error"],
        parquet_files=sorted(manifest["parquet_files"].items()),
        libtrad_version=__version__,
        citation=component.citation,
    )


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return name
    return "n>1M"
