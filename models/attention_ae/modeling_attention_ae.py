"""LiB-TRAD attention auto-encoder: MLP encoder, self-attention on the latent, MLP decoder, and a
Mahalanobis-distance anomaly score on the attended latent (the shared ``libtrad.models.mahalanobis``
scorer, which the embedding suites use on other encoders' embeddings).

Paper: encoder Linear(64→128)–ReLU–Linear(128→64) → z; Q=W_q z, K=W_k z, V=W_v z;
softmax(QKᵀ/√d)·V; decoder Linear(64→128)–ReLU–Linear(128→64); MSE; each log-mel frame is a sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from libtrad.models.attention_ae.configuration_attention_ae import LibTradAttentionAEConfig
from libtrad.models.detection import DetectsEvents
from libtrad.models.initialization import pytorch_default_init_
from libtrad.models.mahalanobis import MahalanobisScorer
from libtrad.models.weights import CheckedWeights


@dataclass
class LibTradAttentionAEOutput(ModelOutput):
    """``last_hidden_state``: attended latent (batch, frames, latent); ``reconstruction``: decoded frames."""

    last_hidden_state: torch.Tensor | None = None
    reconstruction: torch.Tensor | None = None
    encoded: torch.Tensor | None = None
    attentions: torch.Tensor | None = None


@dataclass
class LibTradAnomalyDetectionOutput(ModelOutput):
    """``loss``: reconstruction MSE; ``frame_scores`` (batch, frames) and ``scores`` (batch,) Mahalanobis scores."""

    loss: torch.Tensor | None = None
    scores: torch.Tensor | None = None
    frame_scores: torch.Tensor | None = None
    reconstruction: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None


class LibTradAttentionAEPreTrainedModel(CheckedWeights, PreTrainedModel):
    config_class = LibTradAttentionAEConfig
    base_model_prefix = "autoencoder"
    main_input_name = "input_features"

    @torch.no_grad()
    def _init_weights(self, module):
        """PyTorch's own default initialisation (the paper gives none; transformers' N(0, 0.02) is for transformers)."""
        pytorch_default_init_(module)
        if isinstance(module, MahalanobisScorer):
            init.zeros_(module.latent_mean)
            init.eye_(module.latent_precision)
            init.zeros_(module.fitted)


class LatentSelfAttention(nn.Module):
    """Single-head scaled dot-product attention of each frame's latent over a centred window of frames.

    ``context_frames=1`` is a softmax over one token (weight exactly 1), so the output is ``W_v z``.
    The window is gathered with ``unfold`` (cost grows with frames × window, not frames²).
    """

    def __init__(self, dim: int, context_frames: int):
        super().__init__()
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.context_frames = context_frames
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, z: torch.Tensor, frame_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """z: (batch, frames, dim); frame_mask: (batch, frames), 1 = real frame -> (output, weights)."""
        q, k, v = self.q_proj(z), self.k_proj(z), self.v_proj(z)
        half = self.context_frames // 2
        batch, frames, dim = z.shape
        valid = (
            torch.ones(batch, frames, dtype=torch.bool, device=z.device) if frame_mask is None else frame_mask.bool()
        )
        # (batch, frames, window, dim): keys/values of the neighbours t-half .. t+half of every frame t
        k_win = _windows(k, half)
        v_win = _windows(v, half)
        key_ok = _windows(valid.unsqueeze(-1), half, fill=False).squeeze(-1)
        logits = torch.einsum("btd,btwd->btw", q, k_win) * self.scale
        logits = logits.masked_fill(~key_ok, float("-inf"))
        # a padded query frame may have no valid key at all: give it its own (masked-out later)
        logits[..., half] = torch.where(key_ok[..., half], logits[..., half], torch.zeros_like(logits[..., half]))
        weights = logits.softmax(dim=-1)
        return torch.einsum("btw,btwd->btd", weights, v_win), weights


def _windows(x: torch.Tensor, half: int, fill: float | bool = 0.0) -> torch.Tensor:
    """(batch, frames, d) -> (batch, frames, 2*half+1, d), padding beyond the clip's edges with ``fill``."""
    if half == 0:
        return x.unsqueeze(2)
    padded = torch.nn.functional.pad(
        x.transpose(1, 2).to(torch.float32 if x.dtype == torch.bool else x.dtype), (half, half), value=float(fill)
    )
    windows = padded.unfold(-1, 2 * half + 1, 1)  # (batch, d, frames, window)
    windows = windows.permute(0, 2, 3, 1)
    return windows.bool() if x.dtype == torch.bool else windows


