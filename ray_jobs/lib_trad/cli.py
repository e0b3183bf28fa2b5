"""The LiB-TRAD paper's commands of ``libtrad``: ``train cnn|ae`` and ``evaluate lib-trad``. Wired into the
main group (and its ``evaluate`` group) by ``libtrad.cli``; torch, transformers and datasets are imported
only inside a command."""

from __future__ import annotations

from pathlib import Path

import click

from libtrad.core.cli_kit import comma_list, command, device_option, group, number, seed_type
from libtrad.core.errors import LibtradError
from libtrad.folders.cli import PATH_OR_URL
from libtrad.ray_jobs.cluster import connect_timeout_option
from libtrad.ray_jobs.evaluation.cli import print_results
from libtrad.ray_jobs.evaluation.evaluate import evaluate_embeddings


@group()
def train() -> None:
    """Train a model with its paper's recipe."""


def _lib_trad_recipe(default, epochs, batch_size, lr, seed):
    from libtrad.ray_jobs.lib_trad.training import Recipe

    return Recipe(
        epochs=default.epochs if epochs is None else epochs,
        batch_size=default.batch_size if batch_size is None else batch_size,
        learning_rate=default.learning_rate if lr is None else lr,
        seed=seed,
    )


def _lib_trad_train_options(config_default: str):
    def decorate(fn):
        for option in reversed(
            [
                click.option(
                    "--dataset", required=True, help="Built LiB-TRAD dataset: Hub-style folder or Hub id ORG/NAME."
                ),
                click.option("--config", default=config_default, show_default=True, help="Dataset config to train on."),
                click.option(
                    "--output",
                    required=True,
                    type=click.Path(path_type=Path),
                    help="Model folder to write (save_pretrained + README.md card).",
                ),
                click.option(
                    "--epochs",
                    type=number("--epochs", low=1, high=100_000, integer=True),
                    default=None,
                    help="Override the recipe's epochs (quick runs).",
                ),
                click.option(
                    "--batch-size",
                    type=number("--batch-size", low=1, high=65_536, integer=True),
                    default=None,
                    help="Override the recipe's batch size.",
                ),
                click.option(
                    "--lr",
                    type=number("--lr", low=0, low_open=True, high=10),
                    default=None,
                    help="Override Adam's learning rate (paper: 1e-3).",
                ),
                click.option("--seed", type=seed_type(), default=0, show_default=True),
                click.option(
                    "--cache-dir", type=click.Path(path_type=Path), default=None, help="datasets cache folder."
                ),
                click.option(
                    "--false-alarms-per-hour",
                    type=number("--false-alarms-per-hour", low=0, low_open=True, high=3600),
                    default=None,
                    help="Calibrate the detection threshold for this many false alarms per hour on held-out normal "
                    "audio [default: 1, skipped with a note where that audio is under an hour].",
                ),
                device_option,
            ]
        ):
            fn = option(fn)
        return fn

    return decorate


def _calibration(false_alarms_per_hour: float | None) -> dict:
    """The training call's calibration arguments: the default target where the user gave none (a note when the
    held-out audio is too short), the user's own otherwise (too short: an error before training)."""
    from libtrad.ray_jobs.lib_trad.calibration import DEFAULT_FALSE_ALARMS_PER_HOUR

    if false_alarms_per_hour is None:
        return {"false_alarms_per_hour": DEFAULT_FALSE_ALARMS_PER_HOUR, "require_calibration": False}
    return {"false_alarms_per_hour": false_alarms_per_hour, "require_calibration": True}


@train.command("cnn")
@_lib_trad_train_options("tr1_cls")
def train_cnn_command(
    dataset, config, output, epochs, batch_size, lr, seed, cache_dir, false_alarms_per_hour, device
) -> None:
    """LiB-TRAD CNN classifier (paper Table 2 baseline): BCE, Adam 1e-3, validation AUC every epoch."""
    from libtrad.ray_jobs.lib_trad.training import CNN_RECIPE, train_cnn

    result = train_cnn(
        dataset,
        output,
        config=config,
        recipe=_lib_trad_recipe(CNN_RECIPE, epochs, batch_size, lr, seed),
        cache_dir=cache_dir,
        device=device,
        **_calibration(false_alarms_per_hour),
    )
    last = result.history[-1]
    click.echo(
        f"saved CNN to {output} ({result.seconds:.1f} s): final loss {last['loss']:.4f}, "
        f"validation AUC {'n/a' if last.get('val_auc') is None else format(last['val_auc'], '.4f')}"
    )


