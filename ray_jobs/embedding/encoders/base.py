"""The clip encoder every kind derives from: exact equal-length batches, X-ARES's ``forward``."""

from __future__ import annotations

import numpy as np


def _groups_by_length(clips: list[np.ndarray]) -> list[list[int]]:
    """Indices of equal-length clips, in first-seen order: each group is one exact batch."""
    groups: dict[int, list[int]] = {}
    for i, clip in enumerate(clips):
        groups.setdefault(int(clip.shape[-1]), []).append(i)
    return list(groups.values())


class ClipEncoder:
    """Shared driver: equal-length batches through :meth:`_batch`, clip and frame outputs per clip."""

    sampling_rate: int
    output_dim: int
    hop_size_in_ms: float

    @classmethod
    def from_spec(cls, spec, *, precision: str = "fp32") -> "ClipEncoder":
        """Build from a parsed :class:`~.spec.EncoderSpec` (a folder kind gets its folder)."""
        return cls(spec.path) if spec.path is not None else cls()

    def embed(self, clips: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        import torch

        pooled: list[np.ndarray | None] = [None] * len(clips)
        frames: list[np.ndarray | None] = [None] * len(clips)
        with torch.inference_mode():
            for group in _groups_by_length(clips):
                batch = torch.from_numpy(np.stack([np.asarray(clips[i], dtype=np.float32) for i in group]))
                clip_out, frame_out = self._batch(batch)
                for row, i in enumerate(group):
                    pooled[i] = clip_out[row].float().numpy()
                    frames[i] = frame_out[row].float().numpy()
        return np.stack(pooled).astype(np.float32, copy=False), frames

    def forward(self, audio, audio_attention_mask=None):
        """X-ARES: (B, samples) -> (B, T, D); with a mask, each clip is cut to its real samples and
        shorter clips' frames are zero-padded at the end."""
        import torch

        audio = audio.unsqueeze(0) if audio.dim() == 1 else audio
        lengths = (audio_attention_mask.sum(-1).tolist() if audio_attention_mask is not None
                   else [audio.shape[-1]] * len(audio))
        _, frames = self.embed([a[: int(n)].numpy() for a, n in zip(audio.cpu(), lengths)])
        longest = max(f.shape[0] for f in frames)
        out = np.zeros((len(frames), longest, self.output_dim), dtype=np.float32)
        for i, f in enumerate(frames):
            out[i, : f.shape[0]] = f
        return torch.from_numpy(out)

    __call__ = forward

    def _batch(self, batch):  # (B, samples) -> (clip (B, D), frames (B, T, D))
        raise NotImplementedError


def describe(encoder) -> dict:
    """The contract's numbers, for embeddings.json and the checker."""
    return {"sampling_rate": int(encoder.sampling_rate), "output_dim": int(encoder.output_dim),
            "hop_size_in_ms": float(encoder.hop_size_in_ms)}
