"""Mahalanobis-distance anomaly scoring of embeddings: fit on normal (N, D) vectors, score new ones.

One component for every user: the LiB-TRAD attention auto-encoder scores its latent frames with
it, and the embedding suites score the embeddings of any encoder with it, from numpy arrays or
tensors alike. It is a torch module so that a model can keep μ and Σ⁻¹ as buffers (saved in its
``model.safetensors``); it needs neither transformers nor any model family.

Numerics: μ and Σ are always computed in float64; Σ gets a ridge ``shrinkage·tr(Σ)/D·I`` and is
inverted with the symmetric Moore–Penrose pseudo-inverse, so directions without variance (even
after the ridge, e.g. when tr(Σ) = 0) contribute nothing instead of inf. The statistics are then
stored in the module's dtype (float32 by default; ``dtype=torch.float64`` keeps them exact), and
the quadratic form ``diffᵀ Σ⁻¹ diff`` is always summed in float64, the distance returned in the wider
of the statistics' and the input's dtype: Σ⁻¹ of a trained latent has large entries of both signs, so
in float32 the terms cancel — a stand-in-trained attention AE's distances came out 0.04 apart between
torch and ONNX Runtime (two float32 summation orders), 4e-4 once summed in float64.

On a GPU (:meth:`MahalanobisScorer.score_on`): the statistics are fitted where they are (the
pseudo-inverse on another device would differ by as much as Σ's condition number allows), and
only the distances, the (N, D, D) bulk of the work, run on the device in float64, with a
rigorous per-row bound on how far they may lie from :meth:`~MahalanobisScorer.score`'s (the
same terms summed in another order), so a caller can tell when an order of scores is certain.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from libtrad.core.errors import LibtradError, first_line

DEFAULT_SHRINKAGE = 1e-6  # the attention auto-encoder's default ``covariance_shrinkage``


class MahalanobisScorer(nn.Module):
    """sqrt((x−μ)ᵀ Σ⁻¹ (x−μ)) of D-dimensional vectors, with μ, Σ⁻¹ fitted on training vectors.

    Buffers ``latent_mean`` (D,), ``latent_precision`` (D, D) and ``fitted`` (0/1) are the names
    saved in the auto-encoder's checkpoints. Use :meth:`fit` / :meth:`score` on plain arrays, or
    ``scorer(tensor)`` (any leading dimensions) inside a model.
    """

    def __init__(self, dim: int, *, dtype: torch.dtype = torch.float32):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise LibtradError(f"dim={dim!r}: the embedding size must be an integer >= 1")
        self.register_buffer("latent_mean", torch.zeros(dim, dtype=dtype))
        self.register_buffer("latent_precision", torch.eye(dim, dtype=dtype))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.long))

    @classmethod
    def fit_embeddings(
        cls, embeddings, *, shrinkage: float = DEFAULT_SHRINKAGE, dtype: torch.dtype = torch.float64
    ) -> MahalanobisScorer:
        """A scorer fitted on ``embeddings`` (N, D), numpy or torch; float64 statistics by default."""
        dim = _as_matrix(embeddings, None, "embeddings").shape[1]
        return cls(dim, dtype=dtype).fit(embeddings, shrinkage)

    @property
    def dim(self) -> int:
        return self.latent_mean.shape[0]

    @property
    def is_fitted(self) -> bool:
        return bool(self.fitted.item())

    @torch.no_grad()
    def fit(self, embeddings, shrinkage: float = DEFAULT_SHRINKAGE) -> MahalanobisScorer:
        """μ and Σ⁻¹ from (N, D) ``embeddings`` (N >= 2, finite), computed in float64; returns ``self``."""
        if isinstance(shrinkage, bool) or not isinstance(shrinkage, (int, float)) or not 0 <= shrinkage < float("inf"):
            raise LibtradError(f"shrinkage={shrinkage!r}: must be a finite number >= 0")
        x = _as_matrix(embeddings, self.dim, "embeddings").to(device=self.latent_mean.device, dtype=torch.float64)
        if x.shape[0] < 2:
            raise LibtradError(f"need at least 2 vectors to fit a covariance, got shape {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise LibtradError("embeddings: hold NaN or infinite values; cannot fit a covariance")
        mean = x.mean(dim=0)
        centred = x - mean
        cov = centred.T @ centred / (x.shape[0] - 1)
        ridge = shrinkage * torch.trace(cov) / self.dim
        cov = cov + ridge * torch.eye(self.dim, dtype=cov.dtype, device=cov.device)
        precision = torch.linalg.pinv(cov, hermitian=True)
        self.latent_mean.copy_(mean.to(self.latent_mean.dtype))
        self.latent_precision.copy_(((precision + precision.T) / 2).to(self.latent_precision.dtype))
        self.fitted.fill_(1)
        return self

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Distances over the last dimension of a tensor (..., D) -> (...); no checks (model use)."""
        dtype = torch.promote_types(embeddings.dtype, self.latent_precision.dtype)
        diff = embeddings.to(torch.float64) - self.latent_mean.to(torch.float64)  # float64: see the module docstring
        squared = torch.einsum("...i,ij,...j->...", diff, self.latent_precision.to(torch.float64), diff)
        return squared.clamp_min(0.0).sqrt().to(dtype)

    @torch.no_grad()
    def score(self, embeddings) -> np.ndarray:
        """Distances of (N, D) ``embeddings`` (numpy or torch) as a float64 numpy array (N,)."""
        if not self.is_fitted:
            raise LibtradError("Mahalanobis scorer: not fitted yet; call fit(train_embeddings) first")
        x = _as_matrix(embeddings, self.dim, "embeddings").to(self.latent_mean.device)
        return self(x).cpu().numpy().astype(np.float64)

    @torch.no_grad()
    def score_on(self, embeddings, device) -> tuple[np.ndarray, np.ndarray]:
        """Float64 distances of (N, D) ``embeddings`` computed on ``device``, and per row a bound on
        ``|score_on - score|`` (both sum the same float64 terms ``diff_i P_ij diff_j``, in different orders).

        The difference ``x - μ`` is one IEEE subtraction, the same bits everywhere; each quadratic
        form errs by at most ``γ_{2D}·Σ|diff_i||P_ij||diff_j|`` (two sums of D products), so two of
        them differ by twice that; the square root turns it into ``min(√δ, δ/(2√(q-δ)))`` plus
        its own rounding.
        """
        if not self.is_fitted:
            raise LibtradError("Mahalanobis scorer: not fitted yet; call fit(train_embeddings) first")
        x = _as_matrix(embeddings, self.dim, "embeddings").to(device=device, dtype=torch.float64)
        mean = self.latent_mean.to(device=device, dtype=torch.float64)
        precision = self.latent_precision.to(device=device, dtype=torch.float64)
        diff = x - mean
        squared = torch.einsum("...i,ij,...j->...", diff, precision, diff).clamp_min(0.0)
        magnitude = torch.einsum("...i,ij,...j->...", diff.abs(), precision.abs(), diff.abs())
        u = float(np.finfo(np.float64).eps) / 2
        n = 2 * self.dim
        delta = 2.02 * (n * u / (1 - n * u)) * magnitude
        low = (squared - delta).clamp_min(0.0)
        root_gap = torch.minimum(delta.sqrt(), delta / (2 * low.sqrt()).clamp_min(torch.finfo(torch.float64).tiny))
        distance = squared.sqrt()
        bound = root_gap + 4 * u * (distance + root_gap)
        return distance.cpu().numpy(), bound.cpu().numpy()


def _as_matrix(values, dim: int | None, name: str) -> torch.Tensor:
    """``values`` as a floating (N, D) tensor (D = ``dim`` when given); anything else is one line."""
    try:
        x = values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise LibtradError(f"{name}: not a numeric array ({first_line(exc)})") from None
    if x.dtype == torch.bool or x.is_complex() or not (x.is_floating_point() or x.dtype in _INTEGER):
        raise LibtradError(f"{name}: expected real numbers, found {x.dtype}")
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim):
        raise LibtradError(f"{name}: expected shape (N, {'D' if dim is None else dim}), got {tuple(x.shape)}")
    return x if x.is_floating_point() else x.to(torch.float64)


_INTEGER = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


__all__ = ["DEFAULT_SHRINKAGE", "MahalanobisScorer"]
