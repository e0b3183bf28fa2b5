"""One DCASE Task 2 year's raw folder: its file names and folder layout (the per-year facts — machine
types, sections, channels — are :mod:`.years`).

``--data-dir`` is one year's root, in the layout the SIREN toolkit documents or as the
publishers' archives extract (``dev_data/``, ``eval_data/``, an extra ``raw/`` level)::

    DATA_DIR/
      development/ | dev_data/ [raw/]      <machine>/train/, <machine>/test/
                                           (2021 also <machine>/source_test/, target_test/)
      evaluation/  | eval_data/ [raw/]     <machine>/test/ (and <machine>/train/: the eval training data)
        eval_data_list_YYYY_converted.csv  optional: the evaluation ground truth
      additional_train/ [raw/]             <machine>/train/: the evaluation set's training data
      SYNTHETIC.json                       written by `libtrad synth siren --component dcaseYYYY`

The names each year publishes (``XX`` section, or the machine ID in 2020; ``N`` digits)::

    2020       train/      normal_id_XX_NNNNNNNN.wav
               test/       {normal|anomaly}_id_XX_NNNNNNNN.wav (dev), id_XX_NNNNNNNN.wav (eval)
    2021       train/      section_XX_{source|target}_train_normal_NNNN[_<attributes>].wav
               source_test/, target_test/ (or test/)
                           section_XX_{source|target}_test_{normal|anomaly}_NNNN.wav (dev),
                           section_XX_{source|target}_test_NNNN.wav (eval)
    2022-2026  train/      section_XX_{source|target}_train_normal_NNNN_<attributes>.wav
               test/       section_XX_{source|target}_test_{normal|anomaly}_NNNN_<attributes>.wav (dev),
                           section_XX_NNNN.wav (eval)

DCASE 2026 (two-channel clips: :mod:`.years`) is named as 2022–2025 are, a choice — the organisers'
baseline reads it with its unchanged 2023–2025 loader, and no 2026 file list or ground truth was
published when this was written; its README still shows 2025's names.

Where these facts come from: every evaluation test name and ground-truth reference name of all six
years is checked against these patterns on the published ground-truth lists
(``tests/builders/test_dcase.py``); one real 2020 development clip (``normal_id_00_00000000.wav``)
is built, embedded and evaluated in ``tests/ray_jobs/evaluation/test_row_identity.py``. The rest is
from the publishers' documentation only: the task baselines' READMEs (2020: train/ and test/ reuse
names, ``normal_id_01_00000000.wav`` … in both; 2021: train names end in ``_<attribute>`` —
``strength_1_ambient``, ``0_g_25_mm_2000_mV_none``, ``A1Spd6Mic1`` as real clips are named — and test
names carry none; 2022+: every development name ends in ``_<attribute>``).

A row is identified by its path in the published tree, (set, machine, split, file): in 2020 a train
and a test clip of one machine share file names and are different recordings, so the file name alone
is not a key. Every visible entry that matches none of the patterns is a :class:`Rejection` naming
it; nothing is skipped silently. All patterns are ASCII-only (``[0-9]``, never ``\\d``) and
case-sensitive, as published.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from libtrad.builders.audio_io import safe_text
from libtrad.builders.dcase.years import SPLIT_TEST_DIRS, YearSpec
from libtrad.builders.scan import SYNTHETIC_MARKER, Rejection, list_entries, rel_path
from libtrad.core.errors import LibtradError

SETS = ("dev", "eval")
SET_NAMES = {"dev": "development", "eval": "evaluation"}
DEV_DIRS = ("development", "dev_data")
EVAL_DIRS = ("evaluation", "eval_data")
ADDITIONAL_DIR = "additional_train"
RAW_DIR = "raw"
EVAL_LIST_NAME = "eval_data_list_{year}_converted.csv"
# A folder's list: SIREN's converted name, or the organisers' own (their baseline's eval_data_list_YYYY.csv).
EVAL_LIST_RE = re.compile(r"eval_data_list_(?P<year>[0-9]{4})(?:_converted)?\.csv", re.ASCII)
ATTRIBUTES_CSV_RE = re.compile(r"attributes_[0-9]{2}\.csv", re.ASCII)

# File names (``fullmatch``). 2020 numbers have 8 digits, later years 4.
NAME_2020 = re.compile(r"(?P<label>normal|anomaly)_id_(?P<section>[0-9]{2})_(?P<number>[0-9]{8})\.wav", re.ASCII)
NAME_2020_EVAL = re.compile(r"id_(?P<section>[0-9]{2})_(?P<number>[0-9]{8})\.wav", re.ASCII)
NAME = re.compile(
    r"section_(?P<section>[0-9]{2})_(?P<domain>source|target)_(?P<split>train|test)_(?P<label>normal|anomaly)"
    r"_(?P<number>[0-9]{4})(?:_(?P<attributes>[A-Za-z0-9][A-Za-z0-9._-]*))?\.wav",
    re.ASCII,
)
NAME_2021_EVAL = re.compile(
    r"section_(?P<section>[0-9]{2})_(?P<domain>source|target)_test_(?P<number>[0-9]{4})\.wav", re.ASCII
)
NAME_EVAL = re.compile(r"section_(?P<section>[0-9]{2})_(?P<number>[0-9]{4})\.wav", re.ASCII)
# 2025's ground-truth lists name the reference clip by section, domain and number only.
NAME_REFERENCE_SHORT = re.compile(
    r"section_(?P<section>[0-9]{2})_(?P<domain>source|target)_(?P<number>[0-9]{4})\.wav", re.ASCII
)
# The organisers' own 2024 list names some references without the split: section_00_source_normal_0035_<attributes>.
NAME_REFERENCE_NO_SPLIT = re.compile(
    r"section_(?P<section>[0-9]{2})_(?P<domain>source|target)_(?P<label>normal|anomaly)"
    r"_(?P<number>[0-9]{4})(?:_(?P<attributes>[A-Za-z0-9][A-Za-z0-9._-]*))?\.wav",
    re.ASCII,
)
# Attribute strings: ``key_value`` pairs (keys start and end with a letter: vel, f-n, v1pat) ...
_ATTRIBUTE_KEY = re.compile(r"[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z])?", re.ASCII)
# ... or fused ``keyVALUE`` tokens (2024: spd1000_BckgA, weight150_BckgC).
_FUSED_ATTRIBUTE = re.compile(r"(?P<key>[A-Za-z][A-Za-z-]*?)(?P<value>[0-9][0-9.]*|[A-Z][0-9]*)", re.ASCII)
NO_ATTRIBUTE = "noAttribute"


@dataclass(frozen=True)
class ClipName:
    """What a DCASE file name says. ``label`` None: an evaluation test name (ground truth elsewhere)."""

    section: int
    domain: str | None
    label: str | None
    attributes: str | None = None
    split: str | None = None  # as named (2021+ labelled names carry it)


@dataclass(frozen=True)
class Candidate:
    """One clip found in the folder, before its audio is validated."""

    set: str
    machine: str
    split: str
    path: Path
    clip: ClipName

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.set, self.machine, self.split, self.path.name


@dataclass
class Found:
    """The folder walk's result: clips, accepted metadata files and the ground-truth lists present."""

    candidates: list[Candidate] = field(default_factory=list)
    metadata: list[Path] = field(default_factory=list)  # attributes_NN.csv: same facts as the names; not read
    eval_lists: list[Path] = field(default_factory=list)