@train.command("ae")
@_lib_trad_train_options("tr1")
@click.option(
    "--context-frames",
    type=number("--context-frames", low=1, high=255, integer=True),
    default=1,
    show_default=True,
    help="1 = the paper's literal attention over one frame (= V); odd N > 1 attends over N neighbouring frames.",
)
@click.option(
    "--score-reduction",
    type=click.Choice(["mean", "max", "percentile"]),
    default="mean",
    show_default=True,
    help="Frame scores -> clip score (paper: mean).",
)
def train_ae_command(
    dataset,
    config,
    output,
    epochs,
    batch_size,
    lr,
    seed,
    cache_dir,
    false_alarms_per_hour,
    device,
    context_frames,
    score_reduction,
) -> None:
    """LiB-TRAD attention auto-encoder (paper Table 3): 200 epochs, 128-frame batches, Mahalanobis scoring."""
    from libtrad.ray_jobs.lib_trad.training import AE_RECIPE, train_attention_ae

    if context_frames < 1 or context_frames % 2 == 0:
        raise LibtradError(f"--context-frames {context_frames}: must be an odd number >= 1")
    result = train_attention_ae(
        dataset,
        output,
        config=config,
        recipe=_lib_trad_recipe(AE_RECIPE, epochs, batch_size, lr, seed),
        cache_dir=cache_dir,
        model_kwargs={"context_frames": context_frames, "score_reduction": score_reduction},
        device=device,
        **_calibration(false_alarms_per_hour),
    )
    auc = result.history[-1].get("test_auc")
    click.echo(
        f"saved auto-encoder to {output} ({result.seconds:.1f} s): final loss {result.history[-1]['loss']:.4f}, "
        f"test AUC {'n/a' if auc is None else format(auc, '.4f')}"
    )


def _models_and_inputs(models, dataset, embeddings, experiments: str, cache_dir, what: str) -> tuple[dict | None, dict]:
    """The LiB-TRAD suites' ``--experiments``/``--model``/``--dataset``/``--embeddings``, checked: the model
    folder per chosen experiment (or None) and the extra inputs results.json records beside the embeddings."""
    from libtrad.ray_jobs.lib_trad.evaluation import EXPERIMENTS, parse_model_arguments

    chosen = tuple(e.lower() for e in comma_list("--experiments", experiments))
    if not chosen or any(e not in EXPERIMENTS for e in chosen):
        raise LibtradError(f"--experiments {experiments}: expected a comma-separated subset of {','.join(EXPERIMENTS)}")
    if not models and not embeddings:
        raise LibtradError(f"give --model ({what}, with --dataset) and/or --embeddings")
    if models and not dataset:
        raise LibtradError("--model needs --dataset (the built LiB-TRAD dataset to score)")
    model_args = parse_model_arguments(models, chosen) if models else None
    extra = {"--dataset": Path(dataset) if dataset and Path(dataset).exists() else None, "--cache-dir": cache_dir}
    extra.update({f"--model {e}": Path(d) for e, d in (model_args or {}).items()})
    return model_args, extra


