"""The one training pipeline of the LiB-TRAD models: load → log-mel → seeded Adam loop → save.

Both models share :func:`fit` (epochs, shuffling, progress bar, per-epoch metrics); each model
only says how a batch is drawn and what to measure after an epoch. Every default of a recipe is
the paper's, except where the paper is silent (marked).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from libtrad.errors import LibtradError
from libtrad.models.lib_trad_data import Clips, dataset_is_synthetic, load_clips


@dataclass
class Recipe:
    """Optimisation settings; Adam with ``learning_rate`` is the paper's optimiser for both models."""

    epochs: int
    batch_size: int
    learning_rate: float = 1e-3
    seed: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise LibtradError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 1")
        if not self.learning_rate > 0:
            raise LibtradError(f"--lr {self.learning_rate}: must be > 0")


# Paper: 200 epochs, batches of 128 frames, Adam 1e-3.
AE_RECIPE = Recipe(epochs=200, batch_size=128)
# Paper: BCE, Adam 1e-3, validation AUC each epoch. Epochs and batch size are not given: libtrad's choice.
CNN_RECIPE = Recipe(epochs=50, batch_size=32)


@dataclass
class TrainResult:
    output_dir: Path
    history: list[dict]
    eval_results: list[dict]
    seconds: float


def fit(
    model: torch.nn.Module,
    batches: Callable[[torch.Generator], Iterator[dict]],
    recipe: Recipe,
    *,
    after_epoch: Callable[[torch.nn.Module], dict] | None = None,
    desc: str = "training",
    progress: bool = True,
) -> list[dict]:
    """Seeded Adam loop: each epoch draws a freshly shuffled pass from ``batches(generator)``.

    Returns one dict per epoch (mean loss plus whatever ``after_epoch`` measured).
    """
    generator = torch.Generator().manual_seed(recipe.seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate)
    history = []
    bar = tqdm(range(1, recipe.epochs + 1), desc=desc, unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        total, count = 0.0, 0
        for batch in batches(generator):
            optimiser.zero_grad(set_to_none=True)
            loss = model(**batch).loss
            loss.backward()
            optimiser.step()
            size = len(batch["input_features"])
            total += loss.item() * size
            count += size
        record = {"epoch": epoch, "loss": total / max(count, 1)}
        if after_epoch is not None:
            model.eval()
            record.update(after_epoch(model))
        history.append(record)
        bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k != "epoch" and v is not None})
    model.eval()
    return history


def clip_features(extractor, clips: Clips, progress: bool = True) -> list[torch.Tensor]:
    """Per-clip log-mel features in the extractor's layout (no batch dimension, no padding)."""
    out = []
    for wave in tqdm(clips.waveforms, desc=f"log-mel {clips.config}/{clips.split}", unit="clip", disable=not progress, leave=False):
        out.append(extractor(wave, sampling_rate=extractor.sampling_rate)["input_features"][0])
    return out


