"""``logmel-stats`` — no weights: per-band mean and standard deviation of LiB-TRAD's log-mel front
end (64 bands, librosa defaults) -> 128 values; frames = each frame's log-mel and its absolute
deviation from the clip's mean (the clip's std is the RMS of the second half over frames)."""

from __future__ import annotations

from libtrad.ray_jobs.embedding.encoders.base import ClipEncoder


class LogMelStatsEncoder(ClipEncoder):
    """``logmel-stats``: per-band mean and std of LiB-TRAD's log-mel front end (no weights)."""

    N_MELS, N_FFT, HOP = 64, 2048, 512

    def __init__(self, sampling_rate: int = 16_000):
        self.sampling_rate = sampling_rate
        self.output_dim = 2 * self.N_MELS
        self.hop_size_in_ms = 1000.0 * self.HOP / sampling_rate

    def _batch(self, batch):
        import torch

        from libtrad.models.frontend import log_mel_spectrogram

        # float64 throughout (autocast never touches it): the precision does not change these numbers
        mel = log_mel_spectrogram(
            self._to_device(batch.double()),
            self.sampling_rate,
            n_fft=self.N_FFT,
            hop_length=self.HOP,
            n_mels=self.N_MELS,
        ).transpose(1, 2)  # (B, T, 64), float64
        mean = mel.mean(dim=1, keepdim=True)
        deviation = (mel - mean).abs()
        clip = torch.cat([mean[:, 0], deviation.pow(2).mean(dim=1).sqrt()], dim=-1)
        return clip, torch.cat([mel, deviation], dim=-1)
