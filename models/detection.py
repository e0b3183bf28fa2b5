"""A model's own decision: the ``detection`` section of its config, and raw audio → events with it.

A LiB-TRAD model trained with calibration (``libtrad train … --false-alarms-per-hour``,
:mod:`libtrad.ray_jobs.lib_trad.calibration`) carries a ``detection`` section in ``config.json``
(so also in its ONNX export's metadata) read by :class:`DetectionSection`:

==============================  =====================================================================
``window_s``                    the block each stretch of audio is scored in, as one clip (rounded to
                                whole hops of the log-mel front end: :meth:`DetectionSection.block_samples`)
``normalisation``               ``{"method": "robust-z", "loc", "scale"}``: a raw score s becomes
                                ``(s − loc) / scale`` — the median and the IQR/1.349 of the calibration
                                data's scores, so one threshold reads as "standard deviations above
                                normal" for every model
``threshold``                   in normalised units: a frame strictly above it is active
``median_s``, ``min_duration_s``, ``merge_gap_s``
                                the post-processing of :mod:`libtrad.models.events`
``target_false_alarms_per_hour`` what the threshold was calibrated for
``calibration``                 the data it was calibrated on (dataset, config, split, clips, hours) and
                                the false alarms per hour it gives there
``measured``                    false alarms per hour and detection latency on the held-out test split
                                (with its hours), or null
==============================  =====================================================================

Why blocks: the log-mel front end floors each clip at 80 dB below its own loudest frame, so a frame's
score depends on the clip it is scored in. A stream cannot wait for the whole recording, so detection
(offline and streaming alike) cuts the audio into consecutive blocks of ``window_s`` and scores each as
one clip; calibration scores its data the same way. :class:`StreamDetector` is the one implementation:
offline detection pushes the whole recording at once, a stream pushes chunks as they arrive, and the
events are the same whatever the chunk sizes (a block is scored once it is complete, the last partial
block when the stream ends).

Scores over time: the attention auto-encoder gives one score per log-mel frame (a full block of ``n``
samples gives its ``n / hop`` frames; the last block all ``1 + n // hop`` of its frames, as a whole clip
scored at once); the CNN one score per block (frames one block long).

Channels: each channel is scored on its own; the normalised scores are fused frame by frame
(:data:`FUSIONS`): ``mean`` (default: the average of the channels — averaging correlated normal
channels never widens their distribution, so the false-alarm rate calibrated on single microphones
stays an upper estimate, while a venting heard by every microphone keeps its height), ``any`` (the
highest channel: active when any channel is; most sensitive, up to one channel's false-alarm rate per
channel) or ``majority`` (active when more than half of the channels are). Events name every channel
fused.

NumPy only: the torch backend is named by its registration and resolved when a model detects.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from libtrad.core.errors import LibtradError
from libtrad.core.resolve import resolve
from libtrad.models.events import Event, EventDetector, EventParams, FrameScores
from libtrad.models.waveform_scorer import AudioFacts, WaveformScorer

FUSIONS = ("mean", "any", "majority")
DEFAULT_FUSION = "mean"
DEFAULT_WINDOW_S = 1.0  # bounded latency: an event is known at most one block (+ compute) after it starts
TORCH_SCORER = "libtrad.models.onnx_graph:TorchWaveformScorer"
NO_SECTION = (
    "has no detection section in its config.json (no calibrated threshold): train it with "
    "--false-alarms-per-hour on held-out normal data (libtrad train ae|cnn)"
)


@dataclass(frozen=True)
class DetectionSection:
    """The ``detection`` section of a model's config (module docstring: each field)."""

    threshold: float
    loc: float
    scale: float
    window_s: float = DEFAULT_WINDOW_S
    median_s: float = 0.0
    min_duration_s: float = 0.0
    merge_gap_s: float = 0.0
    target_false_alarms_per_hour: float | None = None
    calibration: dict = field(default_factory=dict)
    measured: dict | None = None

    def __post_init__(self):
        if not (math.isfinite(self.scale) and self.scale > 0) or not math.isfinite(self.loc):
            raise ValueError(f"normalisation loc={self.loc!r} scale={self.scale!r}: need a finite loc and scale > 0")
        if not (math.isfinite(self.window_s) and self.window_s > 0):
            raise ValueError(f"window_s={self.window_s!r}: must be a positive number of seconds")
        self.params  # noqa: B018 - checks threshold and the post-processing

    @property
    def params(self) -> EventParams:
        return EventParams(self.threshold, self.median_s, self.min_duration_s, self.merge_gap_s)

    def block_samples(self, audio: AudioFacts) -> int:
        """Samples per block: ``window_s`` in whole hops (at least the model's shortest clip)."""
        hops = max(1, round(self.window_s * audio.sampling_rate / audio.hop_length))
        return max(hops * audio.hop_length, audio.min_samples)

    def normalise(self, scores: np.ndarray) -> np.ndarray:
        return (np.asarray(scores, dtype=np.float64) - self.loc) / self.scale

    def to_dict(self) -> dict:
        data = asdict(self)
        data["normalisation"] = {"method": "robust-z", "loc": data.pop("loc"), "scale": data.pop("scale")}
        return data

    @classmethod
    def from_dict(cls, data: dict) -> DetectionSection:
        try:
            norm = data["normalisation"]
            if norm.get("method") != "robust-z":
                raise ValueError(f"normalisation method {norm.get('method')!r}: this libtrad reads 'robust-z'")
            kwargs = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            return cls(loc=float(norm["loc"]), scale=float(norm["scale"]), **kwargs)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"detection section incomplete or malformed ({exc!r})") from None


