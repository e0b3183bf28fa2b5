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
Names starting with "." are ignored; every other unexpected file or folder is reported by name:
at the top level always, inside experiment folders and normal_charging/ when the build reads
them. Per-file problems are :class:`Rejection` records; a broken annotations.csv or
SYNTHETIC.json (not UTF-8, not CSV/JSON) stops the scan with a :class:`LibtradError`.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from libtrad.builders.audio_io import AudioCheck, SourceAudio, is_utf8_name, safe_text, validate_audio
from libtrad.builders.scan import (
    SYNTHETIC_MARKER,
    Rejection,
    check_on_error,
    enforce_on_error,
    list_entries,
    read_synthetic_marker,
    read_text_file,
    rel_path,
    validate_all,
)
from libtrad.core.errors import LibtradError
from libtrad.core.options import check_number

SAMPLE_RATE = 16_000
NUM_CHANNELS = 4
SEGMENT_SECONDS = 10.0
EXPERIMENTS = ("TR1", "TR2", "TR3")
CHARGING_DIR = "normal_charging"
LABELS = ("normal", "abnormal")
ANNOTATIONS = "annotations.csv"
# Only ASCII: ``\d`` would take Arabic-Indic digits, IGNORECASE alone would let "ſ" stand for "s".
MONO_NAME = re.compile(r"^seg(?P<segment>[0-9]+)_ch(?P<channel>[0-9]+)\.wav$", re.IGNORECASE | re.ASCII)
MULTI_NAME = re.compile(r"^seg(?P<segment>[0-9]+)\.wav$", re.IGNORECASE | re.ASCII)
_ANY_DIGITS_NAME = re.compile(r"^[sS][eE][gG]\d+(_[cC][hH]\d+)?\.[wW][aA][vV]$")  # \d: any Unicode digit
ANNOTATION_FIELDS = ("experiment", "segment", "start_s", "event_onset_s", "event_offset_s")
TOP_LEVEL = (*EXPERIMENTS, CHARGING_DIR, ANNOTATIONS, SYNTHETIC_MARKER)
INT32_MAX = 2**31 - 1  # segment numbers are stored as int32


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
    # Names that are not UTF-8 or not printable cannot become an experiment column; the scan reports them.
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and is_utf8_name(p.name) and p.name.isprintable()
    )


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
    check_on_error(on_error)
    check_number("duration_tolerance_s", duration_tolerance_s, low=0)
    data_dir = Path(data_dir).expanduser().resolve()
    if not data_dir.is_dir():
        raise LibtradError(f"{safe_text(str(data_dir))}: no such data folder")
    # The two whole-folder files first: a broken one stops the scan before any audio is read.
    synthetic = read_synthetic_marker(data_dir)
    annotation_rows = _load_annotations(data_dir)
    rejected: list[Rejection] = []
    candidates = _find_candidates(data_dir, groups, rejected)
    sources = _validate_all(data_dir, candidates, rejected, resample, duration_tolerance_s, num_workers, progress)
    segments = _assemble_segments(data_dir, candidates, sources, rejected)
    annotations = _read_annotations(
        data_dir, annotation_rows, groups, {(c.group, c.segment) for c in candidates}, rejected
    )
    segments = [_annotate(seg, annotations.get((seg.experiment, seg.segment), {})) for seg in segments]
    enforce_on_error(data_dir, rejected, on_error)
    return LibTradScan(data_dir=data_dir, segments=segments, rejected=rejected, synthetic=synthetic)


def _check_top_level(data_dir: Path, rejected: list[Rejection]) -> None:
    """Every visible top-level entry must be one of TOP_LEVEL, of the right kind."""
    for path, is_dir in list_entries(data_dir, data_dir, rejected):
        name = path.name
        if name in TOP_LEVEL:
            want_dir = name not in (ANNOTATIONS, SYNTHETIC_MARKER)
            if want_dir and not is_dir:
                rejected.append(Rejection(name, "expected a folder, found a file"))
            elif not want_dir and is_dir:
                rejected.append(Rejection(name, "expected a file, found a folder"))
            continue
        what = "folder" if is_dir else "file"
        guess = difflib.get_close_matches(name.lower(), [t.lower() for t in TOP_LEVEL], n=1, cutoff=0.75)
        if re.fullmatch(r"tr[0-9]+", name, re.IGNORECASE | re.ASCII) and name.upper() not in EXPERIMENTS:
            hint = "not an experiment of LiB-TRAD, which has only TR1, TR2 and TR3"
        elif guess:
            wanted = next(t for t in TOP_LEVEL if t.lower() == guess[0])
            hint = f"did you mean {wanted}?" + (" Names are case-sensitive" if guess[0] == name.lower() else "")
        else:
            hint = f"allowed: TR1/, TR2/, TR3/, {CHARGING_DIR}/, {ANNOTATIONS}, {SYNTHETIC_MARKER}"
        rejected.append(
            Rejection(rel_path(data_dir, path), f"unexpected {what} at the top of the data folder ({hint})")
        )


