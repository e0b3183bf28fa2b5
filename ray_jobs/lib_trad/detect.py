"""``libtrad detect``'s work: a calibrated model's events in audio files, a dataset export or a live stream.

Every source goes through one :class:`~libtrad.models.detection.StreamDetector` per recording (the model's
``detection`` section: blocks, normalisation, threshold, post-processing; channel fusion), so offline files
and ``--stream`` give the same events on the same audio. Backends (:func:`load_backend`): ``torch`` (a model
folder or Hub id, every file checked by :func:`~libtrad.ray_jobs.lib_trad.loading.load_lib_trad_model`) or
``onnx`` (a ``libtrad export onnx`` file, or a folder holding ``model.onnx``: ONNX Runtime, the section read
from the export's metadata).

Output (:class:`EventWriter`): one record per event, written and flushed as soon as it is known — JSON lines
(``{"file", "start", "end", "peak_score", "channels", "alarm"}``; seconds from the recording's start, the
peak of the normalised fused score, the channels fused, the earliest time a live detector raises it) or CSV
with the same columns (channels joined by ``+``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from libtrad.core.errors import LibtradError, exception_reason
from libtrad.models.detection import DetectionSection, StreamDetector, detection_section
from libtrad.models.events import Event
from libtrad.ray_jobs.lib_trad import pcm_input
from libtrad.ray_jobs.lib_trad.data import load_clips

BACKENDS = ("torch", "onnx")
OUTPUT_FORMATS = ("jsonl", "csv")
COLUMNS = ("file", "start", "end", "peak_score", "channels", "alarm")


def load_backend(model: str, backend: str, *, no_verify: bool = False):
    """(scorer, detection section) of ``--model`` on ``backend``; a model without a section is one line."""
    if backend == "onnx":
        from libtrad.models.onnx_runtime import OnnxWaveformScorer

        scorer = OnnxWaveformScorer(model)
    elif backend == "torch":
        from libtrad.models.onnx_graph import TorchWaveformScorer
        from libtrad.ray_jobs.lib_trad.loading import load_lib_trad_model

        scorer = TorchWaveformScorer(*load_lib_trad_model(model, no_verify=no_verify))
    else:
        raise LibtradError(f"--backend {backend}: expected one of {', '.join(BACKENDS)}")
    return scorer, detection_section(scorer.config, f"--model {model}")


class EventWriter:
    """Events as JSON lines or CSV on ``out``, flushed one by one; counts them."""

    def __init__(self, out, output_format: str = "jsonl"):
        if output_format not in OUTPUT_FORMATS:
            raise LibtradError(f"--format {output_format}: expected one of {', '.join(OUTPUT_FORMATS)}")
        self.out, self.format, self.count = out, output_format, 0
        self._csv = csv.writer(out, lineterminator="\n") if output_format == "csv" else None
        if self._csv is not None:
            self._csv.writerow(COLUMNS)
            out.flush()

    def write(self, file: str, events: list[Event]) -> None:
        for event in events:
            record = {
                "file": file,
                "start": round(event.start_s, 6),
                "end": round(event.end_s, 6),
                "peak_score": round(event.peak_score, 6),
                "channels": list(event.channels),
                "alarm": round(event.alarm_s, 6),
            }
            if self._csv is not None:
                self._csv.writerow([*list(record.values())[:4], "+".join(record["channels"]), record["alarm"]])
            else:
                self.out.write(json.dumps(record) + "\n")
            self.out.flush()
            self.count += 1


def read_audio_file(path: Path, sampling_rate: int) -> np.ndarray:
    """(channels, samples) float32 of a sound file at the model's rate; anything else is one line."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise LibtradError(f"{path}: not a readable sound file ({exception_reason(exc)})") from None
    if rate != sampling_rate:
        raise LibtradError(f"{path}: {rate} Hz; the model takes {sampling_rate} Hz audio (resample it first)")
    if data.shape[0] == 0:
        raise LibtradError(f"{path}: holds no samples")
    return np.ascontiguousarray(data.T)


def detect_one(scorer, section: DetectionSection, audio: np.ndarray, fusion: str, channels=()) -> list[Event]:
    names = tuple(channels) or tuple(str(i) for i in range(audio.shape[0]))
    detector = StreamDetector(scorer, section, names, fusion)
    return detector.push(audio) + detector.flush()


def detect_files(scorer, section, paths, writer: EventWriter, *, fusion: str, progress: bool = True) -> None:
    """Every file in turn (all are checked to exist first: a typo fails before any work)."""
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.is_file():
            raise LibtradError(f"{path}: no such file")
    for path in tqdm(paths, desc="detect", unit="file", disable=not progress or len(paths) < 2):
        audio = read_audio_file(path, scorer.sampling_rate)
        writer.write(str(path), detect_one(scorer, section, audio, fusion))


def detect_dataset(
    scorer, section, dataset: str, config: str, split: str, writer: EventWriter, *, cache_dir=None, progress=True
) -> None:
    """Every row of a LiB-TRAD export's split (one microphone each: its ``channel`` names the event's channel);
    the file field is ``CONFIG/SPLIT/ROW`` (with ``segment``/``channel`` where the export has them)."""
    if scorer.sampling_rate != 16_000:
        raise LibtradError(f"--model: takes {scorer.sampling_rate} Hz audio; LiB-TRAD exports are 16 kHz")
    clips = load_clips(dataset, config, split, cache_dir=cache_dir, progress=progress)
    for i in tqdm(range(len(clips)), desc="detect", unit="clip", disable=not progress):
        channel = clips.columns.get("channel", [None] * len(clips))[i]
        segment = clips.columns.get("segment", [None] * len(clips))[i]
        name = f"{config}/{split}/{i}" + (f" (segment {segment}, mic {channel})" if segment is not None else "")
        channels = (str(channel),) if channel is not None else ("0",)
        writer.write(name, detect_one(scorer, section, clips.waveforms[i][None, :], "mean", channels))


def detect_stream(
    scorer, section, stream, writer: EventWriter, *, stream_format: str, sample_rate, channels, fusion: str
) -> None:
    """Audio from ``stream`` (a WAV header or raw PCM) as it arrives; each event printed as it closes."""
    if stream_format == "wav":
        decoder = pcm_input.read_wav_header(stream)
    else:
        if sample_rate is None or channels is None:
            raise LibtradError(f"--stream-format {stream_format}: give --sample-rate and --channels (raw PCM)")
        decoder = pcm_input.PcmDecoder(stream_format, int(channels), int(sample_rate))
    if decoder.sampling_rate != scorer.sampling_rate:
        raise LibtradError(
            f"stdin: {decoder.sampling_rate} Hz audio; the model takes {scorer.sampling_rate} Hz (resample first)"
        )
    detector = StreamDetector(scorer, section, tuple(str(i) for i in range(decoder.channels)), fusion)
    for chunk in pcm_input.chunks(stream, decoder):
        writer.write("-", detector.push(chunk))
    writer.write("-", detector.flush())
    if decoder.leftover:
        raise LibtradError(f"stdin: the stream ends inside a sample frame ({decoder.leftover} stray bytes)")


__all__ = [
    "BACKENDS",
    "COLUMNS",
    "OUTPUT_FORMATS",
    "EventWriter",
    "detect_dataset",
    "detect_files",
    "detect_one",
    "detect_stream",
    "load_backend",
    "read_audio_file",
]