class LibTradAttentionAEModel(LibTradAttentionAEPreTrainedModel):
    """Encoder → latent self-attention → decoder. Input ``input_features`` (batch, frames, n_mels)."""

    def __init__(self, config: LibTradAttentionAEConfig):
        super().__init__(config)
        self.encoder = nn.Sequential(
            nn.Linear(config.num_mel_bins, config.hidden_size),
            nn.ReLU(),
            nn.Linear(config.hidden_size, config.latent_size),
        )
        self.attention = LatentSelfAttention(config.latent_size, config.context_frames)
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_size, config.hidden_size),
            nn.ReLU(),
            nn.Linear(config.hidden_size, config.num_mel_bins),
        )
        self.post_init()

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> LibTradAttentionAEOutput | tuple:
        if input_features.ndim == 2:  # a plain batch of frames: each frame is its own clip
            input_features = input_features.unsqueeze(1)
        encoded = self.encoder(input_features)
        attended, weights = self.attention(encoded, attention_mask)
        reconstruction = self.decoder(attended)
        out = LibTradAttentionAEOutput(
            last_hidden_state=attended,
            reconstruction=reconstruction,
            encoded=encoded,
            attentions=weights if output_attentions else None,
        )
        return out if return_dict is not False else out.to_tuple()


def reduce_frame_scores(
    frame_scores: torch.Tensor, frame_mask: torch.Tensor | None, how: str, percentile: float
) -> torch.Tensor:
    """(batch, frames) -> (batch,) clip scores over the real frames: mean (paper), max or a percentile."""
    if frame_mask is None:
        frame_mask = torch.ones_like(frame_scores, dtype=torch.bool)
    frame_mask = frame_mask.bool()
    if how == "mean":
        return (frame_scores * frame_mask).sum(-1) / frame_mask.sum(-1).clamp_min(1)
    if how == "max":
        return frame_scores.masked_fill(~frame_mask, float("-inf")).amax(-1)
    if how == "percentile":
        return torch.stack([row[m].quantile(percentile / 100.0) for row, m in zip(frame_scores, frame_mask)])
    raise ValueError(f"score_reduction={how!r}: expected 'mean', 'max' or 'percentile'")


class LibTradAttentionAEForAnomalyDetection(DetectsEvents, LibTradAttentionAEPreTrainedModel):
    """The auto-encoder plus its Mahalanobis scorer: ``scores`` are clip anomaly scores (higher = more anomalous).

    Call :meth:`fit_scorer` with the latents of all training frames after training; the
    statistics are buffers, so a model saved afterwards scores straight after ``from_pretrained``.
    """

    def __init__(self, config: LibTradAttentionAEConfig):
        super().__init__(config)
        self.autoencoder = LibTradAttentionAEModel(config)
        self.scorer = MahalanobisScorer(config.latent_size)
        self.post_init()

    @property
    def is_scorer_fitted(self) -> bool:
        return self.scorer.is_fitted

    def fit_scorer(self, latents: torch.Tensor) -> None:
        self.scorer.fit(latents, self.config.covariance_shrinkage)

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        loss_mask: torch.Tensor | None = None,
        score_reduction: str | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> LibTradAnomalyDetectionOutput | tuple:
        if input_features.ndim == 2:
            input_features = input_features.unsqueeze(1)
        ae = self.autoencoder(input_features, attention_mask=attention_mask)
        mask = (
            torch.ones(input_features.shape[:2], dtype=torch.bool, device=input_features.device)
            if attention_mask is None
            else attention_mask.bool()
        )
        # loss_mask picks the frames that count (training with context: only each window's centre)
        counted = mask if loss_mask is None else loss_mask.bool() & mask
        squared = (ae.reconstruction - input_features).pow(2).mean(-1)
        loss = (squared * counted).sum() / counted.sum().clamp_min(1)
        frame_scores = scores = None
        if self.is_scorer_fitted:
            frame_scores = self.scorer(ae.last_hidden_state)
            scores = reduce_frame_scores(
                frame_scores, mask, score_reduction or self.config.score_reduction, self.config.score_percentile
            )
        out = LibTradAnomalyDetectionOutput(
            loss=loss,
            scores=scores,
            frame_scores=frame_scores,
            reconstruction=ae.reconstruction,
            last_hidden_state=ae.last_hidden_state,
        )
        return out if return_dict is not False else out.to_tuple()


__all__ = [
    "LibTradAttentionAEPreTrainedModel",
    "LibTradAttentionAEModel",
    "LibTradAttentionAEForAnomalyDetection",
    "LatentSelfAttention",
]
