"""models/mahalanobis: the distance of a scorer stored in float32 is summed in float64."""

from __future__ import annotations

import numpy as np
import torch

from libtrad.models.mahalanobis import MahalanobisScorer


def test_an_ill_conditioned_float32_scorer_sums_its_quadratic_form_in_float64():
    """Σ⁻¹ of strongly correlated latents has large entries of both signs: summed in float32 the terms
    cancel (a trained AE's distances moved by 0.04 between two summation orders); in float64 they do not."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(2000, 1))
    latents = base @ np.ones((1, 16)) * 50.0 + rng.normal(scale=0.05, size=(2000, 16))  # nearly collinear
    scorer = MahalanobisScorer.fit_embeddings(latents, dtype=torch.float32)
    x = torch.from_numpy(latents[:64] + rng.normal(scale=0.5, size=(64, 16))).float()

    got = scorer(x)
    assert got.dtype == torch.float32
    diff = x.double() - scorer.latent_mean.double()
    exact = torch.einsum("ni,ij,nj->n", diff, scorer.latent_precision.double(), diff).clamp_min(0).sqrt()
    assert torch.allclose(got.double(), exact, rtol=1e-6, atol=0.0)
    assert np.array_equal(scorer.score(x), got.numpy().astype(np.float64))
