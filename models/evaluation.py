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

from libtrad.errors import LibtradError, first_line
from libtrad.models.lib_trad_data import load_clips, read_json_object
from libtrad.outputs import atomic_output, check_output

EXPERIMENTS = ("tr1", "tr2", "tr3")
MODEL_TYPES = {"libtrad-cnn": "cnn", "libtrad-attention-ae": "attention_ae"}
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
    if kind not in MODEL_TYPES:
        raise LibtradError(f"model type {kind!r} is not a LiB-TRAD model (expected libtrad-cnn or libtrad-attention-ae)")
    return MODEL_TYPES[kind]


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

    local = Path(str(dataset)).expanduser()
    try:
        return split in datasets.get_dataset_split_names(str(local) if local.is_dir() else str(dataset), config, cache_dir=None if cache_dir is None else str(cache_dir))
    except Exception:  # noqa: BLE001 - an absent split/config just means "nothing to evaluate"
        return False


def load_lib_trad_model(model_dir: str | Path, *, option: str = "--model"):
    """Model + feature extractor from a saved folder through the Auto classes.

    Every file is checked first, so a broken folder is named in one line (which file, what is
    wrong) instead of a transformers traceback: ``config.json`` (JSON, a LiB-TRAD
    ``model_type``), ``model.safetensors`` (complete, every tensor present with its shape, finite)
    and ``preprocessor_config.json`` (JSON, the extractor of the model's family).
    """
    import torch
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification

    from libtrad.models.attention_ae import AutoModelForAudioAnomalyDetection, LibTradAttentionAEFeatureExtractor
    from libtrad.models.cnn import LibTradCNNFeatureExtractor

    path = Path(str(model_dir)).expanduser()
    where = f"{option} {model_dir}"
    if path.exists() and not path.is_dir():
        raise LibtradError(f"{where}: is a file, not a saved model folder")
    config_file, weights, preprocessor = path / "config.json", path / "model.safetensors", path / "preprocessor_config.json"
    if not config_file.is_file():
        raise LibtradError(f"{where}: not a saved model folder (no config.json)")
    kind = read_json_object(config_file).get("model_type")
    if kind is None:
        raise LibtradError(f"{config_file}: no model_type (expected one of {', '.join(MODEL_TYPES)})")
    if kind not in MODEL_TYPES:
        raise LibtradError(f"{config_file}: model type {kind!r} is not a LiB-TRAD model (expected one of {', '.join(MODEL_TYPES)})")
    if not weights.is_file():
        raise LibtradError(f"{weights}: missing; a saved LiB-TRAD model keeps its weights there")
    _check_safetensors(weights)
    if not preprocessor.is_file():
        raise LibtradError(f"{preprocessor}: missing; a saved LiB-TRAD model keeps its feature extractor there")
    family = MODEL_TYPES[kind]
    expected = LibTradCNNFeatureExtractor if family == "cnn" else LibTradAttentionAEFeatureExtractor
    extractor_type = read_json_object(preprocessor).get("feature_extractor_type")
    if extractor_type != expected.__name__:
        raise LibtradError(f"{preprocessor}: feature_extractor_type {extractor_type!r}, but a {kind} model needs "
                           f"{expected.__name__!r}")
    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as exc:  # noqa: BLE001 - bad values in the config: one line naming the file
        raise LibtradError(f"{config_file}: not a valid {kind} config ({first_line(exc)})") from None
    auto = AutoModelForAudioClassification if family == "cnn" else AutoModelForAudioAnomalyDetection
    _check_weight_layout(auto, config, weights, config_file)
    try:
        model, info = auto.from_pretrained(path, config=config, output_loading_info=True)
    except Exception as exc:  # noqa: BLE001 - wrong shapes, unreadable tensors
        raise LibtradError(f"{weights}: cannot be loaded as the model config.json describes ({first_line(exc)})") from None
    problems = [f"{label}: {', '.join(sorted(map(str, items))[:5])}" for label, items in (
        ("missing tensors", info.get("missing_keys")), ("unexpected tensors", info.get("unexpected_keys")),
        ("shape mismatch", [k[0] if isinstance(k, tuple) else k for k in info.get("mismatched_keys") or []]),
        ("errors", info.get("error_msgs"))) if items]
    if problems:
        raise LibtradError(f"{weights}: does not match config.json ({'; '.join(problems)})")
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise LibtradError(f"{weights}: tensor {name} holds NaN or infinite values")
    try:
        extractor = AutoFeatureExtractor.from_pretrained(path)
    except Exception as exc:  # noqa: BLE001 - unknown extractor type, bad values
        raise LibtradError(f"{preprocessor}: not a valid feature extractor ({first_line(exc)})") from None
    if not isinstance(extractor, expected):
        raise LibtradError(f"{preprocessor}: a {type(extractor).__name__}, but a {kind} model needs a {expected.__name__}")
    if extractor.feature_size != config.num_mel_bins:
        raise LibtradError(f"{preprocessor}: feature_size {extractor.feature_size} differs from num_mel_bins "
                           f"{config.num_mel_bins} in config.json")
    if family == "attention_ae" and not model.is_scorer_fitted:
        raise LibtradError(f"{where}: this auto-encoder has no Mahalanobis statistics yet (train it with `libtrad train ae`)")
    return model.eval(), extractor


