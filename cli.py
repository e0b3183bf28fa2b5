"""The one libtrad command line (console script ``libtrad``; ``python cli.py`` from a checkout).

This file only wires the command groups: each lives with its package (``libtrad.builders.cli``,
``libtrad.folders.cli``, ``libtrad.convert.cli``, ``libtrad.ray_jobs.{embedding,evaluation,lib_trad}.cli``)
on the shared machinery of :mod:`libtrad.core.cli_kit`; ``demo`` is the one command of its own.
Every command is a thin wrapper: the work lives in the library modules,
imported lazily so ``--help`` stays fast. User mistakes (:class:`libtrad.core.errors.LibtradError`) become a
one-line ``error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _bootstrap_checkout() -> None:
    """Make ``import libtrad`` work when this file is run as ``python cli.py`` from a checkout."""
    import importlib.util

    root = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location(
        "libtrad", root / "__init__.py", submodule_search_locations=[str(root)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["libtrad"] = module
    spec.loader.exec_module(module)


if __name__ == "__main__" and not __package__:
    try:
        import libtrad  # noqa: F401  (installed)
    except ImportError:
        _bootstrap_checkout()

import click  # noqa: E402

from libtrad.builders import cli as builders_cli  # noqa: E402
from libtrad.convert import cli as convert_cli  # noqa: E402
from libtrad.core.cli_kit import DEBUG_ENV, Group, command, device_option, number, seed_type  # noqa: E402
from libtrad.demo import run_demo  # noqa: E402
from libtrad.folders import cli as folders_cli  # noqa: E402
from libtrad.ray_jobs.benchmark import cli as benchmark_cli  # noqa: E402
from libtrad.ray_jobs.embedding import cli as embedding_cli  # noqa: E402
from libtrad.ray_jobs.evaluation import cli as evaluation_cli  # noqa: E402
from libtrad.ray_jobs.lib_trad import cli as lib_trad_cli  # noqa: E402
from libtrad.ray_jobs.lib_trad.detect_cli import detect_command  # noqa: E402


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="libtrad")
@click.option("--debug", is_flag=True, help=f"Show the traceback of an internal error (also {DEBUG_ENV}=1).")
def main(debug: bool) -> None:
    """libtrad: acoustic anomaly detection for machines (datasets, models, Ray jobs)."""


@command()
@click.option(
    "--scale",
    type=number("--scale", low=0, low_open=True, high=100),
    default=0.05,
    show_default=True,
    help="Size of the synthetic stand-in.",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Where the raw stand-in and the built dataset go (replaced).",
)
@click.option("--seed", type=seed_type(), default=0, show_default=True)
@click.option(
    "--epochs",
    type=number("--epochs", low=1, high=100000, integer=True),
    default=3,
    show_default=True,
    help="Training epochs of the demo's AE and CNN (the papers use 200 / 50).",
)
@click.option(
    "--echo",
    type=click.Path(path_type=Path),
    default=None,
    help="A converted ECHO folder (libtrad convert echo); default: ECHO-Small with random weights.",
)
@device_option
def demo(scale: float, workdir: Path, seed: int, epochs: int, echo: Path | None, device: str) -> None:
    """The main job on the embedded default: synthesize LiB-TRAD and a DCASE year, build, train, embed on
    Ray, evaluate; prints where every artefact is."""
    click.echo(run_demo(workdir, scale=scale, seed=seed, epochs=epochs, echo=echo, device=device))


# --------------------------------------------------------------------------- wiring
evaluation_cli.evaluate.add_command(lib_trad_cli.evaluate_lib_trad_command)
evaluation_cli.evaluate.add_command(lib_trad_cli.evaluate_lib_trad_events_command)

for _command in (
    builders_cli.synth,  # datasets
    builders_cli.build,
    folders_cli.publish_group,
    folders_cli.verify,
    demo,
    convert_cli.convert,  # models
    lib_trad_cli.export,  # export onnx
    lib_trad_cli.train,  # LiB-TRAD recipes (evaluate lib-trad too)
    detect_command,  # a calibrated model's events
    evaluation_cli.evaluate,  # embeddings suites
    embedding_cli.embed_command,  # Ray jobs
    evaluation_cli.leaderboard_command,
    benchmark_cli.benchmark_command,  # the main job on real data
    embedding_cli.check_encoder_command,
    embedding_cli.export_xares_command,
):
    main.add_command(_command)
del _command


if __name__ == "__main__":
    main()
