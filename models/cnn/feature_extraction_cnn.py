"""Feature extractor of the LiB-TRAD CNN: 64-bin log-mel, window 1024, hop 512, 16 kHz."""

from __future__ import annotations

from libtrad.models.feature_extraction_log_mel import LogMelFeatureExtractor


class LibTradCNNFeatureExtractor(LogMelFeatureExtractor):
    """``input_features`` of shape (batch, 64, frames): a one-channel spectrogram image for the CNN."""

    frames_last = True

    def __init__(
        self, feature_size: int = 64, sampling_rate: int = 16_000, n_fft: int = 1024, hop_length: int = 512, **kwargs
    ):
        super().__init__(
            feature_size=feature_size, sampling_rate=sampling_rate, n_fft=n_fft, hop_length=hop_length, **kwargs
        )


__all__ = ["LibTradCNNFeatureExtractor"]
