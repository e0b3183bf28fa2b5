"""MIMII's raw tree as Hitachi publishes it: every clip found, every other entry named.

The Zenodo record (<https://zenodo.org/records/3384388>, "public 1.0") holds twelve archives, one
per SNR and machine type: ``-6_dB_fan.zip`` … ``6_dB_valve.zip``; each holds
``<machine>/id_XX/{normal,abnormal}/NNNNNNNN.wav``. Both ways of unpacking them are read::

    DATA_DIR/
      -6_dB_fan/ 0_dB_fan/ … 6_dB_valve/     each archive unpacked into a folder of its own name
        fan/                                the archive's top folder: the machine type
          id_00/ id_02/ id_04/ id_06/       one folder per machine (the paper's "model ID")
            normal/ abnormal/               NNNNNNNN.wav (8 digits): 8 channels, 16 kHz, 16 bit, 10 s
      min6dB/ 0dB/ 6dB/                     or as the Hitachi baseline's dataset/7z.sh unpacks them:
        fan/ pump/ slider/ valve/           every archive of one SNR into one folder
          id_XX/{normal,abnormal}/NNNNNNNN.wav
      SYNTHETIC.json                        written by ``libtrad synth mimii``

Whichever form, a clip is named by its path as published (:attr:`Clip.file`, e.g.
``0_dB_fan/fan/id_00/normal/00000000.wav``: the archive's name and the member's path), so two
copies of MIMII unpacked either way give the same rows; the same clip found twice (both forms
side by side) is a rejection naming both. Every entry that fits no rule is a :class:`Rejection`
naming it (a folder for an SNR, machine type or ID the publisher does not have, a file not named
``NNNNNNNN.wav``, an archive left packed); documentation files are listed as not read. Names
are ASCII and case-sensitive, as published.

Facts and where they come from: the archive names, the SNRs, the four machine types, the IDs
00/02/04/06 of "public 1.0" and "eight-channel microphone array with 16 kHz sampling rate and 16
bit per sample" are the Zenodo record's; the tree inside an archive is the baseline's
(``baseline.py`` globs ``<snr>/<machine>/id_XX`` and reads ``normal/``, ``abnormal/``;
``7z.sh`` unpacks into ``min6dB/``, ``0dB/``, ``6dB/``). Checked on two real clips
(``0_dB_fan/fan/id_00/{normal,abnormal}/00000000.wav``): this tree and names, 8 channels,
16 kHz, PCM 16 bit, 160 000 frames (10 s), WAVE_FORMAT_EXTENSIBLE with a ``fact`` chunk and the
channel mask 0x63F (a 7.1 loudspeaker mask the recorder writes; it says nothing about where the
microphones are).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from libtrad.builders.audio_io import safe_text
from libtrad.builders.fault.common import DOCUMENTATION, BadName, children
from libtrad.builders.scan import SYNTHETIC_MARKER, Rejection, list_entries, rel_path
from libtrad.core.errors import LibtradError

SAMPLE_RATE = 16_000
NUM_CHANNELS = 8
CLIP_SECONDS = 10.0
SNRS = (-6, 0, 6)
MACHINES = ("fan", "pump", "slider", "valve")
MACHINE_IDS = (0, 2, 4, 6)  # "public 1.0"; IDs 01, 03, 05 were held back (DCASE 2020's evaluation machines)
LABELS = ("normal", "abnormal")
CHANNEL_NAMES = tuple(f"ch{i}" for i in range(1, NUM_CHANNELS + 1))  # LiB-TRAD's naming: microphone C = chC
SNR_CONFIGS = {-6: "min6dB", 0: "0dB", 6: "6dB"}  # the baseline's folder names; the export's configs

ARCHIVE_DIR = re.compile(r"(?P<snr>-?[0-9]+)_dB_(?P<machine>[A-Za-z]+)", re.ASCII)
ARCHIVE_FILE = re.compile(r"(?P<stem>-?[0-9]+_dB_[A-Za-z]+)\.(zip|7z)", re.ASCII)
SNR_DIR = re.compile(r"(?P<snr>min[0-9]+|[0-9]+)dB", re.ASCII)
ID_DIR = re.compile(r"id_(?P<id>[0-9]+)", re.ASCII)
CLIP_NAME = re.compile(r"[0-9]{8}\.wav", re.ASCII)
EXPECTED_TOP = (
    "-6_dB_fan/ … 6_dB_valve/ (the Zenodo archives, each unpacked into a folder of its name) or "
    "min6dB/ 0dB/ 6dB/ (the baseline's 7z.sh)"
)


def archive_name(snr_db: int, machine: str) -> str:
    """The Zenodo archive's name without ``.zip``: ``-6_dB_fan``."""
    return f"{snr_db}_dB_{machine}"