def _find_candidates(data_dir: Path, groups: tuple[str, ...], rejected: list[Rejection]) -> list[_Candidate]:
    missing = [g for g in groups if not group_folder(data_dir, g).is_dir()]
    if missing:
        names = ", ".join(safe_text(group_folder(data_dir, g).relative_to(data_dir).as_posix()) + "/" for g in missing)
        raise LibtradError(
            f"{safe_text(str(data_dir))}: missing folder(s) {names} "
            "(see the raw layout in libtrad's documentation, docs/lib-trad.md)"
        )
    _check_top_level(data_dir, rejected)
    if any(g not in EXPERIMENTS for g in groups):
        for path, is_dir in list_entries(data_dir, data_dir / CHARGING_DIR, rejected):
            if not is_dir:
                reason = f"unexpected file in {CHARGING_DIR}/ (only the charging-set folders belong here)"
                rejected.append(Rejection(rel_path(data_dir, path), reason))
    found: list[_Candidate] = []
    for group in groups:
        folder = group_folder(data_dir, group)
        if group in EXPERIMENTS:
            for path, is_dir in list_entries(data_dir, folder, rejected):
                if path.name not in LABELS or not is_dir:
                    what = "folder" if is_dir else "file"
                    reason = f"unexpected {what} in {group}/ (only normal/ and abnormal/ belong here)"
                    rejected.append(Rejection(rel_path(data_dir, path), reason))
        label_dirs = [(label, folder / label) for label in LABELS] if group in EXPERIMENTS else [("normal", folder)]
        for label, label_dir in label_dirs:
            if not label_dir.is_dir():
                raise LibtradError(
                    f"{safe_text(str(label_dir))}: missing folder (each experiment needs normal/ and abnormal/)"
                )
            for path, is_dir in list_entries(data_dir, label_dir, rejected):
                rel = rel_path(data_dir, path)
                if is_dir:
                    rejected.append(Rejection(rel, "unexpected folder"))
                    continue
                candidate = _parse_name(group, label, path)
                if isinstance(candidate, str):
                    rejected.append(Rejection(rel, candidate))
                elif candidate.channel is not None and not 1 <= candidate.channel <= NUM_CHANNELS:
                    rejected.append(Rejection(rel, f"channel {candidate.channel} is outside 1..{NUM_CHANNELS}"))
                else:
                    found.append(candidate)
    return found


def _parse_name(group: str, label: str, path: Path) -> _Candidate | str:
    """The candidate a file name describes, or why the name is not accepted."""
    m = MONO_NAME.match(path.name) or MULTI_NAME.match(path.name)
    if m is None:
        if _ANY_DIGITS_NAME.match(path.name):
            return "file name has non-ASCII digits (only 0-9 count in segNNNN_chC.wav / segNNNN.wav)"
        return "file name is not segNNNN_chC.wav (mono) or segNNNN.wav (4-channel)"
    numbers = {k: v for k, v in m.groupdict().items() if v is not None}
    for key, digits in numbers.items():
        if len(digits.lstrip("0")) > 10 or int(digits) > INT32_MAX:
            what = "segment" if key == "segment" else "channel"
            return f"{what} number {digits} is too large (at most {INT32_MAX})"
    channel = int(numbers["channel"]) if "channel" in numbers else None
    return _Candidate(group, label, int(numbers["segment"]), channel, path)


