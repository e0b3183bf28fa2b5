"""The embedding commands of ``libtrad``: ``embed`` and ``check-encoder``. Wired into the main group by
``libtrad.cli``; Ray, torch and the encoders are imported only inside a command."""

from __future__ import annotations

from pathlib import Path

import click

from libtrad.core.cli_kit import command, device_option, number
from libtrad.ray_jobs.cluster import connect_timeout_option


def encoder_timeout_option(command):
    """``--encoder-timeout SECONDS``: the deadline of each call into a ``py:``/``hear:`` encoder's own code
    (:mod:`libtrad.ray_jobs.embedding.encoders.user_code`; None here means its default, 120 s)."""
    return click.option(
        "--encoder-timeout",
        "encoder_timeout",
        type=number("--encoder-timeout", low=0, low_open=True, high=86400),
        default=None,
        help="Seconds each call into a py: or hear: encoder's own code may take — its import, its "
        "constructor or load_model, the load-time probe, one batch's forward (default: 120). Past it the "
        "command stops with one error naming the module and the stage that did not finish.",
    )(command)


PRECISION_HELP = (
    "fp32 (default numerics), bf16 autocast (faster on AVX512-BF16/AMX CPUs and GPUs, not "
    "bit-faithful) or fp16 autocast (CUDA only)."
)


@command("embed")
@click.option(
    "--dataset",
    required=True,
    help="A dataset folder (e.g. a libtrad export), a Hub id user/name, or "
    "a URL: hf://datasets/ORG/NAME[@REV], s3://BUCKET/PREFIX, gs://..., file://...",
)
@click.option("--config", default=None, help="Config to embed (default: the card's default config).")
@click.option("--split", "splits", multiple=True, help="Split to embed; repeat for several (default: all).")
@click.option(
    "--encoder",
    required=True,
    help="echo:DIR | attention-ae:DIR | logmel-stats | hf:DIR (a folder kind also "
    "takes a Hub id ORG/NAME[@REV]) | py:package.module:Class[?key=value...] (your own class).",
)
@click.option(
    "--encoder-weights",
    "encoder_weights",
    type=click.Path(path_type=Path),
    default=None,
    help="A .safetensors file loaded strictly into a py: encoder's state_dict.",
)
@click.option(
    "--output",
    required=True,
    help="The embeddings folder to write: a path, or an object-store URL (s3://BUCKET/PREFIX, gs://..., file://...).",
)
@click.option(
    "--address",
    default=None,
    help="Attach to a running Ray cluster (auto, HOST:PORT, ray://...); default: a private local Ray on 127.0.0.1.",
)
@connect_timeout_option
@encoder_timeout_option
@click.option(
    "--actors",
    type=number("--actors", low=1, high=4096, integer=True),
    default=None,
    help="Encoder actors (default: one per node).",
)
@click.option(
    "--threads-per-actor",
    type=number("--threads-per-actor", low=1, high=4096, integer=True),
    default=None,
    help="Torch threads per actor (default: the node's cores ÷ its actors).",
)
@click.option(
    "--batch-size",
    type=number("--batch-size", low=1, high=65536, integer=True),
    default=None,
    help="Clips per encoder call (default: 8 on a CPU, 64 on a GPU; results do not depend on it).",
)
@click.option("--frames", is_flag=True, help="Also store frame embeddings (column `frames`).")
@click.option(
    "--channels",
    default=None,
    help="Channels to embed: names separated by commas (DE, DE,FE, a named set "
    "such as both) or all. Default: the dataset's channel policy (its card's channel_policy: CWRU's DE, "
    "as SIREN reads it), else all.",
)
@click.option(
    "--multichannel",
    type=click.Choice(["concat", "mean"]),
    default="concat",
    show_default=True,
    help="Multichannel rows: channel embeddings concatenated (SIREN) or averaged.",
)
@click.option(
    "--chunk-seconds",
    "chunk_seconds",
    type=number("--chunk-seconds", low=0.1, high=3600),
    default=10.0,
    show_default=True,
    help="Long records: cut into chunks of this length where the encoder is "
    "frame-local (frames stitched exactly); a forward holds at most batch size x this much audio.",
)
@click.option(
    "--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True, help=PRECISION_HELP
)
@device_option
@click.option(
    "--gpus-per-actor",
    type=number("--gpus-per-actor", low=0, high=8),
    default=None,
    help="GPUs each encoder actor asks Ray for: 0 (the CPU), a share of one (0.5) or whole GPUs "
    "(default: 1 when the cluster has GPUs and --device is not cpu, else 0).",
)
@click.option(
    "--no-verify",
    "no_verify",
    is_flag=True,
    help="Embed a libtrad dataset folder whose shards differ from its .libtrad.json checksums "
    "(recorded in embeddings.json).",
)
def embed_command(
    dataset,
    config,
    splits,
    encoder,
    encoder_weights,
    output,
    address,
    encoder_timeout,
    actors,
    threads_per_actor,
    batch_size,
    frames,
    channels,
    multichannel,
    chunk_seconds,
    precision,
    device,
    gpus_per_actor,
    no_verify,
) -> None:
    """Embed a dataset's rows with an encoder on Ray (resumable; every row exactly once)."""
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    summary = embed_dataset(
        dataset,
        encoder,
        output,
        config=config,
        splits=list(splits) or None,
        address=address,
        actors=actors,
        threads_per_actor=threads_per_actor,
        batch_size=batch_size,
        frames=frames,
        multichannel=multichannel,
        precision=precision,
        device=device,
        gpus_per_actor=gpus_per_actor,
        no_verify=no_verify,
        encoder_weights=encoder_weights,
        channels=channels,
        chunk_seconds=chunk_seconds,
        encoder_timeout=encoder_timeout,
    )
    click.echo(
        f"wrote embeddings to {summary.output} (dim {summary.output_dim}; {summary.computed} of "
        f"{summary.units} units computed, {summary.reused} reused)"
    )
    for split, rows in summary.rows.items():
        click.echo(f"  {split}: {rows} rows")
    if summary.channels is not None:
        sets = ", ".join(f"{name or 'none'} {n}" for name, n in sorted(summary.channel_sets.items()))
        click.echo(
            f"  channels: {summary.channels.shown()} ({summary.channels.origin})"
            + (f"; rows per set: {sets}" if sets else "")
        )