def parse_name(year: int, name: str) -> ClipName | None:
    """The clip a file name describes under ``year``'s naming (labelled or evaluation form), else None."""
    if year == 2020:
        if m := NAME_2020.fullmatch(name):
            return ClipName(int(m["section"]), None, m["label"])
        if m := NAME_2020_EVAL.fullmatch(name):
            return ClipName(int(m["section"]), None, None)
        return None
    if m := NAME.fullmatch(name):
        return ClipName(int(m["section"]), m["domain"], m["label"], m["attributes"], m["split"])
    evaluation = NAME_2021_EVAL if year == 2021 else NAME_EVAL
    if m := evaluation.fullmatch(name):
        return ClipName(int(m["section"]), m.groupdict().get("domain"), None, None, "test" if year == 2021 else None)
    return None


def parse_reference(year: int, name: str) -> ClipName | None:
    """A ground-truth list's reference name: the labelled form, 2025's ``section_XX_<domain>_NNNN.wav``, or
    the split-less labelled form of the organisers' 2024 list (``section_00_source_normal_0035_<attributes>.wav``)."""
    clip = parse_name(year, name)
    if clip is not None and clip.label is not None:
        return clip
    if year != 2020 and (m := NAME_REFERENCE_SHORT.fullmatch(name)):
        return ClipName(int(m["section"]), m["domain"], None, None, "test")
    if year >= 2022 and (m := NAME_REFERENCE_NO_SPLIT.fullmatch(name)):
        return ClipName(int(m["section"]), m["domain"], m["label"], m["attributes"], "test")
    return None