def pad_stack(features: list[torch.Tensor], frames_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack per-clip features padded along ``frames_dim`` (0 or 1 of each item) + a (clips, frames) mask."""
    longest = max(f.shape[frames_dim] for f in features)
    shape = list(features[0].shape)
    shape[frames_dim] = longest
    stacked = torch.zeros(len(features), *shape)
    mask = torch.zeros(len(features), longest, dtype=torch.long)
    for i, f in enumerate(features):
        n = f.shape[frames_dim]
        stacked[i].narrow(frames_dim, 0, n).copy_(f)
        mask[i, :n] = 1
    return stacked, mask


INTENDED_USE = (
    "Research on acoustic early warning of lithium-battery thermal runaway: scoring 10-s, 16 kHz "
    "single-microphone clips recorded like LiB-TRAD (higher score = more likely abnormal, e.g. "
    "safety-valve opening or venting)."
)
LIMITATIONS = (
    "Trained on one small dataset (three overcharge experiments, one lab, one microphone array); "
    "not validated for other cells, chargers, rooms or microphones, and not a safety device: do not "
    "use it as the only protection against thermal runaway. AUC on the paper's random splits can be "
    "optimistic because channels/segments of one recording are correlated."
)


def _training_card(model, output_dir, *, family, dataset, config, recipe, eval_results, summary, extra):
    """LiB-TRAD's call of the shared model-card renderer."""
    from libtrad.builders.lib_trad import CITATION
    from libtrad.cards.model_card import write_model_card

    hyper = {**{k: v for k, v in model.config.to_diff_dict().items() if k not in {"architectures", "transformers_version", "id2label", "label2id", "dtype"}},
             **{f"train.{k}": v for k, v in recipe.items()}, **extra}
    notes = {
        "cnn": ("Channel widths (16, 32, 64), 3×3 kernels, 2×2 pooling, 50 epochs and batch 32 are libtrad's "
                "choices (the paper does not give them). The single BCE logit z is exposed as two-class logits "
                "[0, z], so `pipeline(\"audio-classification\")` returns P(normal) = 1 − σ(z) and P(abnormal) = σ(z)."),
        "attention_ae": ("`context_frames=1` (default) is the paper's literal attention over one frame's latent, "
                         "which reduces exactly to V = W_v z; `context_frames=N` (odd) attends over N neighbouring "
                         "frames of the same clip. The Mahalanobis inverse adds a ridge of "
                         "`covariance_shrinkage`·tr(Σ)/d to Σ and takes the pseudo-inverse; μ and Σ⁻¹ are stored "
                         "in model.safetensors. Clip score = mean of frame scores (`score_reduction`)."),
    }[family]
    usage = {
        "cnn": "```python\nimport libtrad  # registers the Auto classes\nfrom transformers import pipeline\n\n"
               "clf = pipeline(\"audio-classification\", model=\"MODEL_DIR\")\nclf(\"clip.wav\")\n```",
        "attention_ae": "```python\nimport libtrad\nfrom transformers import AutoFeatureExtractor\n"
                        "from libtrad.models.attention_ae import AutoModelForAudioAnomalyDetection\n\n"
                        "model = AutoModelForAudioAnomalyDetection.from_pretrained(\"MODEL_DIR\")\n"
                        "fe = AutoFeatureExtractor.from_pretrained(\"MODEL_DIR\")\n"
                        "score = model(**fe(waveform_16k)).scores  # Mahalanobis clip score\n```",
    }[family]
    write_model_card(
        output_dir, model_id=Path(output_dir).name, family=f"lib-trad-{family.replace('_', '-')}", summary=summary,
        hyperparameters=hyper, eval_results=eval_results, synthetic=dataset_is_synthetic(dataset), datasets=[dataset],
        intended_use=INTENDED_USE, limitations=LIMITATIONS, citation=CITATION,
        extra_sections={"Design choices": notes, "Usage": usage},
        pipeline_tag="audio-classification" if family == "cnn" else None, tags=["lib-trad", "anomaly-detection", "audio"],
    )


def _save(model, extractor, output_dir: Path, history: list[dict], meta: dict) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    extractor.save_pretrained(output_dir)
    (output_dir / "training_history.json").write_text(json.dumps({**meta, "history": history}, indent=2) + "\n")


def _check_output(output_dir: str | Path) -> Path:
    path = Path(output_dir)
    if path.exists() and not path.is_dir():
        raise LibtradError(f"--output {path}: exists and is not a folder")
    return path


# --------------------------------------------------------------------------- CNN
def train_cnn(
    dataset: str,
    output_dir: str | Path,
    *,
    config: str = "tr1_cls",
    recipe: Recipe = CNN_RECIPE,
    model_kwargs: dict | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Supervised CNN on ``config``'s train split, validation AUC after every epoch (paper Table 2)."""
    from libtrad.models.cnn import LibTradCNNConfig, LibTradCNNFeatureExtractor, LibTradCNNForAudioClassification
    from libtrad.models.evaluation import auc_or_none, clip_scores

    output_dir = _check_output(output_dir)
    started = time.perf_counter()
    train = load_clips(dataset, config, "train", cache_dir=cache_dir, progress=progress)
    if len(set(train.labels.tolist())) < 2:
        raise LibtradError(f"--config {config}: the train split has one class only; the CNN needs a *_cls config")
    valid = load_clips(dataset, config, "validation", cache_dir=cache_dir, progress=progress)
    extractor = LibTradCNNFeatureExtractor()
    x_train, _ = pad_stack(clip_features(extractor, train, progress), frames_dim=1)
    y_train = torch.as_tensor(train.labels, dtype=torch.float32)
    valid_features = clip_features(extractor, valid, progress)

    torch.manual_seed(recipe.seed)
    model = LibTradCNNForAudioClassification(LibTradCNNConfig(**(model_kwargs or {})))

    def batches(generator: torch.Generator) -> Iterator[dict]:
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order), recipe.batch_size):
            idx = order[start : start + recipe.batch_size]
            if len(idx) < 2 and len(order) > 1:  # BatchNorm cannot train on a batch of one
                continue
            yield {"input_features": x_train[idx], "labels": y_train[idx]}

    def validation_auc(m) -> dict:
        return {"val_auc": auc_or_none(valid.labels, clip_scores(m, valid_features))}

    history = fit(model, batches, recipe, after_epoch=validation_auc, desc=f"train cnn on {config}", progress=progress)
    final_auc = history[-1]["val_auc"]
    eval_results = [{"dataset": dataset, "config": config, "split": "validation", "metric": "roc_auc", "value": final_auc}] if final_auc is not None else []
    _save(model, extractor, output_dir, history, {"dataset": str(dataset), "config": config, "recipe": asdict(recipe)})
    _training_card(
        model, output_dir, family="cnn", dataset=str(dataset), config=config, recipe=asdict(recipe),
        eval_results=eval_results, summary=f"LiB-TRAD CNN classifier trained on `{config}`.",
        extra={"train clips": len(train), "validation clips": len(valid)},
    )
    return TrainResult(output_dir, history, eval_results, time.perf_counter() - started)


