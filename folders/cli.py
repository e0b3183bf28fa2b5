"""The folder commands of ``libtrad``: ``verify`` and ``publish dataset|model``, and the option helpers that
wrap this room's code for every command group (:data:`PATH_OR_URL`, :func:`publish_options`, :func:`publish`).

Wired into the main group by ``libtrad.cli``; huggingface_hub is imported only inside a command.
"""

from __future__ import annotations

from pathlib import Path

import click

from libtrad.core.cli_kit import command, group
from libtrad.core.errors import LibtradError
from libtrad.folders.marker import marker_kind
from libtrad.folders.publish import plan_upload, publish_folder
from libtrad.folders.remote import local_folder
from libtrad.folders.storage import is_url
from libtrad.folders.verify import verify_folder


class PathOrURL(click.ParamType):
    """An input folder: a local path (a ``Path``) or an fsspec URL kept as text (``s3://b/x``: a ``Path``
    would fold its ``//``); the commands fetch a URL's folder through :mod:`libtrad.folders.remote`."""

    name = "path"

    def convert(self, value, param, ctx):
        return value if isinstance(value, Path) or is_url(value) else Path(value)


PATH_OR_URL = PathOrURL()


def publish_options(command):
    """The arguments every ``publish`` command takes."""
    command = click.option("--dry-run", is_flag=True, help="List exactly what would be sent; send nothing.")(command)
    command = click.option("--private", is_flag=True, help="Create the repo as private.")(command)
    command = click.option("--repo-id", required=True, help="Target Hub repo, ORG/NAME.")(command)
    return click.argument("folder", type=PATH_OR_URL)(command)


def publish(folder: Path, repo_id: str, repo_type: str, private: bool, dry_run: bool, required: tuple) -> None:
    """The one publish path: plan (validate + list), then print the plan or upload it."""
    plan = plan_upload(folder, repo_id, repo_type, private, required=required)
    if dry_run:
        click.echo(plan.describe())
        return
    url = publish_folder(plan, folder, commit_message=f"Upload {repo_type} with libtrad")
    click.echo(f"published {len(plan.files)} files to {url}")


@command()
@click.argument("folder", type=PATH_OR_URL)
def verify(folder: Path) -> None:
    """Check any libtrad folder (a path or a URL: s3://, gs://, hf://, file://): checksums, schema, every shard
    readable, card configs matching the shards."""
    report = verify_folder(folder)
    click.echo(report.describe())
    if not report.ok:
        raise LibtradError(f"{folder}: {len(report.problems)} problem(s) found (listed above)")


@group("publish")
def publish_group() -> None:
    """Upload a built dataset or a saved model to the Hugging Face Hub."""


@publish_group.command("dataset")
@publish_options
def publish_dataset(folder: Path, repo_id: str, private: bool, dry_run: bool) -> None:
    """Upload a built dataset folder (README.md card, data/, manifest.json), an embeddings folder
    (README.md card, data/, embeddings.json) or a benchmark folder (README.md card, benchmark.json, results,
    leaderboard: what its marker lists) to the Hub."""
    # a URL: its fetched copy (publish reads the same, cached)
    kind = marker_kind(local_folder(folder, "folder"))
    if kind == "benchmark":  # libtrad benchmark's results: the card, benchmark.json, results/ and leaderboard/
        publish(folder, repo_id, "dataset", private, dry_run, required=("README.md", "benchmark.json"))
        return
    record = "embeddings.json" if kind == "embeddings" else "manifest.json"
    publish(folder, repo_id, "dataset", private, dry_run, required=("README.md", record, "data"))


@publish_group.command("model")
@publish_options
def publish_model(folder: Path, repo_id: str, private: bool, dry_run: bool) -> None:
    """Upload a saved model folder (config.json, model.safetensors, README.md card) to the Hub."""
    publish(folder, repo_id, "model", private, dry_run, required=("config.json", "model.safetensors", "README.md"))
