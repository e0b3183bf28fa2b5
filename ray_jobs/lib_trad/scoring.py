"""Clips -> log-mel features -> one anomaly score per clip, shared by LiB-TRAD training and evaluation.

Scoring goes through the one interface of libtrad's anomaly models (``model(...).scores``,
higher = more anomalous: the CNN's P(abnormal) = σ(z), the auto-encoder's Mahalanobis clip
score); the only per-family fact needed, where the time axis of the features lies, comes from the
model-type map (:mod:`libtrad.models.model_types`).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from tqdm.auto import tqdm

from libtrad.core.errors import LibtradError
from libtrad.models.model_types import MODEL_TYPES, ModelType, frames_dim, model_type_of
from libtrad.ray_jobs.lib_trad.data import Clips

ANOMALY_MODEL_TYPES = tuple(name for name, spec in MODEL_TYPES.items() if spec.anomaly)
NOT_FITTED = (
    "the model's anomaly scorer is not fitted yet (`libtrad train ae` fits the auto-encoder's Mahalanobis statistics)"
)


def anomaly_model_type(model) -> ModelType:
    """The map's entry for ``model``; a model without anomaly ``scores`` is one line."""
    return model_type_of(model.config.model_type, "model", ANOMALY_MODEL_TYPES, what="an anomaly model")


def scorer_is_fitted(model) -> bool:
    """False for a head that must be fitted after training (it exposes ``is_scorer_fitted``) and is not yet."""
    return bool(getattr(model, "is_scorer_fitted", True))


def clip_features(extractor, clips: Clips, progress: bool = True) -> list[torch.Tensor]:
    """Per-clip log-mel features in the extractor's layout (no batch dimension, no padding)."""
    out = []
    for wave in tqdm(
        clips.waveforms, desc=f"log-mel {clips.config}/{clips.split}", unit="clip", disable=not progress, leave=False
    ):
        out.append(extractor(wave, sampling_rate=extractor.sampling_rate)["input_features"][0])
    return out


def cnn_min_frames(config) -> int:
    """Log-mel frames a clip needs to survive the CNN's pooling (2×2 three times: 8)."""
    return int(config.pool_size) ** len(config.conv_channels)


def check_clip_frames(features: list[torch.Tensor], clips: Clips, frames_dim: int, minimum: int) -> list[torch.Tensor]:
    """Refuse (naming the row) a clip too short for the model; returns ``features``."""
    for i, f in enumerate(features):
        if f.shape[frames_dim] < minimum:
            raise LibtradError(
                f"--dataset {clips.dataset} {clips.config}/{clips.split} row {i}: {len(clips.waveforms[i])} samples "
                f"give {f.shape[frames_dim]} log-mel frames; the model needs at least {minimum}"
            )
    return features


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


@torch.no_grad()
def clip_scores(model, features: list[torch.Tensor], batch_size: int = 32) -> np.ndarray:
    """Anomaly score per clip (float64), in batches of ``batch_size`` padded clips."""
    axis = frames_dim(anomaly_model_type(model))
    if not scorer_is_fitted(model):
        raise LibtradError(NOT_FITTED)
    model.eval()
    device = _device_of(model)  # the clips go where the model is (CPU: no copy, the same numbers)
    out = []
    for start in range(0, len(features), batch_size):
        x, mask = pad_stack(features[start : start + batch_size], axis)
        out.append(model(input_features=x.to(device), attention_mask=mask.to(device)).scores.cpu())
    return torch.cat(out).numpy().astype(np.float64)


def _device_of(model) -> torch.device:
    """Where ``model``'s weights are (the CPU for a model without any)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


@torch.no_grad()
def mean_inference_ms(model, features: list[torch.Tensor], repeats: int = 3) -> float:
    """Mean wall time of one model forward on one clip (features precomputed), best of ``repeats``."""
    axis = frames_dim(anomaly_model_type(model))
    device = _device_of(model)
    features = [f.to(device) for f in features]  # timed: the forward, not the host-to-device copy
    if features:  # warm-up: first calls pay for allocator and kernel selection
        model(input_features=features[0].unsqueeze(0))
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for f in features:
            model(
                input_features=f.unsqueeze(0),
                attention_mask=torch.ones(1, f.shape[axis], dtype=torch.long, device=device),
            )
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # kernels run asynchronously: wait for them before reading the clock
        best = min(best, (time.perf_counter() - started) / max(len(features), 1))
    return best * 1000.0


__all__ = [
    "ANOMALY_MODEL_TYPES",
    "anomaly_model_type",
    "check_clip_frames",
    "clip_features",
    "clip_scores",
    "cnn_min_frames",
    "mean_inference_ms",
    "pad_stack",
    "scorer_is_fitted",
]