@command("lib-trad")
@click.option(
    "--model",
    "models",
    multiple=True,
    help="Model folder (used for every experiment) or EXPERIMENT=DIR, repeated (tr1=..., tr2=..., tr3=...).",
)
@click.option("--dataset", default=None, help="Built LiB-TRAD dataset (with --model): Hub-style folder or Hub id.")
@click.option(
    "--embeddings",
    "embeddings",
    multiple=True,
    type=PATH_OR_URL,
    help="Embeddings of a LiB-TRAD anomaly config (libtrad embed --config all): KNN and Mahalanobis scorers.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=Path("lib-trad-eval"),
    show_default=True,
    help="Folder for the JSON, Markdown and ROC PNGs.",
)
@click.option("--experiments", default="tr1,tr2,tr3", show_default=True, help="Comma-separated experiments.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="datasets cache folder.")
@click.option("--local", is_flag=True, help="Run the embedding units in this process instead of as Ray tasks.")
@click.option("--address", default=None, help="Attach to a running Ray cluster (auto, HOST:PORT, ray://...).")
@connect_timeout_option
@click.option(
    "--no-verify",
    "no_verify",
    is_flag=True,
    help="Use --model and --embeddings folders whose files differ from their .libtrad.json checksums "
    "(a note is printed; embeddings recorded in results.json).",
)
@click.option(
    "--allow-duplicates",
    "allow_duplicates",
    is_flag=True,
    help="Keep --embeddings rows whose path repeats, or whose recording is on both sides of the split "
    "(counted in results.json).",
)
@device_option
def evaluate_lib_trad_command(
    models, dataset, embeddings, output, experiments, cache_dir, local, address, no_verify, allow_duplicates, device
) -> None:
    """Paper Table 2 (CNN models: validation of tr*_cls) or Table 3 (auto-encoders: test of tr*), and/or
    KNN and Mahalanobis scorers on embeddings — in one table when both are given."""
    from libtrad.ray_jobs.lib_trad.evaluation import attach_models, evaluate_lib_trad

    model_args, extra = _models_and_inputs(models, dataset, embeddings, experiments, cache_dir, "trained checkpoints")
    if not embeddings:
        summary = evaluate_lib_trad(
            model_args, dataset, output, cache_dir=cache_dir, no_verify=no_verify, device=device
        )
        click.echo((output / summary["files"][1]).read_text().rstrip())
        click.echo(f"wrote {', '.join(summary['files'])} to {output}")
        return

    attach = (
        attach_models(model_args, dataset, cache_dir=cache_dir, no_verify=no_verify, device=device)
        if model_args
        else None
    )
    evaluate_embeddings(
        "lib-trad",
        list(embeddings),
        output,
        local=local,
        address=address,
        no_verify=no_verify,
        allow_duplicates=allow_duplicates,
        extra_inputs=extra,
        attach=attach,
        device=device,
    )
    print_results(output)


@command("lib-trad-events")
@click.option(
    "--model",
    "models",
    multiple=True,
    help="Attention-AE folder (used for every experiment) or EXPERIMENT=DIR, repeated: its frame scores.",
)
@click.option("--dataset", default=None, help="Built LiB-TRAD dataset (with --model): Hub-style folder or Hub id.")
@click.option(
    "--embeddings",
    "embeddings",
    multiple=True,
    type=PATH_OR_URL,
    help="Embeddings with frames (libtrad embed --frames) of a LiB-TRAD anomaly config, and optionally of "
    "normal_charging: KNN and Mahalanobis scores per frame.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=Path("lib-trad-events"),
    show_default=True,
    help="Folder for results.json, results.md and the scores-over-time PNGs.",
)
@click.option("--experiments", default="tr1,tr2,tr3", show_default=True, help="Comma-separated experiments (--model).")
@click.option("--scorers", default="knn,mahalanobis", show_default=True, help="Frame scorers on --embeddings.")
@click.option(
    "--hop-ms",
    type=number("--hop-ms", low=0),
    default=0.0,
    show_default=True,
    help="Frame hop of --embeddings in ms (the encoder's hop_size_in_ms; 0: the 10-s segment / frame count).",
)
@click.option(
    "--max-train-frames",
    type=number("--max-train-frames", low=2, integer=True),
    default=20_000,
    show_default=True,
    help="Normal training frames the --embeddings scorers keep per experiment (evenly strided).",
)
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="datasets cache folder.")
@click.option("--local", is_flag=True, help="Run the embedding units in this process instead of as Ray tasks.")
@click.option("--address", default=None, help="Attach to a running Ray cluster (auto, HOST:PORT, ray://...).")
@connect_timeout_option
@click.option("--no-verify", "no_verify", is_flag=True, help="Use folders whose files differ from their checksums.")
@click.option("--allow-duplicates", "allow_duplicates", is_flag=True, help="Keep repeated --embeddings rows.")
@device_option
def evaluate_lib_trad_events_command(
    models,
    dataset,
    embeddings,
    output,
    experiments,
    scorers,
    hop_ms,
    max_train_frames,
    cache_dir,
    local,
    address,
    no_verify,
    allow_duplicates,
    device,
) -> None:
    """Venting events in time: event F1 (sed_eval's collars), segment F1, detection latency and false alarms per
    hour, from frame embeddings and/or trained attention AEs, post-processing chosen by cross-fitting."""
    from libtrad.ray_jobs.lib_trad.event_models import attach_event_models, evaluate_event_models

    model_args, extra = _models_and_inputs(models, dataset, embeddings, experiments, cache_dir, "trained attention AEs")
    common = {"cache_dir": cache_dir, "no_verify": no_verify, "device": device}
    if not embeddings:
        evaluate_event_models(model_args, dataset, output, **common)
        print_results(output)
        return
    evaluate_embeddings(
        "lib-trad-events",
        list(embeddings),
        output,
        local=local,
        address=address,
        no_verify=no_verify,
        allow_duplicates=allow_duplicates,
        extra_inputs=extra,
        attach=attach_event_models(model_args, dataset, **common) if model_args else None,
        scorers=tuple(comma_list("--scorers", scorers)),
        hop_ms=hop_ms,
        max_train_frames=max_train_frames,
    )
    print_results(output)


