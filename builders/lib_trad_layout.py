"""The LiB-TRAD raw layout: find, validate and group the source files into segments.

```
DATA_DIR/
  TR1/ TR2/ TR3/            one folder per thermal-runaway experiment
    normal/  abnormal/      segNNNN_chC.wav (mono, microphone C = 1..4) or segNNNN.wav (4 channels)
  normal_charging/
    NC1/ NC2/ ...           the normal-charging sets, same file names
  annotations.csv           optional: experiment,segment[,start_s,event_onset_s,event_offset_s]
  SYNTHETIC.json            written by `libtrad synth`: marks the data as a synthetic stand-in
```

Segment numbers are unique within an experiment (they count 10-s segments in recording order).
Names starting with "." are ignored; every other unexpected file is rejected with a reason.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from libtrad.builders.audio_io import AudioCheck, InvalidAudio, SourceAudio, validate_audio
from libtrad.errors import LibtradError

SAMPLE_RATE = 16_000
NUM_CHANNELS = 4
SEGMENT_SECONDS = 10.0
EXPERIMENTS = ("TR1", "TR2", "TR3")
CHARGING_DIR = "normal_charging"
LABELS = ("normal", "abnormal")
ANNOTATIONS = "annotations.csv"
SYNTHETIC_MARKER = "SYNTHETIC.json"
MONO_NAME = re.compile(r"^seg(?P<segment>\d+)_ch(?P<channel>\d+)\.wav$", re.IGNORECASE)
MULTI_NAME = re.compile(r"^seg(?P<segment>\d+)\.wav$", re.IGNORECASE)
ANNOTATION_FIELDS = ("experiment", "segment", "start_s", "event_onset_s", "event_offset_s")


@dataclass(frozen=True)
class ChannelRef:
    """Where one microphone's signal of a segment lives: a mono file, or a column of a 4-channel file."""

    channel: int
    source: SourceAudio
    column: int | None


@dataclass(frozen=True)
class Segment:
    """One 10-s recording segment of the 4-microphone array."""

    experiment: str
    label: str
    segment: int
    channels: tuple[ChannelRef, ...]
    start_s: float | None = None
    event_onset_s: float | None = None
    event_offset_s: float | None = None

    @property
    def key(self) -> str:
        return f"{self.experiment}/{self.segment:04d}"

    @property
    def multichannel_source(self) -> SourceAudio | None:
        """The single 4-channel source file, when the segment came as one."""
        first = self.channels[0]
        return first.source if first.column is not None else None


@dataclass(frozen=True)
class Rejection:
    """A source file (or annotation row) left out of the build, and why."""

    path: str
    reason: str


@dataclass
class LibTradScan:
    """Everything a build needs to know about a raw LiB-TRAD folder, computed once."""

    data_dir: Path
    segments: list[Segment]
    rejected: list[Rejection] = field(default_factory=list)
    synthetic: dict | None = None

    def relative(self, path: Path) -> str:
        return path.relative_to(self.data_dir).as_posix()

    def sources(self) -> list[SourceAudio]:
        seen: dict[Path, SourceAudio] = {}
        for seg in self.segments:
            for ref in seg.channels:
                seen.setdefault(ref.source.path, ref.source)
        return sorted(seen.values(), key=lambda s: s.path)


@dataclass(frozen=True)
class _Candidate:
    group: str
    label: str
    segment: int
    channel: int | None  # None: a 4-channel file
    path: Path


def group_folder(data_dir: Path, group: str) -> Path:
    """TR1 -> DATA_DIR/TR1; a charging set NC1 -> DATA_DIR/normal_charging/NC1."""
    return data_dir / group if group in EXPERIMENTS else data_dir / CHARGING_DIR / group


