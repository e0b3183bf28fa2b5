"""Waveforms in, embeddings out: feature extractor + model, batched, plus multichannel.

Also the attributes an X-ARES style encoder exposes (``sampling_rate``, ``output_dim``,
``hop_size_in_ms``; ``forward(audio) -> (B, frames, output_dim)``).
"""

from __future__ import annotations

import torch
from torch import nn

from libtrad.core.devices import autocast, check_precision, to_device
from libtrad.core.errors import LibtradError
from libtrad.models.echo.feature_extraction_echo import EchoFeatureExtractor
from libtrad.models.echo.modeling_echo import EchoModel, EchoModelOutput


class EchoWaveformEncoder(nn.Module):
    """An :class:`EchoModel` with its feature extractor, fixed to one input sample rate."""

    def __init__(
        self, model: EchoModel, feature_extractor: EchoFeatureExtractor | None = None, sampling_rate: int | None = None
    ):
        super().__init__()
        self.model = model.eval()
        self.feature_extractor = feature_extractor or EchoFeatureExtractor(sampling_rate=model.config.sampling_rate)
        self.sampling_rate = sampling_rate or self.feature_extractor.sampling_rate

    @classmethod
    def from_pretrained(cls, path, sampling_rate: int | None = None, **kwargs) -> EchoWaveformEncoder:
        return cls(EchoModel.from_pretrained(path, **kwargs), EchoFeatureExtractor.from_pretrained(path), sampling_rate)

    @property
    def output_dim(self) -> int:
        return self.model.config.output_dim(self.sampling_rate)

    @property
    def hop_size_in_ms(self) -> float:
        return self.model.hop_size_in_ms

    @torch.inference_mode()
    def embed(
        self, waveforms, sampling_rate: int | None = None, batch_size: int | None = None, precision: str = "fp32"
    ) -> EchoModelOutput:
        """Clips of any lengths -> outputs as if each clip ran alone (``frames_mask`` marks the
        real frames). ``batch_size`` bounds memory; default all clips in one pass.

        Runs where the model is (``.to(device)``): the features are computed on the CPU, copied to
        the model's device (pinned host memory for a GPU) and the outputs stay there, as float32.

        ``precision="bf16"`` runs the encoder's matrix products under bfloat16 autocast: about 2x
        faster on CPUs with AVX512-BF16/AMX, at the cost of parity (max abs difference ~1e-2,
        cosine > 0.9999 to fp32 on 10-s clips; see bench/RESULTS.md); ``"fp16"`` (float16 autocast)
        runs on CUDA only. The default fp32 is the official numerics.
        """
        device = next(self.model.parameters()).device
        check_precision(precision, device)
        sr = sampling_rate or self.sampling_rate
        clips = (
            list(waveforms)
            if isinstance(waveforms, (list, tuple)) or getattr(waveforms, "ndim", 1) > 1
            else [waveforms]
        )
        clips = [c.cpu() if isinstance(c, torch.Tensor) else c for c in clips]  # the feature extractor runs on the CPU
        step = batch_size or len(clips)
        parts = []
        for start in range(0, len(clips), step):
            inputs = self.feature_extractor(clips[start : start + step], sampling_rate=sr, return_tensors="pt")
            inputs = {k: to_device(v, device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
            with autocast(device, precision):
                out = self.model(**inputs, sampling_rate=sr)
            parts.append(
                EchoModelOutput(
                    last_hidden_state=out.last_hidden_state.float(),
                    pooler_output=out.pooler_output.float(),
                    frames_mask=out.frames_mask,
                )
            )
        return _concat_outputs(parts)

    def forward(self, audio: torch.Tensor, audio_attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, samples) at ``sampling_rate`` -> frame embeddings (B, frames, output_dim).
        ``audio_attention_mask`` (B, samples) marks real samples; padded frames are zero."""
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        lengths = (
            audio_attention_mask.sum(-1).tolist()
            if audio_attention_mask is not None
            else [audio.shape[-1]] * len(audio)
        )
        clips = [a[: int(n)] for a, n in zip(audio, lengths)]
        return self.embed(clips).last_hidden_state

    def embed_multichannel(
        self, waveform: torch.Tensor, sampling_rate: int | None = None, reduction: str = "concat"
    ) -> EchoModelOutput:
        """(channels, samples) -> one embedding: each channel is embedded alone, then the channel
        embeddings are concatenated (SIREN's choice, default; channel-major) or averaged."""
        if waveform.dim() != 2:
            raise LibtradError(f"waveform: expected (channels, samples), got shape {tuple(waveform.shape)}")
        if reduction not in ("concat", "mean"):
            raise LibtradError(f"reduction: must be 'concat' or 'mean', not {reduction!r}")
        out = self.embed(list(waveform), sampling_rate)
        if reduction == "mean":
            pooled, frames = out.pooler_output.mean(0, keepdim=True), out.last_hidden_state.mean(0, keepdim=True)
        else:
            pooled = out.pooler_output.reshape(1, -1)
            frames = out.last_hidden_state.permute(1, 0, 2).reshape(1, out.last_hidden_state.shape[1], -1)
        return EchoModelOutput(last_hidden_state=frames, pooler_output=pooled, frames_mask=out.frames_mask[:1])


def _concat_outputs(parts: list[EchoModelOutput]) -> EchoModelOutput:
    """Concatenate batch outputs, padding frames to the longest."""
    if len(parts) == 1:
        return parts[0]
    longest = max(p.last_hidden_state.shape[1] for p in parts)

    def pad(t):
        return torch.nn.functional.pad(
            t, (0, 0, 0, longest - t.shape[1]) if t.dim() == 3 else (0, longest - t.shape[1])
        )

    return EchoModelOutput(
        last_hidden_state=torch.cat([pad(p.last_hidden_state) for p in parts]),
        pooler_output=torch.cat([p.pooler_output for p in parts]),
        frames_mask=torch.cat([pad(p.frames_mask) for p in parts]),
    )


__all__ = ["EchoWaveformEncoder"]