@dataclass(frozen=True)
class Clip:
    """One clip the walk found, with what its path says (its audio is not read yet)."""

    snr_db: int
    machine: str
    machine_id: int
    label: str
    name: str  # NNNNNNNN.wav
    path: Path
    rel: str  # below the data folder, as found (printable)

    @property
    def file(self) -> str:
        """The clip's path as published: the archive's name, then the member's path inside it."""
        return (
            f"{archive_name(self.snr_db, self.machine)}/{self.machine}/id_{self.machine_id:02d}/{self.label}/"
            f"{self.name}"
        )

    @property
    def group(self) -> tuple[int, str, int]:
        """What the MIMII protocol splits and scores separately: SNR × machine type × machine ID."""
        return self.snr_db, self.machine, self.machine_id


@dataclass
class Listing:
    """The walk's result: the clips and what it lists as not read (path, why)."""

    clips: list[Clip] = field(default_factory=list)
    not_read: list[tuple[str, str]] = field(default_factory=list)


def parse_snr_folder(name: str) -> int | None:
    """The SNR of a baseline-style folder (``min6dB`` → -6), None when ``name`` is not of that form;
    :class:`BadName` for an SNR MIMII does not have."""
    m = SNR_DIR.fullmatch(name)
    if m is None:
        return None
    snr = -int(m["snr"][3:]) if m["snr"].startswith("min") else int(m["snr"])
    if snr not in SNRS:
        raise BadName(f"{snr} dB is not a MIMII SNR (-6, 0, 6 dB: min6dB/, 0dB/, 6dB/)")
    return snr


def parse_archive_folder(name: str) -> tuple[int, str] | None:
    """(SNR, machine) of an archive's folder (``-6_dB_fan``), None when ``name`` is not of that form;
    :class:`BadName` for an SNR or machine type MIMII does not have."""
    m = ARCHIVE_DIR.fullmatch(name)
    if m is None:
        return None
    snr, machine = int(m["snr"]), m["machine"]
    if snr not in SNRS:
        raise BadName(f"{snr} dB is not a MIMII SNR (the archives are -6_dB_*, 0_dB_*, 6_dB_*)")
    if machine not in MACHINES:
        raise BadName(f"{machine!r} is not a MIMII machine type ({', '.join(MACHINES)})")
    return snr, machine


def top_entry(name: str, is_dir: bool) -> tuple[int, str | None] | str | None:
    """What a top-level entry is: (SNR, machine) of an archive folder, (SNR, None) of a baseline SNR
    folder, ``"skip"`` for the synthetic marker, ``"doc"`` for documentation, None for anything else;
    :class:`BadName` for a near miss (an unknown SNR or machine type, an archive left packed)."""
    if is_dir:
        found = parse_archive_folder(name)
        if found is not None:
            return found
        snr = parse_snr_folder(name)
        return None if snr is None else (snr, None)
    if name == SYNTHETIC_MARKER:
        return "skip"
    if m := ARCHIVE_FILE.fullmatch(name):
        raise BadName(f"an archive, still packed: unpack it into a folder of its name ({m['stem']}/)")
    return "doc" if DOCUMENTATION.match(name) else None


def snrs_present(data_dir: Path) -> list[int]:
    """The SNRs that have a folder at the top of ``data_dir`` (in either form), in :data:`SNRS` order."""
    found = set()
    try:
        names = os.listdir(data_dir)
    except OSError:
        return []
    for name in names:
        try:
            entry = top_entry(name, (data_dir / name).is_dir())
        except BadName:
            continue
        if isinstance(entry, tuple):
            found.add(entry[0])
    return [snr for snr in SNRS if snr in found]


