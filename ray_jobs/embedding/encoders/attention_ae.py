"""``attention-ae:DIR`` — a trained LiB-TRAD attention auto-encoder: frames = its attended latent
(``last_hidden_state``, what the decoder reads), clip = their mean."""

from __future__ import annotations

from pathlib import Path

from libtrad.ray_jobs.embedding.encoders.base import ClipEncoder


class AttentionAEClipEncoder(ClipEncoder):
    """The LiB-TRAD attention AE (``attention-ae:DIR``): attended latent frames, clip = their mean."""

    def __init__(self, path: Path):
        from libtrad.models.attention_ae import LibTradAttentionAEFeatureExtractor, LibTradAttentionAEModel

        self.feature_extractor = LibTradAttentionAEFeatureExtractor.from_pretrained(path)
        self.model = LibTradAttentionAEModel.from_pretrained(path).eval()
        self.sampling_rate = int(self.feature_extractor.sampling_rate)
        self.output_dim = int(self.model.config.latent_size)
        self.hop_size_in_ms = 1000.0 * self.feature_extractor.hop_length / self.sampling_rate

    def _batch(self, batch):
        inputs = self.feature_extractor(list(batch.numpy()), sampling_rate=self.sampling_rate, return_tensors="pt")
        with self._autocast():
            frames = self.model(input_features=self._to_device(inputs["input_features"])).last_hidden_state
        return frames.mean(dim=1), frames
