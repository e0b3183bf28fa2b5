"""Configuration of the LiB-TRAD attention auto-encoder (paper defaults)."""

from __future__ import annotations

from typing import Literal

from transformers import PreTrainedConfig

from libtrad.models.detection import DetectionSection


class LibTradAttentionAEConfig(PreTrainedConfig):
    """Hyper-parameters of the attention auto-encoder; every default is the paper's.

    ``context_frames`` resolves the paper's ambiguity about attention over one frame:
    1 (default, the literal reading) attends over the frame's own latent only, so the
    attention output is exactly ``V = W_v z``; an odd N > 1 attends over the N neighbouring
    frames of the same clip (centred window, truncated at the clip's edges).

    ``covariance_shrinkage`` is the ridge added to the latent covariance before inverting it,
    as a fraction of the mean variance (``Σ + λ·tr(Σ)/d·I``), so a rank-deficient Σ (e.g. a
    ReLU-free latent that lives in a subspace) still gives a finite Mahalanobis distance.
    ``score_reduction`` turns frame scores into a clip score: the paper's ``mean``, or ``max``
    or the ``score_percentile``-th percentile.
    """

    model_type = "libtrad-attention-ae"

    num_mel_bins: int = 64
    hidden_size: int = 128
    latent_size: int = 64
    context_frames: int = 1
    covariance_shrinkage: float = 1e-6
    score_reduction: Literal["mean", "max", "percentile"] = "mean"
    score_percentile: float = 95.0
    detection: dict | None = None  # the calibrated decision (libtrad.models.detection)

    def __post_init__(self, **kwargs):
        if self.context_frames < 1 or self.context_frames % 2 == 0:
            raise ValueError(f"context_frames={self.context_frames}: must be an odd number >= 1")
        for name in ("num_mel_bins", "hidden_size", "latent_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be >= 1")
        if self.covariance_shrinkage < 0:
            raise ValueError(f"covariance_shrinkage={self.covariance_shrinkage}: must be >= 0")
        if not 0.0 <= self.score_percentile <= 100.0:
            raise ValueError(f"score_percentile={self.score_percentile}: must be within [0, 100]")
        if self.detection is not None:
            DetectionSection.from_dict(self.detection)  # a malformed section fails at load, not at detect
        super().__post_init__(**kwargs)


__all__ = ["LibTradAttentionAEConfig"]
