"""Feature extractor of the attention auto-encoder: 64-bin log-mel frames, librosa's defaults."""

from __future__ import annotations

from libtrad.models.feature_extraction_log_mel import LogMelFeatureExtractor


class LibTradAttentionAEFeatureExtractor(LogMelFeatureExtractor):
    """``librosa.power_to_db(librosa.feature.melspectrogram(y, sr=16000, n_mels=64))`` as
    ``input_features`` of shape (batch, frames, 64): each frame is one auto-encoder sample.

    n_fft 2048 and hop 512 are librosa's defaults, which the paper kept.
    """

    frames_last = False

    def __init__(
        self, feature_size: int = 64, sampling_rate: int = 16_000, n_fft: int = 2048, hop_length: int = 512, **kwargs
    ):
        super().__init__(
            feature_size=feature_size, sampling_rate=sampling_rate, n_fft=n_fft, hop_length=hop_length, **kwargs
        )


__all__ = ["LibTradAttentionAEFeatureExtractor"]
