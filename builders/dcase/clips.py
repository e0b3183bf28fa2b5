"""The scan of one DCASE Task 2 year's folder: its clips found (:mod:`.layout`), evaluation test clips
labelled from the ground truth (:mod:`.eval_lists`), every clip validated from its header and chunk
table (16 kHz WAV with the year's channel count — one, or DCASE 2026's two — and no fixed duration:
DCASE clip lengths differ between years and machine types).

Kept apart from :mod:`.components` (the export component: rows, card, downloads) because this is
the part that reads the user's folder and decides what each file is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from libtrad.builders.audio_io import (
    AudioCheck,
    AudioHeader,
    DataFolder,
    InvalidAudio,
    probe_audio,
    read_source,
    safe_text,
)
from libtrad.builders.dcase.eval_lists import LABELS, GroundTruth, load_file, load_packaged, packaged_available
from libtrad.builders.dcase.layout import SETS, Candidate, Found, expected_layout, find_clips
from libtrad.builders.dcase.years import SAMPLE_RATE, YearSpec
from libtrad.builders.scan import (
    MAX_TEXT_BYTES,
    Rejection,
    SourceChecksums,
    enforce_on_error,
    read_synthetic_marker,
    rel_path,
    validate_all,
)
from libtrad.core.errors import LibtradError

SPLITS = ("train", "test")


@dataclass(frozen=True)
class Clip:
    """A validated clip with its resolved label (-1: unlabelled, kept by ``allow_unlabelled``)."""

    candidate: Candidate
    source: AudioHeader
    label: int
    domain: str | None
    attributes: str | None
    rel: str  # the path below the data folder, as the manifest and messages name it


@dataclass
class DcaseState:
    """The component's parse of one year's folder (``ScanResult.state``)."""

    spec: YearSpec
    splits: dict[str, list[Clip]]
    truth: GroundTruth | None
    truth_note: str
    checksums: SourceChecksums
    folder: DataFolder  # the data folder, resolved once for this build


def scan_dcase(data_dir: Path, spec: YearSpec, options: dict, *, on_error: str, progress: bool):
    """(state, manifest sources, rejections, synthetic marker) of one year's folder."""
    synthetic = read_synthetic_marker(data_dir)
    rejected: list[Rejection] = []
    found = find_clips(data_dir, spec, rejected)
    # A list given with eval_list is read (and checked) even when no evaluation test clip needs it.
    needs_truth = options["eval_list"] is not None or any(
        c.set == "eval" and c.split == "test" for c in found.candidates
    )
    truth, note = ground_truth(data_dir, spec.year, options["eval_list"], found) if needs_truth else (None, "")
    resolved = []
    for candidate in found.candidates:
        labelled = _resolve(candidate, truth, options["allow_unlabelled"], spec.year)
        if isinstance(labelled, str):
            rejected.append(Rejection(rel_path(data_dir, candidate.path), labelled))
        else:
            resolved.append(labelled)
    check, folder = AudioCheck(SAMPLE_RATE, spec.channels), DataFolder(data_dir)

    def validate(item: tuple) -> Clip:
        candidate = item[0]
        return Clip(
            candidate, probe_audio(candidate.path, check, root=folder), *item[1:], rel_path(data_dir, candidate.path)
        )

    # One thread: a header probe is a few short system calls between bits of Python, and two threads
    # handing the GIL back and forth took 2.5x as long as one on cached files (3456 clips: 0.46 s vs
    # 0.18 s). On a cold disk two threads were faster (1.05 s vs 1.45 s), but there the export's
    # reading of every byte dominates the build anyway.
    clips = validate_all(
        data_dir,
        resolved,
        validate,
        lambda item: item[0].path,
        rejected,
        desc=f"validating DCASE {spec.year}",
        num_workers=1,
        progress=progress,
    )
    metadata = _metadata_sources(data_dir, found, rejected)
    enforce_on_error(data_dir, rejected, on_error)
    splits = {split: sorted((c for c in clips if c.candidate.split == split), key=_order) for split in SPLITS}
    for split, rows in splits.items():
        if not rows:
            raise LibtradError(
                f"{safe_text(str(data_dir))}: no valid DCASE {spec.year} {split} clips; expected "
                f"{expected_layout(spec.year)}"
            )
    # Checksums are taken by the export, which reads every clip once (clip_bytes).
    sources = [
        {
            "path": c.rel,
            "sha256": None,
            "size": c.source.size,
            "sample_rate": c.source.sample_rate,
            "channels": c.source.channels,
            "frames": c.source.frames,
        }
        for c in sorted(clips, key=lambda c: c.source.path)
    ]
    sources += metadata
    if truth is not None:
        sources.append(
            {
                "path": truth.path,
                "sha256": truth.sha256,
                "size": truth.size,
                "role": "evaluation ground truth",
                "origin": truth.origin,
            }
        )
    state = DcaseState(spec, splits, truth, note, SourceChecksums(), folder)
    return state, sources, rejected, synthetic


