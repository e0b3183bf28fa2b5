"""What the four fault layouts share: found and checked files, strict folder walking, row columns.

A layout walks its publisher's tree with :func:`children`, which names every entry that fits no
rule of the folder it sits in (a :class:`Rejection`), so nothing is dropped silently. Folders the
publisher ships that SIREN's task does not use (CWRU's 48 kHz data, IIEE's uncut recordings) and
documentation files are not rejected but listed as *not read*, with the reason, on the card.

Validation reads each file once (checksum + full parse) without keeping its samples; the export
reads it again when its row is written, and refuses a file whose checksum changed in between.
Two rules then look at the valid files together (:func:`check_set`, the same for every corpus):
a corpus whose publisher cuts every file to one length (:meth:`Layout.expected_frames`) refuses
any other length, and no two files may hold the same bytes (one recording sorted into two class
folders would count twice, and under two labels). Both give rejections naming the file(s), so
``--on-error raise`` stops in one line and ``--on-error skip`` leaves them out and records them.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np

from libtrad.builders.audio_io import AudioCheck, InvalidAudio, read_source, safe_text, validate_audio
from libtrad.builders.scan import SYNTHETIC_MARKER, Rejection, list_entries, rel_path, same_bytes
from libtrad.core.errors import LibtradError

# Documentation an archive may carry next to the data: listed as not read, never rejected.
DOCUMENTATION = re.compile(r"^(readme|licen[cs]e|citation)([._ -].*)?$|^.*\.(txt|md|pdf|html?)$", re.IGNORECASE)
SPLIT = "train"  # one split holds every file: the protocols are leave-one-out / k-fold over all of them


class BadName(Exception):
    """A file or folder name that is close to a rule but breaks it; ``reason`` says how."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Found:
    """A file whose path fits the layout: its config, class and the columns its path gives."""

    path: Path
    rel: str
    config: str
    label: str
    meta: Mapping[str, object]
    hint: object = None  # what the path tells the reader only (CWRU: the record number of the .mat keys)


@dataclass(frozen=True)
class Checked:
    """A found file that was read completely and passed every check (no samples kept)."""

    found: Found
    sha256: str
    size: int
    sample_rate: int
    channels: tuple[str, ...]
    frames: int
    meta: Mapping[str, object] = field(default_factory=dict)  # columns learned from the content or the set

    def columns(self) -> dict:
        return {**self.found.meta, **self.meta}

    def manifest_entry(self) -> dict:
        return {
            "path": self.found.rel,
            "sha256": self.sha256,
            "size": self.size,
            "sample_rate": self.sample_rate,
            "channels": list(self.channels),
            "frames": self.frames,
        }


@dataclass
class Listing:
    """What a layout's walk found: the files it accepts and what it lists as not read (path, why)."""

    found: list[Found] = field(default_factory=list)
    not_read: list[tuple[str, str]] = field(default_factory=list)


def children(
    data_dir: Path,
    folder: Path,
    rejected: list[Rejection],
    *,
    expected: str,
    dirs: Callable[[str], object | None] | None = None,
    files: Callable[[str], object | None] | None = None,
) -> list[tuple[Path, object]]:
    """(path, value) of the entries of ``folder`` that ``dirs`` (sub-folders) or ``files`` map to a value.

    Every other entry is rejected by name: a kind with no rule or a rule returning None gives
    "unexpected file/folder in X/ (expected ...)", a :class:`BadName` its own reason.
    """
    out = []
    for path, is_dir in list_entries(data_dir, folder, rejected):
        rel = rel_path(data_dir, path) + ("/" if is_dir else "")
        accept = dirs if is_dir else files
        try:
            value = accept(path.name) if accept is not None else None
        except BadName as exc:
            rejected.append(Rejection(rel, exc.reason))
            continue
        if value is None:
            where = rel_path(data_dir, folder) + "/" if folder != data_dir else "the top of the data folder"
            rejected.append(
                Rejection(rel, f"unexpected {'folder' if is_dir else 'file'} in {where} (expected {expected})")
            )
        else:
            out.append((path, value))
    return out


def one_of(names) -> Callable[[str], str | None]:
    """A ``children`` rule accepting exactly these names."""
    return lambda name: name if name in names else None