def charging_sets(data_dir: Path) -> list[str]:
    """Names of the normal-charging sets present (sub-folders of normal_charging/)."""
    root = Path(data_dir) / CHARGING_DIR
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_lib_trad(
    data_dir: str | Path,
    groups: tuple[str, ...],
    *,
    on_error: str = "raise",
    resample: bool = False,
    duration_tolerance_s: float = 0.1,
    num_workers: int = 2,
    progress: bool = True,
) -> LibTradScan:
    """Find, validate and group the files of ``groups`` (experiments and/or charging sets).

    ``on_error="raise"`` stops with a :class:`LibtradError` naming every rejected file;
    ``"skip"`` leaves them out and lists them in ``LibTradScan.rejected``.
    """
    if on_error not in ("raise", "skip"):
        raise LibtradError(f"--on-error must be 'raise' or 'skip', not {on_error!r}")
    data_dir = Path(data_dir).expanduser().resolve()
    if not data_dir.is_dir():
        raise LibtradError(f"{data_dir}: no such data folder")
    rejected: list[Rejection] = []
    candidates = _find_candidates(data_dir, groups, rejected)
    sources = _validate_all(data_dir, candidates, rejected, resample, duration_tolerance_s, num_workers, progress)
    segments = _assemble_segments(data_dir, candidates, sources, rejected)
    annotations = _read_annotations(data_dir, groups, {(c.group, c.segment) for c in candidates}, rejected)
    segments = [_annotate(seg, annotations.get((seg.experiment, seg.segment), {})) for seg in segments]
    if rejected and on_error == "raise":
        listing = "; ".join(f"{r.path}: {r.reason}" for r in rejected[:5])
        more = f" (and {len(rejected) - 5} more)" if len(rejected) > 5 else ""
        raise LibtradError(f"invalid input in {data_dir}: {listing}{more}. Fix the files or pass --on-error skip")
    marker = data_dir / SYNTHETIC_MARKER
    synthetic = json.loads(marker.read_text()) if marker.is_file() else None
    return LibTradScan(data_dir=data_dir, segments=segments, rejected=rejected, synthetic=synthetic)


def _find_candidates(data_dir: Path, groups: tuple[str, ...], rejected: list[Rejection]) -> list[_Candidate]:
    missing = [g for g in groups if not group_folder(data_dir, g).is_dir()]
    if missing:
        names = ", ".join(group_folder(data_dir, g).relative_to(data_dir).as_posix() + "/" for g in missing)
        raise LibtradError(f"{data_dir}: missing folder(s) {names} (see the raw layout in the README)")
    found: list[_Candidate] = []
    for group in groups:
        folder = group_folder(data_dir, group)
        label_dirs = [(label, folder / label) for label in LABELS] if group in EXPERIMENTS else [("normal", folder)]
        for label, label_dir in label_dirs:
            if not label_dir.is_dir():
                raise LibtradError(f"{label_dir}: missing folder (each experiment needs normal/ and abnormal/)")
            for path in sorted(label_dir.iterdir()):
                if path.name.startswith("."):
                    continue
                rel = path.relative_to(data_dir).as_posix()
                if path.is_dir():
                    rejected.append(Rejection(rel, "unexpected folder"))
                    continue
                candidate = _parse_name(group, label, path)
                if candidate is None:
                    rejected.append(Rejection(rel, "file name is not segNNNN_chC.wav (mono) or segNNNN.wav (4-channel)"))
                elif candidate.channel is not None and not 1 <= candidate.channel <= NUM_CHANNELS:
                    rejected.append(Rejection(rel, f"channel {candidate.channel} is outside 1..{NUM_CHANNELS}"))
                else:
                    found.append(candidate)
    return found


def _parse_name(group: str, label: str, path: Path) -> _Candidate | None:
    if m := MONO_NAME.match(path.name):
        return _Candidate(group, label, int(m["segment"]), int(m["channel"]), path)
    if m := MULTI_NAME.match(path.name):
        return _Candidate(group, label, int(m["segment"]), None, path)
    return None


def _validate_all(data_dir, candidates, rejected, resample, tolerance, num_workers, progress) -> dict[Path, SourceAudio]:
    def check(candidate: _Candidate) -> SourceAudio | Rejection:
        channels = 1 if candidate.channel is not None else NUM_CHANNELS
        spec = AudioCheck(SAMPLE_RATE, channels, SEGMENT_SECONDS, tolerance, resample)
        try:
            return validate_audio(candidate.path, spec)
        except InvalidAudio as exc:
            return Rejection(candidate.path.relative_to(data_dir).as_posix(), exc.reason)

    valid: dict[Path, SourceAudio] = {}
    with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:
        results = pool.map(check, candidates)
        for result in tqdm(results, total=len(candidates), desc="validating audio", unit="file", disable=not progress):
            if isinstance(result, Rejection):
                rejected.append(result)
            else:
                valid[result.path] = result
    return valid


