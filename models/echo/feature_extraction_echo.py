"""Waveforms -> ECHO's normalised log-magnitude spectrograms (B, F, T) with a frame mask.

ECHO takes any sample rate: the STFT window and hop are fixed in seconds (25 ms / 10 ms), so
the number of bins (and of bands) follows the rate. The STFT itself is libtrad's shared front
end (:func:`libtrad.models.frontend.stft_magnitude`).
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import BatchFeature, SequenceFeatureExtractor

from libtrad.core.errors import LibtradError
from libtrad.models.frontend import stft_magnitude


class EchoFeatureExtractor(SequenceFeatureExtractor):
    """DC removal, |STFT| (periodic Hann, no centring), ``log(x + 1e-9)``, then
    ``(x - mean) / (2 * std)`` with ECHO's published statistics. Padding is on the right with
    zeros; ``attention_mask`` marks the real frames (the model needs it to batch clips of
    different lengths exactly as if each ran alone)."""

    model_input_names = ["input_values", "attention_mask"]

    def __init__(
        self,
        sampling_rate: int = 16000,
        window_seconds: float = 0.025,
        hop_seconds: float = 0.01,
        log_offset: float = 1e-9,
        spectrogram_mean: float = -5.874158,
        spectrogram_std: float = 5.223174,
        remove_dc: bool = True,
        padding_value: float = 0.0,
        return_attention_mask: bool = True,
        **kwargs,
    ):
        feature_size = int(window_seconds * sampling_rate) // 2 + 1
        kwargs.pop("feature_size", None)
        super().__init__(
            feature_size=feature_size,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        if self.padding_side != "right":
            raise LibtradError(f"EchoFeatureExtractor: padding_side must be 'right', not {self.padding_side!r}")
        self.window_seconds = window_seconds
        self.hop_seconds = hop_seconds
        self.log_offset = log_offset
        self.spectrogram_mean = spectrogram_mean
        self.spectrogram_std = spectrogram_std
        self.remove_dc = remove_dc

    def stft_params(self, sampling_rate: int) -> tuple[int, int]:
        """``(n_fft = win, hop)`` in samples at ``sampling_rate``."""
        return int(self.window_seconds * sampling_rate), int(self.hop_seconds * sampling_rate)

    def spectrogram(self, waveform: torch.Tensor, sampling_rate: int) -> torch.Tensor:
        """Mono clip(s) (..., samples) -> normalised (..., F, T) float32; each clip's own mean is
        removed, so equal-length clips can share one STFT call."""
        n_fft, hop = self.stft_params(sampling_rate)
        x = waveform.to(torch.float32)
        if self.remove_dc:
            x = x - x.mean(-1, keepdim=True)
        if x.shape[-1] < n_fft:
            raise LibtradError(
                f"raw_speech: a clip of {x.shape[-1]} samples is shorter than one STFT window "
                f"({n_fft} samples at {sampling_rate} Hz)"
            )
        spec = torch.log(stft_magnitude(x, n_fft, hop) + self.log_offset)
        return (spec - self.spectrogram_mean) / (2 * self.spectrogram_std)

    def __call__(
        self,
        raw_speech,
        sampling_rate: int | None = None,
        padding: bool | str = "longest",
        max_length: int | None = None,
        truncation: bool = False,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        **kwargs,
    ) -> BatchFeature:
        """``raw_speech``: one mono waveform (1-D array/tensor), a batch (2-D) or a list of them.
        ``max_length`` / ``pad_to_multiple_of`` count spectrogram frames."""
        sampling_rate = sampling_rate or self.sampling_rate
        clips = _as_clip_list(raw_speech)
        if len({c.shape[-1] for c in clips}) == 1:  # one STFT call for equal-length clips
            specs = list(self.spectrogram(torch.stack(clips), sampling_rate).transpose(1, 2).numpy())
        else:
            specs = [self.spectrogram(clip, sampling_rate).T.numpy() for clip in clips]  # (T, F) for pad()
        padded = self.pad(
            BatchFeature({"input_values": specs}),
            padding=padding,
            max_length=max_length,
            truncation=truncation,
            pad_to_multiple_of=pad_to_multiple_of,
            return_attention_mask=return_attention_mask,
        )
        values = padded["input_values"]
        if isinstance(values, list):
            values = [np.asarray(v).T for v in values]
            if len({v.shape for v in values}) == 1:
                values = np.stack(values)
        else:
            values = np.asarray(values).transpose(0, 2, 1)
        data = {"input_values": values}
        if "attention_mask" in padded:
            data["attention_mask"] = padded["attention_mask"]
        return BatchFeature(data, tensor_type=return_tensors)


def _as_clip_list(raw_speech) -> list[torch.Tensor]:
    """Normalise the accepted inputs to a list of 1-D float tensors."""
    if isinstance(raw_speech, (list, tuple)):
        if raw_speech and np.isscalar(raw_speech[0]):
            raw_speech = [raw_speech]
        clips = [torch.as_tensor(np.asarray(c) if not isinstance(c, torch.Tensor) else c) for c in raw_speech]
    else:
        t = raw_speech if isinstance(raw_speech, torch.Tensor) else torch.as_tensor(np.asarray(raw_speech))
        clips = [t] if t.dim() == 1 else list(t)
    if not clips:
        raise LibtradError("raw_speech: no waveforms given")
    for i, c in enumerate(clips):
        if c.dim() != 1:
            raise LibtradError(
                f"raw_speech[{i}]: expected a mono waveform (samples,), got shape {tuple(c.shape)}; "
                "embed channels separately (see EchoWaveformEncoder.embed_multichannel)"
            )
    return clips


__all__ = ["EchoFeatureExtractor"]
