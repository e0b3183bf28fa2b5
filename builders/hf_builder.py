"""Any libtrad dataset component as a ``datasets.GeneratorBasedBuilder``.

``make_builder(component)`` returns a builder class whose configs are the component's configs.
With ``data_dir=`` it reads that raw folder; without, it downloads the publisher's files the
component lists in ``DOWNLOADS`` (see :mod:`libtrad.builders.download`) into the ``datasets``
download cache and unpacks them there once, so ``builder.download_and_prepare()`` works where a
network exists and, offline, stops with one sentence telling the user to pass ``data_dir=``.
Examples come from the same scan and :class:`~libtrad.builders.hub_export.ConfigSource` objects the
Hub export writes, so both hold the same rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from pathlib import Path

import datasets
from datasets.utils.tqdm import are_progress_bars_disabled

from libtrad.builders.download import check_downloads, locked
from libtrad.builders.hub_export import materialized, refuse_empty_splits
from libtrad.builders.raw_folder import prepare_raw
from libtrad.builders.registry import DATASETS
from libtrad.builders.scan import check_on_error
from libtrad.core.errors import LibtradError, ParameterError, first_line
from libtrad.folders.marker import marker_kind

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ComponentConfig(datasets.BuilderConfig):
    """One config of a component: ``data_dir`` (else downloaded), ``on_error`` and the build options.

    Build options registered for the component's family are fields of their own (``seed=1``);
    ``options`` takes any others the component's ``check_options`` accepts.
    """

    on_error: str = "raise"
    options: dict = dataclasses.field(default_factory=dict)


def make_builder(component) -> type[datasets.GeneratorBasedBuilder]:
    """A ``GeneratorBasedBuilder`` subclass for ``component`` (a :class:`~libtrad.builders.export.DatasetComponent`)."""
    names = list(component.config_names)
    if not names:
        raise LibtradError(f"component {component.name!r} declares no configs")
    specs = _option_specs(component)
    config_class = _config_class(component, specs)

    class ComponentBuilder(datasets.GeneratorBasedBuilder):
        COMPONENT = component
        BUILDER_CONFIG_CLASS = config_class
        BUILDER_CONFIGS = [
            config_class(name=name, description=f"{component.pretty_name or component.name}: {name}") for name in names
        ]
        DEFAULT_CONFIG_NAME = component.default_config(names)

        def __init__(self, *args, dataset_name: str | None = None, **kwargs):
            super().__init__(*args, dataset_name=dataset_name or _identifier(component.name), **kwargs)

        def _info(self) -> datasets.DatasetInfo:
            # Features come from the component's ConfigSource, known once the folder is scanned.
            return datasets.DatasetInfo(
                description=component.description, citation=component.citation, license=component.license
            )

        def _split_generators(self, dl_manager):
            config = self.config
            check_on_error(config.on_error)
            options = component.check_options({**{s.name: getattr(config, s.name) for s in specs}, **config.options})
            progress = not are_progress_bars_disabled()
            data_dir = _data_dir(component, config, dl_manager, progress)
            try:
                scan = component.scan(data_dir, [config.name], options, on_error=config.on_error, progress=progress)
            except LibtradError as exc:
                if config.data_dir:
                    raise
                # The raw folder is libtrad's own download cache (one an older libtrad may have filled
                # from a bad answer): say so, and how to get a fresh copy, instead of only naming a file in it.
                raise LibtradError(
                    f"{first_line(exc)} — {data_dir} is libtrad's download cache of "
                    f"{component.pretty_name or component.name}: delete that folder to download "
                    "it again"
                ) from None
            for r in scan.rejected:
                logger.warning("%s: rejected %s: %s", component.name, r.path, r.reason)
            sources = component.config_sources(scan, [config.name], options)
            source = next((s for s in sources if s.name == config.name), None)
            if source is None:
                raise RuntimeError(f"component {component.name} gave no ConfigSource for config {config.name!r}")
            refuse_empty_splits([source], option="config_name")
            self.info.features = source.features
            return [datasets.SplitGenerator(name=split.name, gen_kwargs={"split": split}) for split in source.splits]

        def _generate_examples(self, split):
            for index, example in enumerate(split.examples()):  # the component's order is stable
                yield f"{split.name}-{index:08d}", materialized(example)

    ComponentBuilder.__name__ = ComponentBuilder.__qualname__ = _class_name(component.name)
    return ComponentBuilder


def _data_dir(component, config, dl_manager, progress: bool) -> Path:
    """The config's ``data_dir``, else the component's downloads unpacked once into the download cache."""
    if config.data_dir:
        data_dir = Path(config.data_dir).expanduser().resolve()
        if not data_dir.is_dir():
            raise ParameterError("data_dir", str(config.data_dir), "no such folder")
        return data_dir
    downloads = check_downloads(getattr(component, "DOWNLOADS", None) or ())
    if not downloads:
        raise LibtradError(
            f"{component.pretty_name or component.name} cannot be downloaded by libtrad: pass "
            "data_dir= (--data-dir) with its raw folder as the publisher distributes it "
            "(see the dataset card)"
        )
    download_config = getattr(dl_manager, "download_config", None)
    root = Path(getattr(download_config, "cache_dir", None) or datasets.config.DOWNLOADED_DATASETS_PATH)
    root = root.expanduser() / "libtrad"
    key = hashlib.sha256(json.dumps([dataclasses.astuple(d) for d in downloads]).encode()).hexdigest()[:16]
    raw = root / "raw" / f"{_identifier(component.name)}-{key}"  # new address whenever the list changes
    raw.parent.mkdir(parents=True, exist_ok=True)
    with locked(raw.parent / f"{raw.name}.lock"):
        if marker_kind(raw) != "raw":  # a raw folder appears (with its marker) only once complete
            prepare_raw(downloads, raw, root / "archives", progress=progress)
    return raw


def _option_specs(component) -> tuple:
    """The build options registered for the component's family (none for an unregistered component)."""
    entry = DATASETS.get(component.family or component.name)
    return tuple(entry.build_options) if entry is not None else ()


def _config_class(component, specs) -> type[ComponentConfig]:
    if not specs:
        return ComponentConfig
    taken = {f.name for f in dataclasses.fields(ComponentConfig)}
    clash = [s.name for s in specs if s.name in taken]
    if clash:
        raise RuntimeError(f"build option(s) {', '.join(clash)} of {component.name} clash with BuilderConfig fields")
    fields = [(s.name, object, dataclasses.field(default=s.default)) for s in specs]
    return dataclasses.make_dataclass(f"{_class_name(component.name)}Config", fields, bases=(ComponentConfig,))


def _identifier(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower() or "dataset"


def _class_name(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^0-9A-Za-z]+", name) if p) or "Dataset"