def detection_section(config: dict, where) -> DetectionSection:
    """The section of a config dict; absent or malformed, one line naming ``where``."""
    data = config.get("detection")
    if not data:
        raise LibtradError(f"{where}: {NO_SECTION}")
    try:
        return DetectionSection.from_dict(data)
    except ValueError as exc:
        raise LibtradError(f"{where}: config.json detection: {exc}") from None


def frame_layout(scorer: WaveformScorer, section: DetectionSection) -> tuple[float, float]:
    """(hop_s, start_s) of the score stream: frames of the AE, blocks of the CNN."""
    audio = scorer.audio
    if scorer.model_type == "libtrad-attention-ae":
        hop = audio.hop_length / audio.sampling_rate
        return hop, -hop / 2  # frame t centred on t·hop
    return section.block_samples(audio) / audio.sampling_rate, 0.0


def score_block(scorer: WaveformScorer, block: np.ndarray, last: bool) -> np.ndarray:
    """Raw scores (channels, frames) of one block (channels, samples) scored as one clip per channel."""
    result = scorer.score(block)
    if result.frame_scores is None:  # the CNN: one score per block
        return result.scores[:, None]
    frames = np.asarray(result.frame_scores)
    keep = frames.shape[1] if last else block.shape[1] // scorer.audio.hop_length
    return frames[:, :keep]


def fuse(normalised: np.ndarray, fusion: str) -> np.ndarray:
    """(channels, frames) normalised scores → one score per frame (module docstring: the modes)."""
    if fusion == "mean":
        return normalised.mean(axis=0)
    if fusion == "any":
        return normalised.max(axis=0)
    if fusion == "majority":  # the (⌊C/2⌋+1)-th highest: above the threshold iff a strict majority is
        k = normalised.shape[0] // 2 + 1
        return np.sort(normalised, axis=0)[-k]
    raise LibtradError(f"fusion {fusion!r}: expected one of {', '.join(FUSIONS)}")