def parse_eval_test_name(year: int, name: str) -> ClipName | None:
    """An evaluation test clip's published (unlabelled) name, else None."""
    clip = parse_name(year, name)
    return clip if clip is not None and clip.label is None else None


def parse_attributes(raw: str | None) -> list[dict[str, str]] | None:
    """``attributes`` as ``[{"key", "value"}]``; ``[]`` for ``noAttribute``; None when absent or not parseable.

    Two published forms are understood: ``key_value`` pairs (``vel_21``, ``mdl_B_spd_2``,
    ``car_A1_spd_28V_mic_1_noise_6``) and fused tokens (``spd1000_BckgA`` -> spd=1000, Bckg=A).
    Anything else keeps only the raw string (``attributes``), which always holds everything.
    """
    if raw is None:
        return None
    if raw == NO_ATTRIBUTE:
        return []
    tokens = raw.split("_")
    if any(not t for t in tokens):
        return None
    if len(tokens) % 2 == 0 and all(_ATTRIBUTE_KEY.fullmatch(k) for k in tokens[0::2]):
        return [{"key": k, "value": v} for k, v in zip(tokens[0::2], tokens[1::2])]
    fused = [_FUSED_ATTRIBUTE.fullmatch(t) for t in tokens]
    if all(fused):
        return [{"key": m["key"], "value": m["value"]} for m in fused]
    return None


def expected_name(year: int, set_: str, split: str) -> str:
    """The naming pattern of ``year``'s ``set_``/``split`` clips, for error messages."""
    if year == 2020:
        if split == "train":
            return "normal_id_XX_NNNNNNNN.wav"
        return "id_XX_NNNNNNNN.wav" if set_ == "eval" else "{normal|anomaly}_id_XX_NNNNNNNN.wav"
    attributes = "_<attributes>" if year >= 2022 else "[_<attributes>]" if year == 2021 and split == "train" else ""
    if split == "train":
        return f"section_XX_{{source|target}}_train_normal_NNNN{attributes}.wav"
    if set_ == "eval":
        return "section_XX_{source|target}_test_NNNN.wav" if year == 2021 else "section_XX_NNNN.wav"
    return f"section_XX_{{source|target}}_test_{{normal|anomaly}}_NNNN{attributes}.wav"


def check_clip(spec: YearSpec, set_: str, machine: str, folder: str, name: str) -> ClipName | str:
    """The clip of file ``name`` in ``<set>/<machine>/<folder>/``, or why it does not belong there."""
    split = "train" if folder == "train" else "test"
    expected = expected_name(spec.year, set_, split)
    clip = parse_name(spec.year, name)
    if clip is None:
        return f"file name is not {expected} (DCASE {spec.year} {SET_NAMES[set_]} {split} naming)"
    evaluation_test = set_ == "eval" and split == "test"
    if clip.label is None and not evaluation_test:
        return f"an unlabelled (evaluation test) name in {folder}/; expected {expected}"
    if clip.label is not None and evaluation_test:
        return (
            f"a labelled name in the evaluation test set; expected the published name {expected} "
            "(labels come from the ground-truth list)"
        )
    if clip.split is not None and clip.split != split:
        return f"named as a {clip.split} clip but lies in {folder}/"
    if split == "train" and clip.label == "anomaly":
        return "an anomalous clip in train/ (DCASE training data is normal only)"
    if folder in SPLIT_TEST_DIRS and clip.domain is not None and folder != f"{clip.domain}_test":
        return f"a {clip.domain}-domain clip in {folder}/"
    if clip.label is not None and spec.attributes and clip.attributes is None:
        return f"no _<attributes> part; expected {expected}"
    if clip.label is not None and clip.attributes is not None and not spec.attributes_allowed(split):
        which = f"{split} names" if spec.year == 2021 else "names"
        return f"DCASE {spec.year} {which} carry no attributes; expected {expected}"
    allowed = spec.sections(set_, machine)
    if clip.section not in allowed:
        what = f"ID of {machine}" if spec.year == 2020 else "section"
        shown = ", ".join(f"{s:02d}" for s in allowed)
        return f"{clip.section:02d} is not a DCASE {spec.year} {SET_NAMES[set_]} {what} ({shown})"
    return ClipName(clip.section, clip.domain, clip.label, clip.attributes, split)