def top_level(
    data_dir: Path,
    rejected: list[Rejection],
    listing: Listing,
    *,
    folders: Mapping[str, object],
    not_read: Mapping[str, str],
    expected: str,
    dataset: str,
) -> list[tuple[Path, object]]:
    """The known top-level folders (name -> value); the marker, docs and not-read folders aside.

    Refuses the whole folder (one line) when none of ``folders`` is there: it is then not this
    dataset's root at all, and a rejection per entry would only hide that.
    """
    entries = []
    for path, is_dir in list_entries(data_dir, data_dir, rejected):
        name = path.name
        if is_dir and name in not_read:
            listing.not_read.append((name + "/", not_read[name]))
        elif not is_dir and (name == SYNTHETIC_MARKER or DOCUMENTATION.match(name)):
            if name != SYNTHETIC_MARKER:
                listing.not_read.append((name, "documentation"))
        else:
            entries.append((path, is_dir))
    if not any(is_dir and path.name in folders for path, is_dir in entries):
        raise LibtradError(
            f"{safe_text(str(data_dir))}: no {dataset} layout here (expected {expected}); pass the "
            f"folder that holds them as --data-dir"
        )
    found = []
    for path, is_dir in entries:
        if is_dir and path.name in folders:
            found.append((path, folders[path.name]))
        else:
            what = "folder" if is_dir else "file"
            rejected.append(
                Rejection(
                    rel_path(data_dir, path) + ("/" if is_dir else ""),
                    f"unexpected {what} at the top of the data folder (expected {expected})",
                )
            )
    return found


def check_set(layout: Layout, checked: list[Checked], rejected: list[Rejection], *, synthetic: bool) -> list[Checked]:
    """The valid files that pass the rules over the whole set; the others become rejections.

    A file of another length than the layout's (:meth:`Layout.expected_frames`) is named with its
    length and the expected one. Files with the same bytes (SHA-256, taken while validating) are
    all rejected (:func:`~libtrad.builders.scan.same_bytes`, the rule every builder shares).
    """
    unit = layout.length_unit
    kept = []
    for c in checked:
        expected = layout.expected_frames(c.found, synthetic)
        if expected is not None and c.frames != expected[0]:
            frames, why = expected
            rejected.append(
                Rejection(
                    c.found.rel,
                    f"{c.frames:,} {unit} ({c.frames / c.sample_rate:.3g} s), expected {frames:,} {unit} ({why})",
                )
            )
        else:
            kept.append(c)
    return same_bytes(
        kept, rejected, sha256=lambda c: c.sha256, rel=lambda c: c.found.rel, label=lambda c: c.found.label
    )


def reread(data_dir: Path, checked: Checked) -> bytes:
    """The bytes of a validated file, refused if they changed since validation."""
    data = read_source(checked.found.path, root=data_dir)
    if hashlib.sha256(data).hexdigest() != checked.sha256:
        raise LibtradError(f"{checked.found.rel}: changed since it was validated (SHA-256 differs); build again")
    return data