@command("check-encoder")
@click.argument("encoder", metavar="SPEC")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: spec, encoder, checks, passed.")
@click.option("--quick", is_flag=True, help="Skip the 30-s clip (the slow check).")
@click.option(
    "--encoder-weights",
    "encoder_weights",
    type=click.Path(path_type=Path),
    default=None,
    help="A .safetensors file loaded strictly into a py: encoder's state_dict (as embed takes it).",
)
@device_option
@click.option(
    "--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True, help=PRECISION_HELP
)
@encoder_timeout_option
def check_encoder_command(
    encoder: str,
    as_json: bool,
    quick: bool,
    encoder_weights: Path | None,
    device: str,
    precision: str,
    encoder_timeout: float | None,
) -> None:
    """Check that an encoder spec (as `embed --encoder` takes) keeps the encoder contract.

    Prints one `FAIL <check>: ...` line per failed check and a summary; exit status 1 if any failed.
    A py: or hear: encoder is loaded and checked in a process of its own, each call into its code
    bounded by --encoder-timeout.
    """
    import json

    from libtrad.ray_jobs.embedding.check_encoder import check_encoder_spec, format_report, results_json

    results = check_encoder_spec(
        encoder, quick=quick, device=device, precision=precision, weights=encoder_weights, timeout=encoder_timeout
    )
    click.echo(json.dumps(results_json(results, spec=encoder), indent=2) if as_json else format_report(results))
    if not all(r.passed for r in results):
        click.get_current_context().exit(1)


@command("export-xares")
@click.option("--encoder", required=True, help="The encoder spec, as `embed --encoder` takes it.")
@click.option(
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="The .py file to write: X-ARES's ENCODER_PY (`python -m xares.run FILE.py TASKS...`).",
)
@click.option(
    "--class-name",
    "class_name",
    default=None,
    help="The class's name, ending in Encoder (default: from the model's name). X-ARES keys its caches "
    "by this name: give each model its own.",
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16"]),
    default="fp32",
    show_default=True,
    help="fp32 (default numerics) or bf16 autocast.",
)
@click.option(
    "--encoder-weights",
    "encoder_weights",
    type=click.Path(path_type=Path),
    default=None,
    help="A py: encoder's .safetensors file (as embed takes it).",
)
@encoder_timeout_option
def export_xares_command(
    encoder: str,
    output: Path,
    class_name: str | None,
    precision: str,
    encoder_weights: Path | None,
    encoder_timeout: float | None,
) -> None:
    """Write a Python file whose zero-argument *Encoder class X-ARES imports: one libtrad encoder, pinned.

    The file holds the spec (a folder made absolute, a Hub id pinned to its commit) and the model files'
    hashes; building the class refuses a model changed since. Replaces only a file it wrote.
    """
    from libtrad.ray_jobs.embedding.encoders.xares import write_xares_file

    written = write_xares_file(
        encoder, output, class_name=class_name, precision=precision, weights=encoder_weights, timeout=encoder_timeout
    )
    numbers = written.numbers
    click.echo(
        f"wrote {written.path}: class {written.class_name} = {written.spec} (sampling_rate "
        f"{numbers['sampling_rate']}, output_dim {numbers['output_dim']}, hop_size_in_ms "
        f"{numbers['hop_size_in_ms']:g})"
    )
    click.echo(
        f"  run X-ARES from {written.path.parent.resolve()}: python -m xares.run {written.path.name} TASK.py ..."
    )
