"""The one libtrad command line (console script ``libtrad``; ``python cli.py`` from a checkout).

Every command is a thin wrapper: the work lives in the library modules, imported lazily so
``--help`` stays fast. User mistakes (:class:`libtrad.errors.LibtradError`) become a one-line
``error: ...`` and exit status 2, never a traceback.
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

from libtrad.errors import LibtradError  # noqa: E402


class _Group(click.Group):
    """A click group that reports :class:`LibtradError` as one line instead of a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LibtradError as exc:
            raise _UserError(str(exc)) from None


class _UserError(click.ClickException):
    exit_code = 2

    def show(self, file=None):
        click.echo(f"error: {self.format_message()}", err=True, file=file)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="libtrad")
def main() -> None:
    """libtrad: acoustic anomaly detection for machines (datasets, models, Ray jobs)."""


# --------------------------------------------------------------------------- datasets
@main.group(cls=_Group)
def synth() -> None:
    """Write synthetic stand-in data in a dataset's raw layout."""


@main.group(cls=_Group)
def build() -> None:
    """Build a dataset from its raw layout into a Hub-ready folder (Parquet + card)."""


@main.group(cls=_Group)
def publish() -> None:
    """Upload a built dataset or a saved model to the Hugging Face Hub."""


# --------------------------------------------------------------------------- models
@main.group(cls=_Group)
def convert() -> None:
    """Convert official checkpoints to libtrad's save_pretrained format."""


@main.group(cls=_Group)
def train() -> None:
    """Train a model with its paper's recipe."""


@main.group(cls=_Group)
def evaluate() -> None:
    """Reproduce a paper's evaluation tables."""


if __name__ == "__main__":
    main()