def _check_weight_layout(auto, config, weights: Path, config_file: Path) -> None:
    """The tensor names and shapes in ``weights`` are exactly those of the model ``config`` describes.

    Checked on the meta device (nothing allocated) before ``from_pretrained``, which would print
    a multi-line load report and initialise any missing tensor at random.
    """
    import torch
    from safetensors import safe_open

    try:
        with torch.device("meta"):
            layout = {k: tuple(v.shape) for k, v in auto.from_config(config).state_dict().items()}
    except Exception as exc:  # noqa: BLE001 - a config whose values cannot build the model
        raise LibtradError(f"{config_file}: does not describe a buildable model ({first_line(exc)})") from None
    with safe_open(str(weights), framework="pt") as f:
        stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    problems = [f"{label}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}" for label, items in (
        ("missing tensors", sorted(set(layout) - set(stored))),
        ("unexpected tensors", sorted(set(stored) - set(layout))),
        ("shape mismatch", [f"{k} {stored[k]} != {layout[k]}" for k in sorted(set(stored) & set(layout)) if stored[k] != layout[k]]),
    ) if items]
    if problems:
        raise LibtradError(f"{weights}: does not match config.json ({'; '.join(problems)})")


def _check_safetensors(path: Path) -> None:
    """A complete safetensors file (the header's offsets cover the file exactly)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():
                f.get_slice(key).get_shape()
    except Exception as exc:  # noqa: BLE001 - SafetensorError for truncated or foreign files
        raise LibtradError(f"{path}: not a complete safetensors file ({first_line(exc)})") from None


def evaluate_lib_trad(
    models: dict[str, str | Path],
    dataset: str,
    output_dir: str | Path,
    *,
    cache_dir=None,
    progress: bool = True,
) -> dict:
    """Evaluate one model per experiment (``{"tr1": dir, ...}``) and write the table, JSON and ROC curves.

    The output is checked first and every model loaded before any clip is scored; the files are
    written into a staging folder that replaces ``output_dir`` atomically (kind ``results``).
    """
    from libtrad.models.training import check_clip_frames, clip_features, cnn_min_frames

    if not models:
        raise LibtradError("--model: give a model folder (or EXPERIMENT=DIR once per experiment)")
    local = Path(str(dataset)).expanduser()
    distinct = list(dict.fromkeys(str(d) for d in models.values()))
    inputs = {"--dataset": local if str(dataset).strip() and local.exists() else None, "--cache-dir": cache_dir}
    for experiment, model_dir in models.items():
        inputs["--model" if len(distinct) == 1 else f"--model {experiment}"] = model_dir
    output = check_output(output_dir, "results", inputs=inputs)
    loaded = {d: load_lib_trad_model(d) for d in distinct}
    families = {d: model_family(m) for d, (m, _) in loaded.items()}
    if len(set(families.values())) > 1:
        raise LibtradError("--model: give either CNN models (Table 2) or auto-encoders (Table 3), not both")
    family = families[distinct[0]]
    table, suffix, split = TABLES[family]
    rows, curves = [], []
    for experiment, model_dir in models.items():
        model, extractor = loaded[str(model_dir)]
        clips = load_clips(dataset, experiment + suffix, split, cache_dir=cache_dir, progress=progress)
        features = clip_features(extractor, clips, progress)
        if family == "cnn":
            check_clip_frames(features, clips, 1, cnn_min_frames(model.config))
        scores = _scores(model, features, f"--model {model_dir} on {experiment + suffix}/{split}")
        auc = auc_or_none(clips.labels, scores)
        timed = features[: min(len(features), 50)]
        roc_png = f"roc_{family}_{experiment}.png"
        curves.append((clips.labels, scores, roc_png, f"{table}: {experiment.upper()} ({split}), AUC {_fmt(auc)}"))
        rows.append({
            "experiment": experiment.upper(), "config": experiment + suffix, "split": split, "model": str(model_dir),
            "clips": len(clips), "abnormal": int(clips.labels.sum()), "auc": auc,
            "inference_ms_per_clip": mean_inference_ms(model, timed), "roc_png": roc_png,
        })
        if progress:
            tqdm.write(f"{table} {experiment.upper()}: AUC {_fmt(auc)} on {len(clips)} clips")
    aucs = [r["auc"] for r in rows if r["auc"] is not None]
    summary = {
        "table": table, "family": family, "dataset": str(dataset), "rows": rows,
        "harmonic_mean_auc": statistics.harmonic_mean(aucs) if aucs and len(aucs) == len(rows) else None,
        "mean_inference_ms_per_clip": float(np.mean([r["inference_ms_per_clip"] for r in rows])),
    }
    stem = f"lib_trad_{'table2_cnn' if family == 'cnn' else 'table3_attention_ae'}"
    with atomic_output(output, "results", inputs=inputs) as staging:
        for labels, scores, name, title in curves:
            _plot_roc(labels, scores, staging / name, title)
        (staging / f"{stem}.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        (staging / f"{stem}.md").write_text(_markdown(summary) + "\n", encoding="utf-8")
    summary["files"] = [f"{stem}.json", f"{stem}.md", *(r["roc_png"] for r in rows)]
    return summary


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
