"""Scores, AUCs and the paper's evaluation tables for the LiB-TRAD models.

Table 2: CNN AUC per experiment on the ``validation`` split of ``tr{1,2,3}_cls``.
Table 3: attention-AE AUC per experiment on the ``test`` split of ``tr{1,2,3}``, their harmonic
mean and the mean inference time per clip. Each run writes JSON, Markdown and one ROC PNG per
experiment.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from libtrad.errors import LibtradError
from libtrad.models.lib_trad_data import load_clips

EXPERIMENTS = ("tr1", "tr2", "tr3")
TABLES = {
    # family: (table name, config suffix, split)
    "cnn": ("Table 2", "_cls", "validation"),
    "attention_ae": ("Table 3", "", "test"),
}


def auc_or_none(labels, scores) -> float | None:
    """ROC AUC, or None when the labels hold one class only (AUC undefined)."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return None
    return float(roc_auc_score(labels, np.asarray(scores)))


def model_family(model) -> str:
    kind = model.config.model_type
    if kind == "libtrad-cnn":
        return "cnn"
    if kind == "libtrad-attention-ae":
        return "attention_ae"
    raise LibtradError(f"model type {kind!r} is not a LiB-TRAD model (expected libtrad-cnn or libtrad-attention-ae)")


@torch.no_grad()
def clip_scores(model, features: list[torch.Tensor], batch_size: int = 32) -> np.ndarray:
    """Abnormality score per clip: CNN → P(abnormal) = σ(z); AE → Mahalanobis clip score."""
    from libtrad.models.training import pad_stack

    family = model_family(model)
    if family == "attention_ae" and not model.is_scorer_fitted:
        raise LibtradError("this auto-encoder has no Mahalanobis statistics yet (train it with `libtrad train ae`)")
    model.eval()
    frames_dim = 1 if family == "cnn" else 0
    out = []
    for start in range(0, len(features), batch_size):
        x, mask = pad_stack(features[start : start + batch_size], frames_dim)
        result = model(input_features=x, attention_mask=mask)
        out.append(torch.sigmoid(result.abnormal_logit) if family == "cnn" else result.scores)
    return torch.cat(out).numpy().astype(np.float64)


@torch.no_grad()
def mean_inference_ms(model, features: list[torch.Tensor], repeats: int = 3) -> float:
    """Mean wall time of one model forward on one clip (features precomputed), best of ``repeats``."""
    frames_dim = 1 if model_family(model) == "cnn" else 0
    if features:  # warm-up: first calls pay for allocator and kernel selection
        model(input_features=features[0].unsqueeze(0))
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for f in features:
            model(input_features=f.unsqueeze(0), attention_mask=torch.ones(1, f.shape[frames_dim], dtype=torch.long))
        best = min(best, (time.perf_counter() - started) / max(len(features), 1))
    return best * 1000.0


def split_exists(dataset: str, config: str, split: str, *, cache_dir=None) -> bool:
    import datasets

    try:
        return split in datasets.get_dataset_split_names(str(dataset), config, cache_dir=None if cache_dir is None else str(cache_dir))
    except Exception:  # noqa: BLE001 - an absent split/config just means "nothing to evaluate"
        return False


def load_lib_trad_model(model_dir: str | Path):
    """Model + feature extractor from a saved folder through the Auto classes."""
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification

    from libtrad.models.attention_ae import AutoModelForAudioAnomalyDetection

    path = Path(model_dir)
    if not (path / "config.json").is_file():
        raise LibtradError(f"--model {model_dir}: not a saved model folder (no config.json)")
    config = AutoConfig.from_pretrained(path)
    if config.model_type == "libtrad-cnn":
        model = AutoModelForAudioClassification.from_pretrained(path)
    elif config.model_type == "libtrad-attention-ae":
        model = AutoModelForAudioAnomalyDetection.from_pretrained(path)
    else:
        raise LibtradError(f"--model {model_dir}: model type {config.model_type!r} is not a LiB-TRAD model")
    return model.eval(), AutoFeatureExtractor.from_pretrained(path)


def evaluate_lib_trad(
    models: dict[str, str | Path],
    dataset: str,
    output_dir: str | Path,
    *,
    cache_dir=None,
    progress: bool = True,
) -> dict:
    """Evaluate one model per experiment (``{"tr1": dir, ...}``) and write the table, JSON and ROC curves."""
    from libtrad.models.training import clip_features

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows, family = [], None
    for experiment, model_dir in models.items():
        model, extractor = load_lib_trad_model(model_dir)
        this_family = model_family(model)
        if family not in (None, this_family):
            raise LibtradError("--model: give either CNN models (Table 2) or auto-encoders (Table 3), not both")
        family = this_family
        table, suffix, split = TABLES[family]
        clips = load_clips(dataset, experiment + suffix, split, cache_dir=cache_dir, progress=progress)
        features = clip_features(extractor, clips, progress)
        scores = clip_scores(model, features)
        auc = auc_or_none(clips.labels, scores)
        timed = features[: min(len(features), 50)]
        roc_png = output_dir / f"roc_{family}_{experiment}.png"
        _plot_roc(clips.labels, scores, roc_png, f"{table}: {experiment.upper()} ({split}), AUC {_fmt(auc)}")
        rows.append({
            "experiment": experiment.upper(), "config": experiment + suffix, "split": split, "model": str(model_dir),
            "clips": len(clips), "abnormal": int(clips.labels.sum()), "auc": auc,
            "inference_ms_per_clip": mean_inference_ms(model, timed), "roc_png": roc_png.name,
        })
        if progress:
            tqdm.write(f"{table} {experiment.upper()}: AUC {_fmt(auc)} on {len(clips)} clips")
    aucs = [r["auc"] for r in rows if r["auc"] is not None]
    summary = {
        "table": TABLES[family][0], "family": family, "dataset": str(dataset), "rows": rows,
        "harmonic_mean_auc": statistics.harmonic_mean(aucs) if aucs and len(aucs) == len(rows) else None,
        "mean_inference_ms_per_clip": float(np.mean([r["inference_ms_per_clip"] for r in rows])),
    }
    stem = f"lib_trad_{'table2_cnn' if family == 'cnn' else 'table3_attention_ae'}"
    (output_dir / f"{stem}.json").write_text(json.dumps(summary, indent=2) + "\n")
    (output_dir / f"{stem}.md").write_text(_markdown(summary) + "\n")
    summary["files"] = [f"{stem}.json", f"{stem}.md", *(r["roc_png"] for r in rows)]
    return summary


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
    rows = [[r["experiment"], r["config"], r["split"], r["clips"], r["abnormal"], _fmt(r["auc"]), f"{r['inference_ms_per_clip']:.3f}"]
            for r in summary["rows"]]
    text = [f"## LiB-TRAD {summary['table']} ({'CNN classifier' if summary['family'] == 'cnn' else 'attention auto-encoder'})", "",
            f"Dataset: `{summary['dataset']}`", "",
            markdown_table(["Experiment", "Config", "Split", "Clips", "Abnormal", "AUC", "ms / clip (model)"], rows)]
    if summary["family"] == "attention_ae":
        text += ["", f"Harmonic mean AUC: {_fmt(summary['harmonic_mean_auc'])}; "
                 f"mean inference time: {summary['mean_inference_ms_per_clip']:.3f} ms per clip, model only (paper: 0.17 ms per 10-s clip)."]
    return "\n".join(text)


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


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


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