def _validate_all(
    data_dir, candidates, rejected, resample, tolerance, num_workers, progress
) -> dict[Path, SourceAudio]:
    def check(candidate: _Candidate) -> SourceAudio:
        channels = 1 if candidate.channel is not None else NUM_CHANNELS
        spec = AudioCheck(SAMPLE_RATE, channels, SEGMENT_SECONDS, tolerance, resample)
        return validate_audio(candidate.path, spec, root=data_dir)

    valid = validate_all(
        data_dir,
        candidates,
        check,
        lambda c: c.path,
        rejected,
        desc="validating audio",
        num_workers=num_workers,
        progress=progress,
    )
    return {source.path: source for source in valid}


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
                Rejection(rel_path(data_dir, p.path), f"segment {group}/{number:04d}: {problem}") for p in valid
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
    parts = sorted(parts, key=lambda p: p.channel)
    first = sources[parts[0].path]
    # Mixed sample formats would be written as one (and the finer ones downgraded): refuse them.
    for p in parts[1:]:
        if sources[p.path].subtype != first.subtype:
            return (
                f"its channel files differ in sample format: {parts[0].path.name} is {first.subtype}, "
                f"{p.path.name} is {sources[p.path].subtype}"
            )
    same_rate = len({sources[p.path].sample_rate for p in parts}) == 1
    unit = "samples" if same_rate else f"samples at {SAMPLE_RATE} Hz"

    def length(p: _Candidate) -> int:
        src = sources[p.path]
        return src.frames if same_rate else math.ceil(src.frames * SAMPLE_RATE / src.sample_rate)

    for p in parts[1:]:
        if length(p) != length(parts[0]):
            return (
                f"its channel files differ in length: {parts[0].path.name} has {length(parts[0])} {unit}, "
                f"{p.path.name} has {length(p)}"
            )
    return None


def _load_annotations(data_dir: Path) -> list[tuple[int, dict[str, str] | str]] | None:
    """(line, row or why the row is malformed) of annotations.csv, or None when there is none;
    a LibtradError when the file itself is unreadable (not UTF-8, not CSV, bad header)."""
    path = data_dir / ANNOTATIONS
    text = read_text_file(path)
    if text is None:
        return None
    shown = safe_text(str(path))
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, dict[str, str] | str]] = []
    try:
        header = next(reader, [])
        unknown = [c for c in header if c not in ANNOTATION_FIELDS]
        twice = sorted({c for c in header if header.count(c) > 1})
        if "experiment" not in header or "segment" not in header or unknown or twice:
            raise LibtradError(
                f"{shown}: header must be experiment,segment[,start_s,event_onset_s,event_offset_s]"
                + (f" (unknown column(s): {safe_text(', '.join(unknown))})" if unknown else "")
                + (f" (column(s) given twice: {', '.join(twice)})" if twice else "")
            )
        line = reader.line_num
        for fields in reader:
            start, line = line + 1, reader.line_num
            if not fields:
                continue  # blank line
            if len(fields) > len(header):
                rows.append((start, f"has {len(fields)} fields, the header has {len(header)}"))
                continue
            rows.append((start, dict(zip(header, fields))))
    except csv.Error as exc:
        raise LibtradError(f"{shown}: not valid CSV (line {reader.line_num}: {safe_text(str(exc))})") from None
    return rows


def _read_annotations(data_dir, rows, groups, known, rejected) -> dict[tuple[str, int], dict[str, float | None]]:
    if rows is None:
        return {}
    experiments = set(EXPERIMENTS) | set(charging_sets(data_dir))
    annotated: dict[tuple[str, int], dict[str, float | None]] = {}
    for line, row in rows:
        where = f"{ANNOTATIONS} line {line}"
        try:
            if isinstance(row, str):
                raise ValueError(row)
            key, values = _parse_annotation(row)
        except ValueError as exc:
            rejected.append(Rejection(where, safe_text(str(exc))))
            continue
        if key[0] not in experiments:
            rejected.append(
                Rejection(
                    where, f"unknown experiment {key[0]!r} (expected TR1, TR2, TR3 or a folder of {CHARGING_DIR}/)"
                )
            )
            continue
        if key[0] not in groups:
            continue  # annotations of experiments this build does not include
        if key not in known:
            rejected.append(Rejection(where, f"no files for segment {key[0]}/{key[1]:04d}"))
        elif key in annotated:
            rejected.append(Rejection(where, f"segment {key[0]}/{key[1]:04d} is annotated twice"))
        else:
            annotated[key] = values
    return annotated


def _parse_annotation(row: dict[str, str]) -> tuple[tuple[str, int], dict[str, float | None]]:
    experiment = (row.get("experiment") or "").strip()
    text = (row.get("segment") or "").strip()
    if not re.fullmatch(r"[0-9]+", text, re.ASCII):
        raise ValueError(f"segment {row.get('segment')!r} is not a segment number (digits 0-9 only)")
    if len(text.lstrip("0")) > 10 or int(text) > INT32_MAX:
        raise ValueError(f"segment {text} is too large (at most {INT32_MAX})")
    segment = int(text)
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