def expected_layout(year: int) -> str:
    return (
        f"development/<machine>/{{train,test}}/ (or dev_data/[raw/]<machine>/), "
        f"evaluation/<machine>/{{train,test}}/ "
        f"(or eval_data/[raw/]<machine>/) with evaluation/{EVAL_LIST_NAME.format(year=year)}, "
        f"and/or additional_train/<machine>/train/"
    )


def find_clips(data_dir: Path, spec: YearSpec, rejected: list[Rejection]) -> Found:
    """Walk one year's root; every entry becomes a candidate, accepted metadata, or a rejection."""
    roots = _set_roots(data_dir, spec, rejected)
    found = Found()
    seen: dict[tuple[str, str, str, str], Path] = {}
    for set_, role, root in roots:
        for machine_dir in _machine_dirs(data_dir, spec, role, root, found, rejected):
            _walk_machine(data_dir, spec, set_, role, machine_dir, found, seen, rejected)
    return found


def _set_roots(data_dir: Path, spec: YearSpec, rejected: list[Rejection]) -> list[tuple[str, str, Path]]:
    """(set, role, folder) of the set folders present; a folder matching no layout is an error naming them."""
    roles: dict[str, list[Path]] = {"dev": [], "eval": [], "additional": []}
    strays = []
    for path, is_dir in list_entries(data_dir, data_dir, rejected):
        role = (
            "dev"
            if path.name in DEV_DIRS
            else "eval"
            if path.name in EVAL_DIRS
            else "additional"
            if path.name == ADDITIONAL_DIR
            else None
        )
        if role is not None and is_dir:
            roles[role].append(path)
        elif path.name == SYNTHETIC_MARKER and not is_dir:
            continue
        else:
            strays.append((path, is_dir))
    if not any(roles.values()):
        machines = sorted(p.name for p, d in strays if d and p.name in (*spec.dev_machines, *spec.eval_machines))
        hint = (
            f" ({', '.join(machines)} look like machine folders: pass the folder above the set folder)"
            if machines
            else ""
        )
        raise LibtradError(
            f"{safe_text(str(data_dir))}: no DCASE {spec.year} layout found{hint}; expected "
            f"{expected_layout(spec.year)}"
        )
    for role, folders in roles.items():
        if len(folders) > 1:
            names = " and ".join(f"{p.name}/" for p in folders)
            raise LibtradError(f"{safe_text(str(data_dir))}: both {names} hold the {role} set; keep one")
    allowed = ", ".join(d + "/" for d in (*DEV_DIRS, *EVAL_DIRS, ADDITIONAL_DIR))
    for path, is_dir in strays:
        what = "folder" if is_dir else "file"
        rejected.append(
            Rejection(
                rel_path(data_dir, path),
                f"unexpected {what} at the top of a DCASE {spec.year} folder (expected {allowed})",
            )
        )
    return [("eval" if role == "additional" else role, role, folders[0]) for role, folders in roles.items() if folders]


def _machine_dirs(
    data_dir: Path, spec: YearSpec, role: str, root: Path, found: Found, rejected: list[Rejection]
) -> list[Path]:
    """The machine folders of a set folder (below its ``raw/`` level when it has one)."""
    entries = list_entries(data_dir, root, rejected)
    if any(p.name == RAW_DIR and d for p, d in entries):
        outer = [(p, d) for p, d in entries if p.name != RAW_DIR]
        entries = list_entries(data_dir, root / RAW_DIR, rejected)
        _sort_set_entries(data_dir, spec, role, outer, found, rejected, machines_here=False)
    return _sort_set_entries(data_dir, spec, role, entries, found, rejected, machines_here=True)


