"""The LiB-TRAD paper's evaluation protocol: Table 2 (CNN) and Table 3 (attention auto-encoder).

Table 2: CNN AUC per experiment on the ``validation`` split of ``tr{1,2,3}_cls``.
Table 3: attention-AE AUC per experiment on the ``test`` split of ``tr{1,2,3}``, their harmonic
mean and the mean inference time per clip. Each run writes JSON, Markdown and one ROC PNG per
experiment. Loading (:mod:`.loading`), scoring (:mod:`.scoring`) and the
metrics (:mod:`.metrics`) live in their own modules, shared with training.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from libtrad.core.devices import device_record, resolve_device
from libtrad.core.errors import LibtradError, first_line
from libtrad.folders.outputs import atomic_output, check_output
from libtrad.ray_jobs.evaluation.metrics import auc_or_none, harmonic_mean_or_none
from libtrad.ray_jobs.evaluation.report import markdown_table
from libtrad.ray_jobs.lib_trad.data import load_clips
from libtrad.ray_jobs.lib_trad.loading import load_lib_trad_model
from libtrad.ray_jobs.lib_trad.scoring import (
    anomaly_model_type,
    check_clip_frames,
    clip_features,
    clip_scores,
    cnn_min_frames,
    mean_inference_ms,
)

EXPERIMENTS = ("tr1", "tr2", "tr3")
TABLES = {
    # family: (table name, config suffix, split)
    "cnn": ("Table 2", "_cls", "validation"),
    "attention_ae": ("Table 3", "", "test"),
}


def evaluate_lib_trad(
    models: dict[str, str | Path],
    dataset: str,
    output_dir: str | Path,
    *,
    cache_dir=None,
    progress: bool = True,
    no_verify: bool = False,
    device: str = "auto",
) -> dict:
    """Evaluate one model per experiment (``{"tr1": dir, ...}``) and write the table, JSON and ROC curves.

    The output is checked first and every model loaded before any clip is scored; the files are
    written into a staging folder that replaces ``output_dir`` atomically (kind ``results``).
    """
    if not models:
        raise LibtradError("--model: give a model folder (or EXPERIMENT=DIR once per experiment)")
    local = Path(str(dataset)).expanduser()
    distinct = list(dict.fromkeys(str(d) for d in models.values()))
    inputs = {"--dataset": local if str(dataset).strip() and local.exists() else None, "--cache-dir": cache_dir}
    for experiment, model_dir in models.items():
        inputs["--model" if len(distinct) == 1 else f"--model {experiment}"] = model_dir
    output = check_output(output_dir, "results", inputs=inputs)
    summary, curves = score_lib_trad_models(
        models, dataset, cache_dir=cache_dir, progress=progress, no_verify=no_verify, device=device
    )
    with atomic_output(output, "results", inputs=inputs) as staging:
        summary["files"] = write_model_results(summary, curves, staging)
    return summary


def score_lib_trad_models(
    models: dict[str, str | Path],
    dataset: str,
    *,
    cache_dir=None,
    progress: bool = True,
    no_verify: bool = False,
    device: str = "auto",
) -> tuple[dict, list]:
    """Score every experiment's clips with its model -> (the table's summary, ROC curve inputs).

    ``no_verify``: load model folders whose files differ from their ``.libtrad.json`` checksums.
    Every model is loaded before any clip is scored, and scores on ``device`` (auto|cpu|cuda|cuda:N,
    :func:`libtrad.core.devices.resolve_device`; recorded in the summary). Writes nothing (see
    :func:`write_model_results`).
    """
    run_on = resolve_device(device)
    distinct = list(dict.fromkeys(str(d) for d in models.values()))
    loaded = {d: load_lib_trad_model(d, no_verify=no_verify) for d in distinct}
    for model, _ in loaded.values():
        model.to(run_on)
    families = {d: anomaly_model_type(m).family for d, (m, _) in loaded.items()}
    if len(set(families.values())) > 1:
        raise LibtradError("--model: give either CNN models (Table 2) or auto-encoders (Table 3), not both")
    family = families[distinct[0]]
    table, suffix, split = TABLES[family]
    rows, curves = [], []
    for experiment, model_dir in models.items():
        model, extractor = loaded[str(model_dir)]
        clips = load_clips(dataset, experiment + suffix, split, cache_dir=cache_dir, progress=progress)
        abnormal = int(np.sum(clips.labels))
        if abnormal in (0, len(clips)):
            raise LibtradError(
                f"--dataset {dataset}: {experiment + suffix}/{split} holds {len(clips) - abnormal} normal "
                f"and {abnormal} abnormal clips; its AUC ({table}, {experiment.upper()}) needs both"
            )
        features = clip_features(extractor, clips, progress)
        if family == "cnn":
            check_clip_frames(features, clips, 1, cnn_min_frames(model.config))
        scores = _scores(model, features, f"--model {model_dir} on {experiment + suffix}/{split}")
        auc = auc_or_none(clips.labels, scores)
        timed = features[: min(len(features), 50)]
        roc_png = f"roc_{family}_{experiment}.png"
        curves.append((clips.labels, scores, roc_png, f"{table}: {experiment.upper()} ({split}), AUC {_fmt(auc)}"))
        rows.append(
            {
                "experiment": experiment.upper(),
                "config": experiment + suffix,
                "split": split,
                "model": str(model_dir),
                **({"model_source": model.libtrad_source} if getattr(model, "libtrad_source", None) else {}),
                "clips": len(clips),
                "abnormal": int(clips.labels.sum()),
                "auc": auc,
                "inference_ms_per_clip": mean_inference_ms(model, timed),
                "roc_png": roc_png,
            }
        )
        if progress:
            tqdm.write(f"{table} {experiment.upper()}: AUC {_fmt(auc)} on {len(clips)} clips")
    summary = {
        "table": table,
        "family": family,
        "dataset": str(dataset),
        "rows": rows,
        "harmonic_mean_auc": harmonic_mean_or_none([r["auc"] for r in rows]),
        "mean_inference_ms_per_clip": float(np.mean([r["inference_ms_per_clip"] for r in rows])),
        "device": device_record(run_on),
    }
    return summary, curves


def attach_models(
    models: dict[str, str | Path],
    dataset: str,
    *,
    cache_dir=None,
    progress: bool = True,
    no_verify: bool = False,
    device: str = "auto",
):
    """The ``attach`` of :func:`~libtrad.ray_jobs.evaluation.evaluate.evaluate_embeddings` that scores trained
    LiB-TRAD checkpoints beside the embeddings, in one table: ``evaluate lib-trad --model … --embeddings …``
    and the demo both use it. Called after the output and the inputs are checked, it returns the summary
    to store under ``"model"`` and the function writing its files into the results folder."""

    def attach() -> tuple[dict, Callable[[Path], list[str]]]:
        summary, curves = score_lib_trad_models(
            models, dataset, cache_dir=cache_dir, progress=progress, no_verify=no_verify, device=device
        )
        return {"model": summary}, lambda folder: write_model_results(summary, curves, folder)

    return attach


def write_model_results(summary: dict, curves: list, folder: Path) -> list[str]:
    """The table's JSON and Markdown and one ROC PNG per experiment into ``folder``; their names."""
    stem = f"lib_trad_{'table2_cnn' if summary['family'] == 'cnn' else 'table3_attention_ae'}"
    for labels, scores, name, title in curves:
        _plot_roc(labels, scores, folder / name, title)
    (folder / f"{stem}.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (folder / f"{stem}.md").write_text(_markdown(summary) + "\n", encoding="utf-8")
    return [f"{stem}.json", f"{stem}.md", *(r["roc_png"] for r in summary["rows"])]


def _scores(model, features: list[torch.Tensor], where: str) -> np.ndarray:
    """:func:`clip_scores`, with a model that cannot score its own extractor's features named in one line."""
    try:
        scores = clip_scores(model, features)
    except LibtradError:
        raise
    except RuntimeError as exc:  # e.g. n_mels of preprocessor_config.json differs from the model's
        raise LibtradError(f"{where}: the model cannot score these features ({first_line(exc)})") from None
    if not np.isfinite(scores).all():
        raise LibtradError(f"{where}: the model gives NaN or infinite scores")
    return scores


def parse_model_arguments(values: tuple[str, ...], experiments: tuple[str, ...] = EXPERIMENTS) -> dict[str, str]:
    """``--model DIR`` (one model for every experiment) or ``--model tr1=DIR --model tr2=DIR ...``."""
    if not values:
        raise LibtradError("--model: give a model folder (or EXPERIMENT=DIR once per experiment)")
    pairs = {}
    for value in values:
        name, sep, path = value.partition("=")
        if sep:
            if name.lower() not in experiments:
                raise LibtradError(f"--model {value}: experiment {name!r} is not one of {', '.join(experiments)}")
            pairs[name.lower()] = path
        elif len(values) == 1:
            return {e: value for e in experiments}
        else:
            raise LibtradError(f"--model {value}: with several --model options each must be EXPERIMENT=DIR")
    return pairs


def _markdown(summary: dict) -> str:
    rows = [
        [
            r["experiment"],
            r["config"],
            r["split"],
            r["clips"],
            r["abnormal"],
            _fmt(r["auc"]),
            f"{r['inference_ms_per_clip']:.3f}",
        ]
        for r in summary["rows"]
    ]
    text = [
        f"## LiB-TRAD {summary['table']} ({_family_name(summary['family'])})",
        "",
        f"Dataset: `{summary['dataset']}`",
        "",
        markdown_table(["Experiment", "Config", "Split", "Clips", "Abnormal", "AUC", "ms / clip (model)"], rows),
    ]
    if summary["family"] == "attention_ae":
        text += [
            "",
            f"Harmonic mean AUC: {_fmt(summary['harmonic_mean_auc'])}; "
            f"mean inference time: {summary['mean_inference_ms_per_clip']:.3f} ms per clip, model "
            "only (paper: 0.17 ms per 10-s clip).",
        ]
    return "\n".join(text)


def _plot_roc(labels, scores, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    if len(np.unique(labels)) > 1:
        fpr, tpr, _ = roc_curve(labels, scores)
        ax.plot(fpr, tpr, lw=2)
    else:
        ax.text(0.5, 0.5, "one class only: ROC undefined", ha="center")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title=title, xlim=(0, 1), ylim=(0, 1.01))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _family_name(family: str) -> str:
    return "CNN classifier" if family == "cnn" else "attention auto-encoder"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
