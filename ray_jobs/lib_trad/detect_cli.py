"""``libtrad detect``: a calibrated model's events in audio files, a dataset export or a live stream.

Exit status for cron/systemd: 0 = no anomaly, 1 = at least one event, 2 = an error (one ``error:`` line;
an unexpected failure too, so that 1 always means an anomaly). Wired into the main group by ``libtrad.cli``;
numpy, soundfile and the models are imported only inside the command.
"""

from __future__ import annotations

import os
import sys

import click

from libtrad.core.cli_kit import DEBUG_ENV, command, describe_unexpected, number
from libtrad.core.errors import LibtradError

FUSION_HELP = (
    "How the channels of one recording are fused frame by frame: mean of the normalised scores (default: keeps the "
    "single-microphone calibration an upper estimate), any (highest channel), majority (more than half active)."
)


@command("detect")
@click.option("--model", required=True, help="Calibrated model: folder or Hub id ORG/NAME (torch); .onnx (onnx).")
@click.argument("audio", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--dataset", default=None, help="A built LiB-TRAD dataset (folder or Hub id) instead of AUDIO files.")
@click.option("--config", "dataset_config", default="tr1", show_default=True, help="Dataset config (--dataset).")
@click.option("--split", default="test", show_default=True, help="Dataset split (--dataset).")
@click.option("--stream", is_flag=True, help="Read audio from stdin as it arrives; print each event as it closes.")
@click.option(
    "--stream-format",
    type=click.Choice(["wav", "s16le", "f32le"]),
    default="wav",
    show_default=True,
    help="stdin: a WAV header, or raw interleaved little-endian PCM (then --sample-rate and --channels).",
)
@click.option("--sample-rate", type=number("--sample-rate", low=1, high=1_000_000, integer=True), default=None)
@click.option("--channels", type=number("--channels", low=1, high=256, integer=True), default=None)
@click.option("--fusion", type=click.Choice(["mean", "any", "majority"]), default="mean", show_default=True,
              help=FUSION_HELP)  # fmt: skip
@click.option("--format", "output_format", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--backend", type=click.Choice(["torch", "onnx"]), default="torch", show_default=True)
@click.option("--cache-dir", default=None, type=click.Path(), help="datasets cache folder (--dataset).")
@click.option("--no-verify", is_flag=True, help="Load a model folder whose files differ from its .libtrad.json.")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
def detect_command(
    model, audio, dataset, dataset_config, split, stream, stream_format, sample_rate, channels, fusion,
    output_format, backend, cache_dir, no_verify, no_progress,
) -> int:  # fmt: skip
    """Events (start, end, peak score, channels) of a model calibrated by `libtrad train`, as JSON lines or CSV.

    Exit status: 0 no anomaly, 1 anomaly found, 2 error."""
    sources = sum([bool(audio), dataset is not None, stream])
    if sources != 1:
        raise LibtradError("give exactly one of: AUDIO files, --dataset PATH, --stream")
    if not stream and (sample_rate is not None or channels is not None):
        raise LibtradError("--sample-rate and --channels describe raw PCM on stdin: only with --stream")
    try:
        return _run(model, audio, dataset, dataset_config, split, stream, stream_format, sample_rate, channels,
                    fusion, output_format, backend, cache_dir, no_verify, not no_progress)  # fmt: skip
    except (LibtradError, click.ClickException, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - exit 1 means "anomaly": any other failure must exit 2
        if os.environ.get(DEBUG_ENV, "").lower() in {"1", "true", "yes", "on"}:
            raise
        raise LibtradError(describe_unexpected(exc)[0]) from None


def _run(model, audio, dataset, config, split, stream, stream_format, sample_rate, channels, fusion, output_format,
         backend, cache_dir, no_verify, progress) -> int:  # fmt: skip
    from libtrad.ray_jobs.lib_trad import detect

    scorer, section = detect.load_backend(model, backend, no_verify=no_verify)
    writer = detect.EventWriter(sys.stdout, output_format)
    if stream:
        detect.detect_stream(
            scorer, section, sys.stdin.buffer, writer,
            stream_format=stream_format, sample_rate=sample_rate, channels=channels, fusion=fusion,
        )  # fmt: skip
    elif dataset is not None:
        detect.detect_dataset(scorer, section, dataset, config, split, writer, cache_dir=cache_dir, progress=progress)
    else:
        detect.detect_files(scorer, section, audio, writer, fusion=fusion, progress=progress)
    return 1 if writer.count else 0


__all__ = ["detect_command"]