# --------------------------------------------------------------------------- attention AE
def frame_windows(x: torch.Tensor, mask: torch.Tensor, clip_idx: torch.Tensor, frame_idx: torch.Tensor, context: int):
    """Windows of ``context`` frames centred on (clip, frame) pairs -> (batch, context, mels), key mask, centre mask."""
    half = context // 2
    offsets = torch.arange(-half, half + 1)
    positions = frame_idx[:, None] + offsets[None, :]
    inside = (positions >= 0) & (positions < x.shape[1])
    clamped = positions.clamp(0, x.shape[1] - 1)
    windows = x[clip_idx[:, None], clamped]
    key_mask = inside & mask[clip_idx[:, None], clamped].bool()
    centre = torch.zeros_like(key_mask)
    centre[:, half] = True
    return windows, key_mask.long(), centre


def train_attention_ae(
    dataset: str,
    output_dir: str | Path,
    *,
    config: str = "tr1",
    recipe: Recipe = AE_RECIPE,
    model_kwargs: dict | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Attention AE on the normal clips of ``config``'s train split; each frame is a sample.

    After training, μ and Σ⁻¹ of the attended latent of every training frame are stored in the
    model, and the test split (if present) gives the AUC written to the model card.
    """
    from libtrad.models.attention_ae import (
        LibTradAttentionAEConfig,
        LibTradAttentionAEFeatureExtractor,
        LibTradAttentionAEForAnomalyDetection,
    )
    from libtrad.models.evaluation import auc_or_none, clip_scores, split_exists

    output_dir = _check_output(output_dir)
    started = time.perf_counter()
    train = load_clips(dataset, config, "train", cache_dir=cache_dir, progress=progress)
    normal = [w for w, y in zip(train.waveforms, train.labels) if y == 0]
    if not normal:
        raise LibtradError(f"--config {config}: the train split has no normal clips to learn from")
    if len(normal) < len(train):
        tqdm.write(f"note: {len(train) - len(normal)} abnormal clips in {config}/train are left out: "
                   "the auto-encoder learns normal audio only")
    train = Clips(train.dataset, config, "train", normal, np.zeros(len(normal), dtype=np.int64))
    extractor = LibTradAttentionAEFeatureExtractor()
    x, mask = pad_stack(clip_features(extractor, train, progress), frames_dim=0)
    clip_idx, frame_idx = mask.nonzero(as_tuple=True)

    torch.manual_seed(recipe.seed)
    model = LibTradAttentionAEForAnomalyDetection(LibTradAttentionAEConfig(**(model_kwargs or {})))
    context = model.config.context_frames

    def batches(generator: torch.Generator) -> Iterator[dict]:
        order = torch.randperm(len(clip_idx), generator=generator)
        for start in range(0, len(order), recipe.batch_size):
            idx = order[start : start + recipe.batch_size]
            windows, key_mask, centre = frame_windows(x, mask, clip_idx[idx], frame_idx[idx], context)
            yield {"input_features": windows, "attention_mask": key_mask, "loss_mask": centre}

    history = fit(model, batches, recipe, desc=f"train ae on {config}", progress=progress)

    with torch.no_grad():
        latents = torch.cat([
            model.autoencoder(x[i : i + 64], attention_mask=mask[i : i + 64]).last_hidden_state[mask[i : i + 64].bool()]
            for i in range(0, len(x), 64)
        ])
    model.fit_scorer(latents)

    eval_results = []
    test_auc = None
    if split_exists(dataset, config, "test", cache_dir=cache_dir):
        test = load_clips(dataset, config, "test", cache_dir=cache_dir, progress=progress)
        test_auc = auc_or_none(test.labels, clip_scores(model, clip_features(extractor, test, progress)))
        if test_auc is not None:
            eval_results.append({"dataset": dataset, "config": config, "split": "test", "metric": "roc_auc", "value": test_auc})
    if history:
        history[-1]["test_auc"] = test_auc
    _save(model, extractor, output_dir, history, {"dataset": str(dataset), "config": config, "recipe": asdict(recipe),
                                                  "training_frames": int(len(clip_idx))})
    _training_card(
        model, output_dir, family="attention_ae", dataset=str(dataset), config=config, recipe=asdict(recipe),
        eval_results=eval_results, summary=f"LiB-TRAD attention auto-encoder trained on the normal clips of `{config}`.",
        extra={"train clips (normal)": len(train), "training frames": int(len(clip_idx))},
    )
    return TrainResult(output_dir, history, eval_results, time.perf_counter() - started)