def ground_truth(data_dir: Path, year: int, option: Path | None, found: Found) -> tuple[GroundTruth | None, str]:
    """The list that labels evaluation test clips (option > data folder > package) and a note for the card;
    None where none is given and libtrad ships none for ``year`` (DCASE 2026 until the organisers publish it)."""
    if option is not None:
        truth = load_file(option, year, "eval_list option", str(option))
        shadowed = (
            f"; the data folder's {rel_path(data_dir, found.eval_lists[0])} was not used" if found.eval_lists else ""
        )
        return truth, f"the list given with `--eval-list` ({Path(option).name}){shadowed}"
    if found.eval_lists:
        shown = rel_path(data_dir, found.eval_lists[0])
        return load_file(found.eval_lists[0], year, "data folder", shown), f"the data folder's `{shown}`"
    if not packaged_available(year):
        return None, (
            f"none: libtrad ships no DCASE {year} evaluation ground truth (not published when this version was "
            "written); evaluation test clips are unlabelled (label -1)"
        )
    truth = load_packaged(year)
    return truth, (
        f"the list shipped with libtrad (`{truth.path}`: the DCASE Task 2 evaluation ground truth as "
        "converted by the SIREN toolkit)"
    )


def _resolve(candidate: Candidate, truth: GroundTruth | None, allow_unlabelled: bool, year: int) -> tuple | str:
    """(candidate, label, domain, attributes), or why an evaluation test clip cannot be labelled."""
    clip = candidate.clip
    if clip.label is not None:
        return candidate, LABELS.index(clip.label), clip.domain, clip.attributes
    found = truth.get(candidate.machine, candidate.path.name) if truth is not None else None
    if found is not None:
        return candidate, found.label, found.domain, found.attributes
    if allow_unlabelled:
        return candidate, -1, clip.domain, None
    if truth is None:
        return (
            f"no ground truth for {candidate.machine}/{candidate.path.name}: libtrad ships none for DCASE {year} "
            "(pass --eval-list with the published list, or --allow-unlabelled to keep it with label -1)"
        )
    where = truth.path
    return (
        f"no ground truth for {candidate.machine}/{candidate.path.name} in {where} (pass --eval-list with the "
        "matching list, or --allow-unlabelled to keep it with label -1)"
    )


def _metadata_sources(data_dir: Path, found: Found, rejected: list[Rejection]) -> list[dict]:
    """Checksums of the accepted attributes_NN.csv files (kept for provenance; the names carry the same facts)."""
    out = []
    for path in found.metadata:
        try:
            data = read_source(path, root=data_dir, max_bytes=MAX_TEXT_BYTES)
        except InvalidAudio as exc:
            rejected.append(Rejection(rel_path(data_dir, path), exc.reason))
            continue
        out.append(
            {
                "path": rel_path(data_dir, path),
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "role": "attributes metadata (not read: the file names carry the same attributes)",
            }
        )
    return out


def _order(clip: Clip) -> tuple:
    c = clip.candidate
    return SETS.index(c.set), c.machine, c.clip.section, c.path.name, str(c.path)
