"""The log-mel feature extractor both LiB-TRAD models share (a transformers ``SequenceFeatureExtractor``).

Each model folder subclasses it only to set its STFT size and the layout its network expects,
so the CNN and the auto-encoder can never drift apart in how they see audio.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature

from libtrad.core.errors import LibtradError
from libtrad.models.frontend import log_mel_spectrogram


class LogMelFeatureExtractor(SequenceFeatureExtractor):
    """Mono waveform(s) at ``sampling_rate`` -> librosa-equivalent log-mel ``input_features``.

    Output layout is ``(batch, n_mels, frames)`` (``frames_last``) or ``(batch, frames, n_mels)``.
    Clips of different lengths are padded with ``padding_value`` after the dB conversion and an
    ``attention_mask`` (1 = real frame) is returned, so padding never changes a real frame.
    """

    model_input_names = ["input_features", "attention_mask"]
    frames_last: bool = True  # subclasses pick the layout their network wants

    def __init__(
        self,
        feature_size: int = 64,
        sampling_rate: int = 16_000,
        n_fft: int = 2048,
        hop_length: int = 512,
        top_db: float | None = 80.0,
        padding_value: float = 0.0,
        return_attention_mask: bool = True,
        **kwargs,
    ):
        super().__init__(
            feature_size=feature_size,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.top_db = top_db

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """One waveform (or a batch of equal-length ones) -> (..., n_mels, frames)."""
        return log_mel_spectrogram(
            waveform,
            self.sampling_rate,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            n_mels=self.feature_size,
            top_db=self.top_db,
        )

    def __call__(
        self,
        raw_audio: np.ndarray | torch.Tensor | Sequence[np.ndarray | torch.Tensor],
        sampling_rate: int | None = None,
        return_tensors: str | None = "pt",
        return_attention_mask: bool | None = None,
        **kwargs,
    ) -> BatchFeature:
        if sampling_rate is not None and int(sampling_rate) != self.sampling_rate:
            raise LibtradError(
                f"sampling_rate={sampling_rate}: this feature extractor expects {self.sampling_rate} Hz audio "
                "(resample first, e.g. datasets' Audio(sampling_rate=...))"
            )
        clips = _as_clip_list(raw_audio)
        features = [self.log_mel(clip) for clip in clips]
        lengths = [f.shape[-1] for f in features]
        longest = max(lengths)
        batch = torch.full((len(features), self.feature_size, longest), float(self.padding_value))
        for row, feat in enumerate(features):
            batch[row, :, : feat.shape[-1]] = feat
        mask = torch.zeros(len(features), longest, dtype=torch.long)
        for row, length in enumerate(lengths):
            mask[row, :length] = 1
        data = {"input_features": batch if self.frames_last else batch.transpose(1, 2).contiguous()}
        want_mask = self.return_attention_mask if return_attention_mask is None else return_attention_mask
        if want_mask:
            data["attention_mask"] = mask
        out = BatchFeature(data)
        return out.convert_to_tensors(return_tensors) if return_tensors not in (None, "pt") else out


def _as_clip_list(raw_audio) -> list[torch.Tensor]:
    """Accept one 1-D clip, a 2-D (batch, samples) array, or a list of 1-D clips; return float32 tensors."""
    if isinstance(raw_audio, (np.ndarray, torch.Tensor)):
        tensor = torch.tensor(raw_audio, dtype=torch.float32) if isinstance(raw_audio, np.ndarray) else raw_audio
        if tensor.ndim == 1:
            clips = [tensor]
        elif tensor.ndim == 2:
            clips = list(tensor)
        else:
            raise LibtradError(
                f"audio has shape {tuple(tensor.shape)}: expected (samples,) or (batch, samples) mono audio"
            )
    elif isinstance(raw_audio, (list, tuple)) and raw_audio:
        clips = [c if isinstance(c, torch.Tensor) else torch.tensor(np.asarray(c, dtype=np.float32)) for c in raw_audio]
    else:
        raise LibtradError("audio: expected a waveform array or a non-empty list of waveforms")
    out = []
    for i, clip in enumerate(clips):
        if clip.ndim != 1:
            raise LibtradError(f"audio clip {i} has shape {tuple(clip.shape)}: expected mono (samples,)")
        if clip.numel() == 0:
            raise LibtradError(f"audio clip {i} is empty")
        out.append(clip.to(torch.float32))
    return out