def _assemble_segments(data_dir, candidates, sources, rejected) -> list[Segment]:
    by_segment: dict[tuple[str, int], list[_Candidate]] = defaultdict(list)
    for c in candidates:
        by_segment[(c.group, c.segment)].append(c)
    segments = []
    for (group, number), parts in sorted(by_segment.items()):
        valid = [p for p in parts if p.path in sources]
        problem = "another of its files was rejected" if len(valid) < len(parts) else _segment_problem(parts, sources)
        if problem is not None:
            rejected.extend(
                Rejection(p.path.relative_to(data_dir).as_posix(), f"segment {group}/{number:04d}: {problem}")
                for p in valid
            )
            continue
        if parts[0].channel is None:
            refs = tuple(ChannelRef(ch + 1, sources[parts[0].path], ch) for ch in range(NUM_CHANNELS))
        else:
            refs = tuple(ChannelRef(p.channel, sources[p.path], None) for p in sorted(parts, key=lambda p: p.channel))
        segments.append(Segment(experiment=group, label=parts[0].label, segment=number, channels=refs))
    return segments


def _segment_problem(parts: list[_Candidate], sources: dict[Path, SourceAudio]) -> str | None:
    """Why the files of one segment cannot form a 4-channel segment, or None."""
    if len({p.label for p in parts}) > 1:
        return "appears in both normal/ and abnormal/"
    if any(p.channel is None for p in parts):
        return None if len(parts) == 1 else "has both a 4-channel file and per-channel files"
    channels = sorted(p.channel for p in parts)
    if len(set(channels)) != len(channels):
        return "a channel appears twice (file names differ only in zero padding or case)"
    missing = sorted(set(range(1, NUM_CHANNELS + 1)) - set(channels))
    if missing:
        return f"missing channel file(s) for microphone {', '.join(map(str, missing))}"
    if len({math.ceil(sources[p.path].frames * SAMPLE_RATE / sources[p.path].sample_rate) for p in parts}) > 1:
        return "its channel files differ in length"
    return None


def _read_annotations(data_dir, groups, known, rejected) -> dict[tuple[str, int], dict[str, float | None]]:
    path = data_dir / ANNOTATIONS
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        unknown = [c for c in header if c not in ANNOTATION_FIELDS]
        if "experiment" not in header or "segment" not in header or unknown:
            raise LibtradError(
                f"{path}: header must be experiment,segment[,start_s,event_onset_s,event_offset_s]"
                + (f" (unknown column(s): {', '.join(unknown)})" if unknown else "")
            )
        rows: dict[tuple[str, int], dict[str, float | None]] = {}
        for line, row in enumerate(reader, start=2):
            where = f"{ANNOTATIONS} line {line}"
            try:
                key, values = _parse_annotation(row)
            except ValueError as exc:
                rejected.append(Rejection(where, str(exc)))
                continue
            if key[0] not in groups:
                continue  # annotations of experiments this build does not include
            if key not in known:
                rejected.append(Rejection(where, f"no files for segment {key[0]}/{key[1]:04d}"))
            elif key in rows:
                rejected.append(Rejection(where, f"segment {key[0]}/{key[1]:04d} is annotated twice"))
            else:
                rows[key] = values
    return rows


def _parse_annotation(row: dict[str, str]) -> tuple[tuple[str, int], dict[str, float | None]]:
    experiment = (row.get("experiment") or "").strip()
    try:
        segment = int((row.get("segment") or "").strip())
    except ValueError:
        raise ValueError(f"segment {row.get('segment')!r} is not an integer") from None
    values: dict[str, float | None] = {}
    for name in ANNOTATION_FIELDS[2:]:
        text = (row.get(name) or "").strip()
        try:
            values[name] = float(text) if text else None
        except ValueError:
            raise ValueError(f"{name} {text!r} is not a number") from None
        if values[name] is not None and not math.isfinite(values[name]):
            raise ValueError(f"{name} {text!r} is not finite")
    onset, offset = values["event_onset_s"], values["event_offset_s"]
    if (onset is None) != (offset is None):
        raise ValueError("event_onset_s and event_offset_s must be given together")
    if onset is not None and not 0 <= onset <= offset <= SEGMENT_SECONDS + 1e-6:
        raise ValueError(f"event {onset}..{offset} s is not within 0..{SEGMENT_SECONDS:g} s with onset <= offset")
    return (experiment, segment), values


def _annotate(segment: Segment, values: dict[str, float | None]) -> Segment:
    if not values:
        return segment
    return Segment(
        experiment=segment.experiment,
        label=segment.label,
        segment=segment.segment,
        channels=segment.channels,
        start_s=values.get("start_s"),
        event_onset_s=values.get("event_onset_s"),
        event_offset_s=values.get("event_offset_s"),
    )