class Layout:
    """One dataset's raw layout: walk, check one file, build one row. Subclasses fill in the hooks."""

    length_unit: str = "samples"  # what ``frames`` counts, in messages ("rows" for a CSV)

    dataset: str = ""  # as printed in messages, e.g. "CWRU"
    configs: Mapping[str, tuple[str, ...]] = {}  # config -> class names (ClassLabel order)
    columns: Mapping[str, datasets.features.features.FeatureType] = {}  # metadata columns, in order
    check_text: str = ""  # what validation checks, for the card
    figure_kind: str = "spectrogram"  # or "spectrum" (see figure.py)
    manifest_info: Mapping[str, object] = {}  # protocol facts for manifest.json (IICA's fold recipe)

    def find(self, data_dir: Path, configs: list[str], rejected: list[Rejection]) -> Listing:
        raise NotImplementedError

    def present_configs(self, data_dir: Path) -> list[str]:
        """The configs whose top-level folders exist (what a build without ``--configs`` makes)."""
        return list(self.configs)

    def check(self, data_dir: Path, found: Found) -> Checked:
        raise NotImplementedError

    def expected_frames(self, found: Found, synthetic: bool) -> tuple[int, str] | None:
        """(length, where it comes from) every file like ``found`` has, or None where the publisher's files
        vary (CWRU's runs, IICA's recordings). ``synthetic``: the folder is a ``libtrad synth`` stand-in
        (its ``SYNTHETIC.json``), whose files may be shorter than the real ones, by a fixed length too."""
        return None

    def finish(self, checked: list[Checked]) -> list[Checked]:
        """Columns that depend on the whole set of valid files (IICA's folds)."""
        return checked

    def payload_features(self) -> dict:
        raise NotImplementedError

    def payload(self, data_dir: Path, checked: Checked) -> dict:
        raise NotImplementedError

    def preview(self, data_dir: Path, checked: Checked) -> tuple[np.ndarray, int, str]:
        """(1-D signal, sample rate, channel name) of a row, for the card's figure."""
        raise NotImplementedError

    def features(self, config: str) -> datasets.Features:
        return datasets.Features(
            {
                **self.payload_features(),
                "label": datasets.ClassLabel(names=list(self.configs[config])),
                **self.columns,
                "file": datasets.Value("string"),
                "sha256": datasets.Value("string"),
            }
        )

    def example(self, data_dir: Path, checked: Checked) -> dict:
        names = self.configs[checked.found.config]
        columns = checked.columns()
        return {
            **self.payload(data_dir, checked),
            "label": names.index(checked.found.label),
            **{name: columns.get(name) for name in self.columns},
            "file": checked.found.rel,
            "sha256": checked.sha256,
        }


class ArrayLayout(Layout):
    """Numeric sources (.mat, .csv): the row holds ``signals`` (channels × samples, float32)."""

    figure_channel = 0  # which channel the card's figure shows
    figure_kind = "spectrum"

    def parse(self, data: bytes, found: Found) -> tuple[np.ndarray, tuple[str, ...], int, dict]:
        """(channels × samples float32, channel names, sample rate, columns from the content), or InvalidAudio."""
        raise NotImplementedError

    def payload_features(self) -> dict:
        return {
            "signals": datasets.List(datasets.List(datasets.Value("float32"))),
            "channels": datasets.List(datasets.Value("string")),
            "sampling_rate": datasets.Value("int32"),
        }

    def check(self, data_dir: Path, found: Found) -> Checked:
        data = read_source(found.path, root=data_dir)
        signals, channels, rate, meta = self.parse(data, found)
        return Checked(found, hashlib.sha256(data).hexdigest(), len(data), rate, channels, signals.shape[1], meta)

    def payload(self, data_dir: Path, checked: Checked) -> dict:
        signals, channels, rate, _ = self.parse(reread(data_dir, checked), checked.found)
        return {"signals": signals, "channels": list(channels), "sampling_rate": rate}

    def preview(self, data_dir, checked):
        signals, channels, rate, _ = self.parse(reread(data_dir, checked), checked.found)
        channel = min(self.figure_channel, len(channels) - 1)
        return signals[channel], rate, channels[channel]


def finite_signals(path: Path, signals: np.ndarray, what: Callable[[int, int], str]) -> np.ndarray:
    """``signals`` (channels × samples) if every sample is finite, else InvalidAudio naming the first bad one."""
    bad = ~np.isfinite(signals)
    if bad.any():
        channel, sample = (int(i[0]) for i in np.nonzero(bad))
        raise InvalidAudio(path, f"{int(bad.sum())} non-finite value(s) (NaN/inf), the first {what(channel, sample)}")
    return signals


class AudioLayout(Layout):
    """WAV sources: the row embeds the file's own bytes as ``audio`` (validated, never re-encoded)."""

    sample_rate: int = 0

    def payload_features(self) -> dict:
        return {"audio": datasets.Audio(sampling_rate=self.sample_rate)}

    def check(self, data_dir: Path, found: Found) -> Checked:
        source = validate_audio(found.path, AudioCheck(self.sample_rate, 1), root=data_dir)
        return Checked(found, source.sha256, source.size, source.sample_rate, ("mono",), source.frames)

    def payload(self, data_dir, checked):
        return {"audio": {"bytes": reread(data_dir, checked), "path": checked.found.rel}}

    def preview(self, data_dir, checked):
        import soundfile as sf

        samples, rate = sf.read(io.BytesIO(reread(data_dir, checked)), dtype="float32", always_2d=True)
        return samples[:, 0], rate, "microphone"
