"""The scoring path of each LiB-TRAD model from raw audio, as one torch module (what ``libtrad export onnx``
exports, and the torch backend of :class:`~libtrad.models.waveform_scorer.WaveformScorer`).

Feature extraction is inside the graph: the model's own feature extractor's log-mel
(:func:`libtrad.models.frontend.log_mel_spectrogram`: ``torch.stft``, the Slaney mel filterbank as a
constant, ``power_to_db`` with its 80 dB floor under each clip's peak). The export writes the same numbers as
a grouped convolution and matrix products (``front_end="matmul"``,
:class:`libtrad.models.log_mel_graph.FactoredLogMel`: ONNX Runtime's ``STFT`` kernel is several times slower
than its matrix kernels), or as ONNX ``STFT`` (``front_end="stft"``, opset ≥ 17, the torch path's own
``torch.stft``), so a deployment feeds waveforms and needs neither librosa nor torch. Then, on a (clips,
samples) batch of equal-length clips:

* attention auto-encoder: encoder → latent self-attention → the Mahalanobis distance of every
  attended latent frame (μ and Σ⁻¹ as constants) = ``frame_scores`` (clips, frames); reduced
  over the frames by the config's ``score_reduction`` (mean, max or the ``score_percentile``-th
  percentile, linear interpolation as ``torch.quantile``) = ``scores`` (clips,). These are the
  numbers ``model(input_features=extractor(audio)["input_features"]).frame_scores/.scores`` gives.
  (The decoder's reconstruction does not enter the score, so the graph leaves it out.)
* CNN: ``scores`` = σ(z) = P(abnormal) and ``logits`` = ``[0, z]``, as its forward gives them.

The modules reuse the model's own submodules and the shared front end, so the graph cannot drift
from the torch path; ``tests/models/test_onnx_graph.py`` checks them against the model's forward.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from libtrad.core.errors import LibtradError
from libtrad.models.attention_ae.modeling_attention_ae import reduce_frame_scores
from libtrad.models.log_mel_graph import FactoredLogMel, factorable
from libtrad.models.waveform_scorer import AudioFacts, WaveformScorer


class LogMelFrontEnd(nn.Module):
    """The model's feature extractor as a module: (clips, samples) -> (clips, n_mels, frames)."""

    kind = "stft"

    def __init__(self, extractor):
        super().__init__()
        self.extractor = extractor

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.extractor.log_mel(waveform)


# How the log-mel is written into a graph: torch.stft (the torch path; ONNX ``STFT`` when exported) or the
# factored DFT of log_mel_graph (``matmul``: the export's default where the extractor's STFT factors).
FRONT_ENDS = ("stft", "matmul")


def log_mel_module(extractor, front_end: str = "stft") -> nn.Module:
    """The extractor's log-mel as a module; ``matmul`` falls back to ``stft`` where its STFT does not factor
    (:func:`libtrad.models.log_mel_graph.factorable`): the module's ``kind`` says which it is."""
    if front_end not in FRONT_ENDS:
        raise LibtradError(f"front end {front_end!r}: expected one of {', '.join(FRONT_ENDS)}")
    if front_end == "matmul" and factorable(int(extractor.n_fft), int(extractor.hop_length)):
        return FactoredLogMel(
            int(extractor.sampling_rate),
            int(extractor.n_fft),
            int(extractor.hop_length),
            int(extractor.feature_size),
            None if extractor.top_db is None else float(extractor.top_db),
        )
    return LogMelFrontEnd(extractor)


class AttentionAEScoringGraph(nn.Module):
    """waveform (clips, samples) -> (scores (clips,), frame_scores (clips, frames))."""

    def __init__(self, model, extractor, front_end: str = "stft"):
        super().__init__()
        if not model.is_scorer_fitted:
            raise LibtradError("the auto-encoder's Mahalanobis scorer is not fitted; nothing to export")
        self.front_end = log_mel_module(extractor, front_end)
        self.autoencoder = model.autoencoder
        self.scorer = model.scorer
        self.reduction = model.config.score_reduction
        self.percentile = float(model.config.score_percentile)

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.front_end(waveform).transpose(-1, -2)  # (clips, frames, n_mels): one AE sample per frame
        frame_scores = self.scorer(self.autoencoder(features).last_hidden_state)
        if self.reduction == "percentile":  # every frame is real here: one batched quantile, as the masked one
            scores = torch.quantile(frame_scores, self.percentile / 100.0, dim=-1)
        else:
            scores = reduce_frame_scores(frame_scores, None, self.reduction, self.percentile)
        return scores, frame_scores


class CNNScoringGraph(nn.Module):
    """waveform (clips, samples) -> (scores (clips,) = P(abnormal), logits (clips, 2))."""

    def __init__(self, model, extractor, front_end: str = "stft"):
        super().__init__()
        self.front_end = log_mel_module(extractor, front_end)
        self.model = model

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(input_features=self.front_end(waveform))
        return out.scores, out.logits


# One graph per model type of waveform_scorer.OUTPUTS (the outputs each returns, in that order).
GRAPHS = {"libtrad-attention-ae": AttentionAEScoringGraph, "libtrad-cnn": CNNScoringGraph}


def scoring_graph(model, extractor, front_end: str = "stft") -> nn.Module:
    """The scoring graph of ``model`` (eval mode) with the log-mel written as ``front_end`` (:data:`FRONT_ENDS`);
    a model type without one is one line."""
    name = model.config.model_type
    if name not in GRAPHS:
        raise LibtradError(
            f"a {name} model cannot be exported to ONNX (exportable model types: {', '.join(sorted(GRAPHS))})"
        )
    return GRAPHS[name](model.eval(), extractor, front_end).eval()


def audio_facts(model, extractor) -> AudioFacts:
    """The audio the model takes and the frames it scores (the CNN's pooling needs ``pool_size ** blocks``
    frames, the auto-encoder one)."""
    config = model.config
    min_frames = int(config.pool_size) ** len(config.conv_channels) if config.model_type == "libtrad-cnn" else 1
    return AudioFacts(
        sampling_rate=int(extractor.sampling_rate),
        n_fft=int(extractor.n_fft),
        hop_length=int(extractor.hop_length),
        n_mels=int(extractor.feature_size),
        top_db=None if extractor.top_db is None else float(extractor.top_db),
        min_samples=max(1, (min_frames - 1) * int(extractor.hop_length)),
    )


class TorchWaveformScorer(WaveformScorer):
    """The torch backend: ``TorchWaveformScorer(model, extractor).score(audio)`` (CPU or the model's device)."""

    def __init__(self, model, extractor):
        self.graph = scoring_graph(model, extractor)
        self.model_type = model.config.model_type
        self.audio = audio_facts(model, extractor)
        self.config = model.config.to_dict()
        self.device = next((p.device for p in model.parameters()), torch.device("cpu"))

    @torch.no_grad()
    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self.graph(torch.from_numpy(batch).to(self.device))
        return {name: value.cpu().numpy() for name, value in zip(self.output_names, outputs)}


__all__ = [
    "FRONT_ENDS",
    "GRAPHS",
    "AttentionAEScoringGraph",
    "CNNScoringGraph",
    "LogMelFrontEnd",
    "TorchWaveformScorer",
    "audio_facts",
    "log_mel_module",
    "scoring_graph",
]