@group()
def export() -> None:
    """Export a trained LiB-TRAD model for deployment."""


@export.command("onnx")
@click.option(
    "--model", required=True, help="Trained LiB-TRAD model: a folder (libtrad train) or a Hub id ORG/NAME[@REV]."
)
@click.option(
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="FILE.onnx, or a folder (model.onnx + config.json + preprocessor_config.json); replaced only when "
    "libtrad wrote it.",
)
@click.option(
    "--opset",
    type=number("--opset", low=18, high=23, integer=True),
    default=18,
    show_default=True,
    help="ONNX opset of the graph (18, the exporter's own, to 23; the log-mel front end is inside it).",
)
@click.option(
    "--front-end",
    "front_end",
    type=click.Choice(["matmul", "stft"]),
    default="matmul",
    show_default=True,
    help="How the log-mel goes into the graph: matmul (the DFT as a grouped Conv and MatMuls, several times "
    "faster in ONNX Runtime, no STFT operator needed) or stft (ONNX's STFT operator, a smaller file).",
)
@click.option(
    "--no-verify",
    "no_verify",
    is_flag=True,
    help="Export a --model folder whose files differ from its .libtrad.json checksums (a note is printed).",
)
def export_onnx_command(model, output, opset, front_end, no_verify) -> None:
    """Export an attention auto-encoder (with its Mahalanobis scorer) or a CNN to ONNX: raw 16 kHz audio in,
    anomaly scores out (the AE's per-frame scores too), checked against torch with ONNX Runtime before it is
    written."""
    from libtrad.convert.onnx_export import check_onnx_output, export_onnx
    from libtrad.ray_jobs.lib_trad.loading import load_lib_trad_model

    local = Path(model).expanduser()
    check_onnx_output(output, model_dir=local if local.exists() else None)  # before the model is loaded
    loaded, extractor = load_lib_trad_model(model, no_verify=no_verify)
    folder = Path(loaded.name_or_path)  # the folder it was loaded from (a Hub id's snapshot)
    source = getattr(loaded, "libtrad_source", None)
    result = export_onnx(loaded, extractor, output, model_dir=folder, source=source, opset=opset, front_end=front_end)
    worst = max(result.parity["max_abs_diff"].values())
    click.echo(
        f"wrote {result.path} ({result.size / 1e6:.2f} MB, {result.model_type}, opset {opset}, "
        f"{result.front_end} front end, "
        f"{result.seconds:.1f} s): ONNX Runtime matches torch within {worst:.2g}"
    )
