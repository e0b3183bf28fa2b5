"""``echo:DIR`` — a converted ECHO folder: clip = the utterance embedding (band CLS outputs),
frames = the per-patch outputs."""

from __future__ import annotations

from pathlib import Path

from libtrad.ray_jobs.embedding.encoders.base import ClipEncoder


class EchoClipEncoder(ClipEncoder):
    """ECHO (``echo:DIR``): utterance embedding per clip, per-patch frames."""

    def __init__(self, path: Path):
        from libtrad.models.echo.encoder_echo import EchoWaveformEncoder

        self.encoder = EchoWaveformEncoder.from_pretrained(path)
        self.sampling_rate = int(self.encoder.sampling_rate)
        self.output_dim = int(self.encoder.output_dim)
        self.hop_size_in_ms = float(self.encoder.hop_size_in_ms)

    def _batch(self, batch):  # EchoWaveformEncoder moves the features to its device and autocasts itself
        out = self.encoder.embed(list(batch), precision=self.precision)
        return out.pooler_output, out.last_hidden_state
