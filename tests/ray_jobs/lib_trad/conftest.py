"""Fixtures of the LiB-TRAD job tests: one attention AE trained briefly and calibrated on the synthetic export."""

from __future__ import annotations

from pathlib import Path

import pytest

TARGET = 10.0  # false alarms per hour: the session export's 14 min of normal charging can show it (1/h needs 1 h)


@pytest.fixture(scope="session")
def calibrated_ae(lib_trad_export, tmp_path_factory) -> Path:
    """A tiny attention AE (2 epochs on tr1) with a ``detection`` section calibrated for :data:`TARGET` per hour."""
    from libtrad.ray_jobs.lib_trad.training import Recipe, train_attention_ae

    out = tmp_path_factory.mktemp("calibrated") / "ae"
    train_attention_ae(
        str(lib_trad_export),
        out,
        recipe=Recipe(epochs=2, batch_size=128),
        model_kwargs={"hidden_size": 16, "latent_size": 8, "covariance_shrinkage": 1e-3},
        progress=False,
        false_alarms_per_hour=TARGET,
        require_calibration=True,
    )
    return out


@pytest.fixture(scope="session")
def exportable_ae(lib_trad_export, tmp_path_factory) -> Path:
    """An attention AE whose Mahalanobis scorer is fitted on well-spread latents (so ``export onnx``'s 1e-4 parity
    holds; a briefly trained one's near-singular covariance does not), calibrated by train's own calibration."""
    import torch

    from libtrad.folders.outputs import atomic_output
    from libtrad.models.attention_ae import LibTradAttentionAEConfig, LibTradAttentionAEFeatureExtractor
    from libtrad.models.attention_ae import LibTradAttentionAEForAnomalyDetection as AE
    from libtrad.ray_jobs.lib_trad.calibration import calibrate_model, calibration_clips
    from libtrad.ray_jobs.lib_trad.data import load_clips

    torch.manual_seed(0)
    model = AE(LibTradAttentionAEConfig(hidden_size=16, latent_size=8)).eval()
    model.fit_scorer(torch.randn(500, 8) * 1.5 + 0.5)
    extractor = LibTradAttentionAEFeatureExtractor()
    plan = calibration_clips(str(lib_trad_export), "tr1", TARGET, True, progress=False)
    test = load_clips(str(lib_trad_export), "tr1", "test", progress=False)
    calibrate_model(model, extractor, plan, test)
    # random weights score normal charging far above tr1 (loc ~24 vs ~15): a scale that suits tr1, so both backends
    # have events to agree on
    model.config.detection.update(threshold=0.5, normalisation={"method": "robust-z", "loc": 15.0, "scale": 1.0})
    out = tmp_path_factory.mktemp("exportable") / "ae"
    with atomic_output(out, "model") as staging:
        model.save_pretrained(staging)
        extractor.save_pretrained(staging)
    return out