def _sort_set_entries(data_dir, spec, role, entries, found, rejected, *, machines_here: bool) -> list[Path]:
    """Machine folders (returned), the evaluation ground-truth list (kept in ``found``), or rejections."""
    set_ = "dev" if role == "dev" else "eval"
    machines = []
    for path, is_dir in entries:
        rel = rel_path(data_dir, path)
        if not is_dir and role == "eval" and (m := EVAL_LIST_RE.fullmatch(path.name)):
            if int(m["year"]) != spec.year:
                rejected.append(Rejection(rel, f"the ground-truth list of DCASE {m['year']}, not {spec.year}"))
            elif found.eval_lists:
                first = rel_path(data_dir, found.eval_lists[0])
                rejected.append(Rejection(rel, f"a second ground-truth list (also {first}); keep one"))
            else:
                found.eval_lists.append(path)
        elif is_dir and machines_here and path.name in spec.machines(set_):
            machines.append(path)
        elif is_dir and machines_here:
            rejected.append(Rejection(rel + "/", _not_a_machine(spec, set_, path.name)))
        else:
            what = "folder" if is_dir else "file"
            where = "beside raw/" if not machines_here else "among the machine folders"
            rejected.append(Rejection(rel + ("/" if is_dir else ""), f"unexpected {what} {where}"))
    return machines


def _not_a_machine(spec: YearSpec, set_: str, name: str) -> str:
    other = "eval" if set_ == "dev" else "dev"
    if name in spec.machines(other):
        return (
            f"{name} is a DCASE {spec.year} {SET_NAMES[other]} machine type, not a {SET_NAMES[set_]} one "
            f"({', '.join(spec.machines(set_))})"
        )
    return f"not a DCASE {spec.year} {SET_NAMES[set_]} machine type ({', '.join(spec.machines(set_))})"


def _walk_machine(
    data_dir: Path,
    spec: YearSpec,
    set_: str,
    role: str,
    machine_dir: Path,
    found: Found,
    seen: dict,
    rejected: list[Rejection],
) -> None:
    machine = machine_dir.name
    folders = ("train",) if role == "additional" else ("train", *spec.test_dirs())
    for path, is_dir in list_entries(data_dir, machine_dir, rejected):
        rel = rel_path(data_dir, path)
        if is_dir and path.name in folders:
            _walk_split(data_dir, spec, set_, machine, path, found, seen, rejected)
        elif not is_dir and spec.year >= 2022 and ATTRIBUTES_CSV_RE.fullmatch(path.name):
            found.metadata.append(path)
        elif is_dir and path.name == "supplemental":
            rejected.append(
                Rejection(
                    rel + "/",
                    "supplemental clips (clean machine / noise-only) have no place in "
                    "the train/test protocol and are not exported; move them out of the folder",
                )
            )
        else:
            what = "folder" if is_dir else "file"
            allowed = ", ".join(f + "/" for f in folders)
            rejected.append(
                Rejection(rel + ("/" if is_dir else ""), f"unexpected {what} in {machine}/ (expected {allowed})")
            )


def _walk_split(
    data_dir: Path,
    spec: YearSpec,
    set_: str,
    machine: str,
    folder: Path,
    found: Found,
    seen: dict,
    rejected: list[Rejection],
) -> None:
    split = "train" if folder.name == "train" else "test"
    for path, is_dir in list_entries(data_dir, folder, rejected):
        rel = rel_path(data_dir, path)
        if is_dir:
            rejected.append(Rejection(rel + "/", f"unexpected folder (clips lie directly in {folder.name}/)"))
            continue
        clip = check_clip(spec, set_, machine, folder.name, path.name)
        if isinstance(clip, str):
            rejected.append(Rejection(rel, clip))
            continue
        candidate = Candidate(set_, machine, split, path, clip)
        if candidate.key in seen:
            first = rel_path(data_dir, seen[candidate.key])
            rejected.append(Rejection(rel, f"the same {set_}/{machine}/{split} clip as {first}"))
            continue
        seen[candidate.key] = path
        found.candidates.append(candidate)
