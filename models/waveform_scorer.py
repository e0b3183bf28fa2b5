"""One scoring call on raw audio for every backend of a LiB-TRAD model: ``scorer.score(audio)``.

The torch model (:class:`libtrad.models.onnx_graph.TorchWaveformScorer`) and its ONNX export
(:class:`libtrad.models.onnx_runtime.OnnxWaveformScorer`) both take mono waveforms at the model's
sampling rate and return a :class:`WaveformScores`, so a caller (``detect --backend torch|onnx``)
swaps one for the other without changing anything else. Each backend only runs one batch of
equal-length clips (``_run``); everything else — what audio is accepted, how clips of different
lengths are grouped, which outputs a model type has, where its frames lie in time — lives here once.

Frames: the log-mel front end pads ``n_fft // 2`` zeros on both sides (librosa's ``center=True``),
so a clip of ``n`` samples has ``1 + n // hop_length`` frames and frame ``t`` is centred at
``t · hop_length / sampling_rate`` seconds (:meth:`AudioFacts.frame_times`).

NumPy only: importing this module imports neither torch nor onnxruntime.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from libtrad.core.errors import LibtradError

# The outputs of each exportable model type's scoring graph, in order; ``scores`` (batch,) first,
# higher = more anomalous (the one scoring interface of libtrad's anomaly models).
OUTPUTS: dict[str, tuple[str, ...]] = {
    "libtrad-attention-ae": ("scores", "frame_scores"),  # (batch,), (batch, frames): Mahalanobis distances
    "libtrad-cnn": ("scores", "logits"),  # (batch,) P(abnormal) = σ(z), (batch, 2) = [0, z]
}
INPUT = "waveform"  # (batch, samples) float32 mono at the model's sampling rate


@dataclass(frozen=True)
class AudioFacts:
    """What a runtime must know about the audio a model takes and the frames it scores."""

    sampling_rate: int
    n_fft: int
    hop_length: int
    n_mels: int
    top_db: float | None
    min_samples: int  # the shortest clip the model scores (the CNN's pooling needs 8 frames)

    def frames(self, samples: int) -> int:
        """Log-mel frames (and AE frame scores) of a clip of ``samples`` samples (centred frames)."""
        return 1 + int(samples) // self.hop_length

    def frame_times(self, frames: int) -> np.ndarray:
        """Centre of each frame in seconds from the clip's start."""
        return np.arange(int(frames)) * (self.hop_length / self.sampling_rate)

    def to_dict(self) -> dict:
        return {**asdict(self), "center": True, "frames": "1 + samples // hop_length"}

    @classmethod
    def from_dict(cls, data: dict) -> AudioFacts:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


@dataclass
class WaveformScores:
    """Scores of a batch of clips, as NumPy float64.

    ``scores`` (clips,): one anomaly score per clip. ``frame_scores``: the auto-encoder's score per
    log-mel frame, (clips, frames) when every clip has the same length, else a list of (frames,)
    arrays; None for the CNN. ``logits``: the CNN's (clips, 2) ``[0, z]``; None for the auto-encoder.
    """

    scores: np.ndarray
    frame_scores: np.ndarray | list[np.ndarray] | None = None
    logits: np.ndarray | None = None


class WaveformScorer:
    """Base of every backend: ``score(audio)`` over ``_run(batch) -> {output name: array}``.

    Subclasses set ``model_type``, ``audio`` (:class:`AudioFacts`) and ``config`` (the model's
    ``config.json`` as a dict, including any section libtrad does not read itself).
    """

    model_type: str
    audio: AudioFacts
    config: dict

    @property
    def sampling_rate(self) -> int:
        return self.audio.sampling_rate

    @property
    def output_names(self) -> tuple[str, ...]:
        return OUTPUTS[self.model_type]

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """One (clips, samples) float32 batch of equal-length clips -> the graph's outputs."""
        raise NotImplementedError

    def score(self, audio, sampling_rate: int | None = None) -> WaveformScores:
        """Score one clip (samples,), a batch (clips, samples) or a list of clips of any lengths.

        Clips of the same length run as one batch; a list of different lengths runs one batch per
        length and returns ``frame_scores`` as a list. ``sampling_rate`` (when given) must be the
        model's: resample first.
        """
        if sampling_rate is not None and int(sampling_rate) != self.sampling_rate:
            raise LibtradError(
                f"sampling_rate={sampling_rate}: this model takes {self.sampling_rate} Hz audio (resample first)"
            )
        clips = _as_clips(audio)
        for i, clip in enumerate(clips):
            if clip.shape[0] < self.audio.min_samples:
                raise LibtradError(
                    f"audio clip {i}: {clip.shape[0]} samples; the model needs at least {self.audio.min_samples} "
                    f"({self.audio.min_samples / self.sampling_rate:.3f} s at {self.sampling_rate} Hz)"
                )
            if not np.isfinite(clip).all():
                raise LibtradError(f"audio clip {i}: holds NaN or infinite samples")
        groups: dict[int, list[int]] = {}
        for i, clip in enumerate(clips):
            groups.setdefault(clip.shape[0], []).append(i)
        rows: dict[str, list] = {name: [None] * len(clips) for name in self.output_names}
        for members in groups.values():
            out = self._run(np.stack([clips[i] for i in members]))
            for name in self.output_names:
                for row, i in enumerate(members):
                    rows[name][i] = np.asarray(out[name][row], dtype=np.float64)
        same_length = len(groups) == 1
        arrays = {
            name: np.stack(values) if same_length or name != "frame_scores" else values for name, values in rows.items()
        }
        return WaveformScores(
            scores=arrays["scores"], frame_scores=arrays.get("frame_scores"), logits=arrays.get("logits")
        )


def _as_clips(audio) -> list[np.ndarray]:
    """(samples,), (clips, samples) or a non-empty sequence of (samples,) -> float32 1-D arrays."""
    if isinstance(audio, np.ndarray) or hasattr(audio, "__array__") and not isinstance(audio, Sequence):
        array = np.asarray(audio)
        if array.ndim == 1:
            items = [array]
        elif array.ndim == 2:
            items = list(array)
        else:
            raise LibtradError(f"audio has shape {array.shape}: expected (samples,) or (clips, samples) mono audio")
    elif isinstance(audio, Sequence) and not isinstance(audio, (str, bytes)) and len(audio) > 0:
        items = [np.asarray(clip) for clip in audio]
    else:
        raise LibtradError("audio: expected a waveform array or a non-empty list of waveforms")
    clips = []
    for i, item in enumerate(items):
        if item.ndim != 1:
            raise LibtradError(f"audio clip {i} has shape {item.shape}: expected mono (samples,)")
        if item.dtype.kind not in "fiu":
            raise LibtradError(f"audio clip {i}: expected real numbers, found {item.dtype}")
        clips.append(np.ascontiguousarray(item, dtype=np.float32))
    return clips


__all__ = ["INPUT", "OUTPUTS", "AudioFacts", "WaveformScorer", "WaveformScores"]