class StreamDetector:
    """Audio (channels, samples) in chunks → events, with bounded memory (one block and the event state).

    ``push(chunk)`` returns the events that have closed; ``flush()`` scores the last partial block
    (when it is long enough for the model; a shorter tail cannot be scored) and closes the rest.
    """

    def __init__(self, scorer: WaveformScorer, section: DetectionSection, channels=(), fusion: str = DEFAULT_FUSION):
        if fusion not in FUSIONS:
            raise LibtradError(f"fusion {fusion!r}: expected one of {', '.join(FUSIONS)}")
        self.scorer, self.section, self.fusion = scorer, section, fusion
        self.channels = tuple(str(c) for c in channels)
        self.block = section.block_samples(scorer.audio)
        hop_s, start_s = frame_layout(scorer, section)
        self.events = EventDetector(section.params, hop_s, start_s, self.channels)
        self.buffer = np.empty((max(1, len(self.channels)), 0), dtype=np.float32)
        self.samples = 0  # pushed so far, per channel

    def push(self, chunk) -> list[Event]:
        chunk = np.asarray(chunk, dtype=np.float32)
        chunk = chunk[None, :] if chunk.ndim == 1 else chunk
        if chunk.shape[0] != self.buffer.shape[0]:
            raise LibtradError(f"audio chunk with {chunk.shape[0]} channels; the stream has {self.buffer.shape[0]}")
        self.buffer = np.concatenate([self.buffer, chunk], axis=1)
        self.samples += chunk.shape[1]
        out: list[Event] = []
        while self.buffer.shape[1] >= self.block:
            out += self._score(self.buffer[:, : self.block], last=False)
            self.buffer = self.buffer[:, self.block :]
        return out

    def flush(self) -> list[Event]:
        out: list[Event] = []
        if self.buffer.shape[1] >= self.scorer.audio.min_samples and self.buffer.shape[1] > 0:
            out += self._score(self.buffer, last=True)
        self.buffer = self.buffer[:, :0]
        return out + self.events.flush()

    def _score(self, block: np.ndarray, last: bool) -> list[Event]:
        raw = score_block(self.scorer, block, last)
        return self.events.push(fuse(self.section.normalise(raw), self.fusion))


def detect_audio(
    scorer: WaveformScorer, section: DetectionSection, audio, channels=(), fusion: str = DEFAULT_FUSION
) -> list[Event]:
    """Offline detection: the whole recording (channels, samples) pushed at once through :class:`StreamDetector`."""
    audio = np.asarray(audio, dtype=np.float32)
    audio = audio[None, :] if audio.ndim == 1 else audio
    names = channels or tuple(str(i) for i in range(audio.shape[0]))
    detector = StreamDetector(scorer, section, names, fusion)
    return detector.push(audio) + detector.flush()


def block_frame_scores(scorer: WaveformScorer, section: DetectionSection, waveform: np.ndarray) -> FrameScores:
    """The raw (unnormalised) score stream of one mono recording, scored block by block as detection does
    (what calibration normalises and thresholds)."""
    waveform = np.asarray(waveform, dtype=np.float32)
    block, pieces = section.block_samples(scorer.audio), []
    full = len(waveform) // block
    for b in range(full):
        pieces.append(score_block(scorer, waveform[None, b * block : (b + 1) * block], last=False)[0])
    tail = waveform[full * block :]
    if len(tail) >= scorer.audio.min_samples and len(tail) > 0:
        pieces.append(score_block(scorer, tail[None, :], last=True)[0])
    hop_s, start_s = frame_layout(scorer, section)
    return FrameScores(np.concatenate(pieces) if pieces else np.empty(0), hop_s, start_s)


class DetectsEvents:
    """Mixin of the LiB-TRAD models: ``model.detect(audio, sampling_rate=16000)`` → events, with the
    ``detection`` section of the model's own config (module docstring)."""

    def detect(
        self, audio, sampling_rate: int | None = None, *, feature_extractor=None, fusion: str = DEFAULT_FUSION
    ) -> list[Event]:
        """Events (start, end, peak score, alarm time, channels) in ``audio``: (samples,) mono or
        (channels, samples); ``feature_extractor`` defaults to the one saved beside the model."""
        section = detection_section(self.config.to_dict(), self.name_or_path or type(self).__name__)
        if feature_extractor is None:
            from transformers import AutoFeatureExtractor

            if not self.name_or_path:
                raise LibtradError("detect: pass feature_extractor= (this model was not loaded from a folder)")
            feature_extractor = AutoFeatureExtractor.from_pretrained(self.name_or_path)
        scorer = resolve(TORCH_SCORER)(self, feature_extractor)
        if sampling_rate is not None and int(sampling_rate) != scorer.sampling_rate:
            raise LibtradError(f"sampling_rate={sampling_rate}: this model takes {scorer.sampling_rate} Hz audio")
        return detect_audio(scorer, section, audio, fusion=fusion)


__all__ = [
    "DEFAULT_FUSION",
    "DEFAULT_WINDOW_S",
    "FUSIONS",
    "NO_SECTION",
    "DetectionSection",
    "DetectsEvents",
    "StreamDetector",
    "block_frame_scores",
    "detect_audio",
    "detection_section",
    "frame_layout",
    "fuse",
    "score_block",
]
