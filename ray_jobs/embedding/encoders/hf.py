"""``hf:DIR`` — any transformers ``AutoModel`` + ``AutoFeatureExtractor`` audio encoder folder;
frames = ``last_hidden_state``, clip = their mean. Its hop is measured once (frames of 1 s vs 2 s
of silence), since configs do not state it uniformly."""

from __future__ import annotations

from pathlib import Path

from libtrad.errors import LibtradError
from libtrad.ray_jobs.embedding.encoders.base import ClipEncoder


class HFClipEncoder(ClipEncoder):
    """Any transformers audio encoder folder (``hf:DIR``): mean-pooled ``last_hidden_state``."""

    def __init__(self, path: Path):
        import torch
        from transformers import AutoFeatureExtractor, AutoModel

        import libtrad  # noqa: F401 - registers libtrad's own model types with the Auto classes

        self.feature_extractor = AutoFeatureExtractor.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        rate = getattr(self.feature_extractor, "sampling_rate", None)
        if not rate:
            raise LibtradError(f"{path}: the feature extractor states no sampling_rate")
        self.sampling_rate = int(rate)
        with torch.inference_mode():
            one = self._batch(torch.zeros(1, self.sampling_rate))[1]
            two = self._batch(torch.zeros(1, 2 * self.sampling_rate))[1]
        self.output_dim = int(one.shape[-1])
        step = two.shape[1] - one.shape[1]
        if step <= 0:
            raise LibtradError(f"{path}: the model's frame count does not grow with the input length")
        self.hop_size_in_ms = 1000.0 / step

    def _batch(self, batch):
        inputs = self.feature_extractor(list(batch.numpy()), sampling_rate=self.sampling_rate, return_tensors="pt")
        inputs.pop("attention_mask", None)  # equal-length batches: nothing is padded
        frames = self.model(**inputs).last_hidden_state
        return frames.mean(dim=1), frames