def find_clips(data_dir: Path, snrs: tuple[int, ...], rejected: list[Rejection]) -> Listing:
    """Walk the folders of the SNRs in ``snrs``; every entry becomes a clip, a not-read note or a rejection."""
    listing = Listing()
    roots = _top(data_dir, rejected, listing)
    seen: dict[str, str] = {}
    for path, (snr, machine) in roots:
        if snr not in snrs:
            continue
        if machine is not None:  # an archive's folder: its one machine folder inside
            expected = f"{machine}/ only (the {archive_name(snr, machine)} archive's top folder)"
            machines = children(
                data_dir,
                path,
                rejected,
                expected=expected,
                dirs=lambda name, m=machine, a=path.name: _archive_machine(name, m, a),
            )
        else:
            machines = children(
                data_dir,
                path,
                rejected,
                expected=f"the machine folders {', '.join(MACHINES)}",
                dirs=lambda name: name if name in MACHINES else None,
            )
        for machine_dir, name in machines:
            _walk_machine(data_dir, snr, name, machine_dir, listing, seen, rejected)
    return listing


def _top(data_dir: Path, rejected: list[Rejection], listing: Listing) -> list[tuple[Path, tuple[int, str | None]]]:
    """The SNR and archive folders at the top; one error when there is none (not a MIMII folder at all)."""
    entries = list_entries(data_dir, data_dir, rejected)
    roots, others, near = [], [], []
    for path, is_dir in entries:
        try:
            entry = top_entry(path.name, is_dir)
        except BadName as exc:
            near.append(Rejection(rel_path(data_dir, path) + ("/" if is_dir else ""), exc.reason))
            continue
        if isinstance(entry, tuple):
            roots.append((path, entry))
        elif entry == "doc":
            listing.not_read.append((rel_path(data_dir, path), "documentation"))
        elif entry is None:
            others.append((path, is_dir))
    if not roots:
        inner = sorted(p.name for p, d in others if d and (p.name in MACHINES or ID_DIR.fullmatch(p.name)))
        hint = (
            f" ({', '.join(inner)} look like folders inside an archive: pass the folder that holds the unpacked "
            "archives, e.g. the parent of 0_dB_fan/)"
            if inner
            else f" ({near[0].path}: {near[0].reason})"
            if near
            else ""
        )
        raise LibtradError(f"{safe_text(str(data_dir))}: no MIMII layout found{hint}; expected {EXPECTED_TOP}")
    rejected.extend(near)
    for path, is_dir in others:
        what = "folder" if is_dir else "file"
        rejected.append(
            Rejection(
                rel_path(data_dir, path) + ("/" if is_dir else ""),
                f"unexpected {what} at the top of the data folder (expected {EXPECTED_TOP})",
            )
        )
    return roots


def _archive_machine(name: str, machine: str, archive: str) -> str | None:
    if name == machine:
        return name
    if name in MACHINES:
        raise BadName(f"a {name} folder inside {archive}/, which is the {machine} archive ({machine}/ only)")
    return None


def _machine_id(name: str, machine: str) -> int | None:
    m = ID_DIR.fullmatch(name)
    if m is None:
        return None
    if len(m["id"]) != 2 or int(m["id"]) not in MACHINE_IDS:
        raise BadName(f"{name} is not a published MIMII {machine} ID (id_00, id_02, id_04, id_06)")
    return int(m["id"])


def _clip_name(name: str) -> str | None:
    if CLIP_NAME.fullmatch(name):
        return name
    if name.lower().endswith(".wav"):
        raise BadName("file name is not NNNNNNNN.wav (8 digits 0-9, as published)")
    return None


def _walk_machine(
    data_dir: Path,
    snr: int,
    machine: str,
    folder: Path,
    listing: Listing,
    seen: dict[str, str],
    rejected: list[Rejection],
) -> None:
    ids = children(
        data_dir,
        folder,
        rejected,
        expected="id_00/, id_02/, id_04/, id_06/",
        dirs=lambda name: _machine_id(name, machine),
    )
    for id_dir, machine_id in ids:
        labels = children(
            data_dir,
            id_dir,
            rejected,
            expected="normal/ and abnormal/",
            dirs=lambda name: name if name in LABELS else None,
        )
        for label_dir, label in labels:
            clips = children(data_dir, label_dir, rejected, expected="NNNNNNNN.wav clips", files=_clip_name)
            for path, name in clips:
                clip = Clip(snr, machine, machine_id, label, name, path, rel_path(data_dir, path))
                if clip.file in seen:
                    rejected.append(
                        Rejection(clip.rel, f"the same clip ({clip.file}) as {seen[clip.file]}; keep one copy")
                    )
                    continue
                seen[clip.file] = clip.rel
                listing.clips.append(clip)
