"""The dataset commands of ``libtrad``: ``synth DATASET``, ``build DATASET`` (one of each per entry of
:data:`libtrad.builders.registry.DATASETS`). Wired into the main group by
``libtrad.cli``; the work lives in the builders, imported lazily where it is heavy."""

from __future__ import annotations

from pathlib import Path

import click

from libtrad.builders.registry import DATASETS
from libtrad.core.cli_kit import comma_list, group, number


@group()
def synth() -> None:
    """Write synthetic stand-in data in a dataset's raw layout."""


@group()
def build() -> None:
    """Build a dataset from its raw layout into a Hub-ready folder (Parquet + card)."""


def _spec_option(spec, *, prefix: str = ""):
    """A click option from a dataset's :class:`~libtrad.core.options.OptionSpec` (flag, default, checks)."""
    if spec.kind is bool:
        return click.option(spec.flag, spec.name, is_flag=True, default=spec.default, help=spec.help)
    if spec.choices:
        kind = click.Choice([str(c) for c in spec.choices])
    elif spec.kind in (int, float):
        kind = number(spec.flag, integer=spec.kind is int, **spec.bounds)
    else:
        kind = click.Path(path_type=Path) if spec.kind is Path else str
    return click.option(
        spec.flag, spec.name, type=kind, default=spec.default, show_default=spec.default is not None, help=spec.help
    )


def _with_options(specs, function):
    for spec in reversed(specs):
        function = _spec_option(spec)(function)
    return function


def _component_option(entry, *, allow_all: bool):
    names = list(entry.components) + (["all"] if allow_all else [])
    return click.option(
        "--component",
        required=True,
        type=click.Choice(names),
        help="The component; all: DATA_DIR/<component>/ (or OUT/<component>/) for each.",
    )


def _synth_command(entry) -> click.Command:
    def run(out: Path, component: str | None = None, **options) -> None:
        summary = entry.synthesize(out, component=component, **options)
        click.echo(summary.describe())

    run.__doc__ = f"Write a SYNTHETIC stand-in for {entry.name} in its official raw layout to OUT."
    command = _with_options(entry.synth_options, run)
    if entry.multi:
        command = _component_option(entry, allow_all=True)(command)
    command = click.argument("out", type=click.Path(file_okay=False, path_type=Path))(command)
    return synth.command(entry.name, help=f"{run.__doc__}\n\n{entry.summary}")(command)


def _build_command(entry) -> click.Command:
    def run(data_dir, output_dir, configs, on_error, repo_id, license_, component=None, **options) -> None:
        summary = entry.build(
            data_dir,
            output_dir,
            component=component,
            configs=comma_list("--configs", configs),
            on_error=on_error,
            repo_id=repo_id,
            license=license_,
            **options,
        )
        click.echo(summary.describe())

    command = _with_options(entry.build_options, run)
    for option in reversed(
        [
            click.option("--data-dir", required=True, type=click.Path(path_type=Path), help=entry.data_dir_help),
            click.option(
                "--output",
                "output_dir",
                type=click.Path(path_type=Path),
                default=entry.default_output or None,
                show_default=bool(entry.default_output),
                help="Hub dataset folder to write (replaced atomically if it is libtrad's previous export).",
            ),
            click.option("--configs", default=None, help="Comma-separated subset of configs (default: all)."),
            click.option(
                "--on-error",
                type=click.Choice(["raise", "skip"]),
                default="raise",
                show_default=True,
                help="skip: leave bad files out and list them in manifest.json and the card.",
            ),
            click.option("--repo-id", default=None, help="Hub id used in the card's usage snippet."),
            click.option("--license", "license_", default=None, help="Card license (default: the dataset's own)."),
            *([_component_option(entry, allow_all=True)] if entry.multi else []),
        ]
    ):
        command = option(command)
    return build.command(
        entry.name,
        help=f"Validate a raw {entry.name} folder and export it as a Hub dataset repository.\n\n{entry.summary}",
    )(command)


def _register_dataset_commands() -> None:
    for entry in DATASETS.values():
        _synth_command(entry)
        _build_command(entry)


_register_dataset_commands()
