"""``libtrad benchmark``: the command. Wired into the main group by ``libtrad.cli``; the work
(:mod:`libtrad.ray_jobs.benchmark.run`), Ray and torch are imported only when it runs."""

from __future__ import annotations

from pathlib import Path

import click

from libtrad.core.cli_kit import comma_list, command, device_option, number
from libtrad.ray_jobs.benchmark.plan import SUITES
from libtrad.ray_jobs.benchmark.state import STAGES
from libtrad.ray_jobs.cluster import connect_timeout_option


@command("benchmark")
@click.option(
    "--encoder",
    "encoders",
    multiple=True,
    required=True,
    help="The encoder to benchmark, as `embed --encoder` takes it (echo:DIR, hf:ORG/NAME, logmel-stats, py:…); "
    "repeat to compare several in one run (each loaded once).",
)
@click.option(
    "--suite",
    type=click.Choice(list(SUITES)),
    default="siren",
    show_default=True,
    help="siren: ECHO Table 2's components and protocols; lib-trad: LiB-TRAD Table 3; all: both.",
)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A folder holding each component's raw folder (as its publisher distributes it) or built dataset as "
    "DIR/<component>/ (dcase2020 … dcase2025, iiee, iica, cwru, mafaulda, lib-trad, …).",
)
@click.option(
    "--hub",
    default=None,
    help="Instead of --data-root: built datasets, DIR/<component>/ of a local folder or ORG/<component> on the Hub.",
)
@click.option("--output", required=True, type=click.Path(path_type=Path), help="The benchmark folder (resumable).")
@click.option("--components", default=None, help="Only these components (comma-separated).")
@click.option("--from-stage", type=click.Choice(STAGES), default="build", show_default=True)
@click.option("--to-stage", type=click.Choice(STAGES), default="report", show_default=True)
@click.option(
    "--train-lib-trad-ae",
    "lib_trad_epochs",
    type=number("--train-lib-trad-ae", low=1, high=100_000, integer=True),
    default=None,
    help="Also train LiB-TRAD's attention AE per experiment for this many epochs (the paper: 200) and score "
    "it beside the first encoder (Table 3's proposed method).",
)
@click.option(
    "--diff-against",
    default=None,
    help="The published row (MODEL or TABLE:MODEL) of the differences; default: ECHO Small / Proposed.",
)
@click.option(
    "--address", default=None, help="Attach to a running Ray cluster; default: one private local Ray for the run."
)
@connect_timeout_option
@click.option(
    "--actors",
    type=number("--actors", low=1, high=4096, integer=True),
    default=None,
    help="Encoder actors per encoder (default: one per node).",
)
@click.option(
    "--batch-size",
    type=number("--batch-size", low=1, high=65536, integer=True),
    default=None,
    help="Clips per encoder call (results do not depend on it).",
)
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True)
@device_option
@click.option("--no-progress", is_flag=True, help="No progress bar (the per-component lines stay).")
def benchmark_command(
    encoders,
    suite,
    data_root,
    hub,
    output,
    components,
    from_stage,
    to_stage,
    lib_trad_epochs,
    diff_against,
    address,
    actors,
    batch_size,
    precision,
    device,
    no_progress,
) -> None:
    """From a folder of corpora to the paper's table: build, embed, evaluate each component with its paper's
    protocol, and report the leaderboard with the published rows and the difference per cell. Resumable:
    the same command finishes an interrupted run and recomputes nothing that did not change."""
    from libtrad.ray_jobs.benchmark.run import raise_if_failed, run_benchmark

    embed_options = {k: v for k, v in (("actors", actors), ("batch_size", batch_size)) if v is not None}
    if precision != "fp32":
        embed_options["precision"] = precision
    summary = run_benchmark(
        list(encoders),
        output,
        suite=suite,
        data_root=data_root,
        hub=hub,
        components=comma_list("--components", components),
        from_stage=from_stage,
        to_stage=to_stage,
        device=device,
        address=address,
        embed_options=embed_options,
        lib_trad_epochs=lib_trad_epochs,
        diff_against=diff_against,
        progress=not no_progress,
    )
    click.echo(summary.describe())
    raise_if_failed(summary)
