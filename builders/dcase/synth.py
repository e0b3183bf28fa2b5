"""A small synthetic stand-in for one DCASE Task 2 year, in that year's official layout and names
(DCASE 2026: two-channel clips, near and far microphone: :func:`near_and_far`).

Two machine types per set, for each section and domain a few normal training clips and a few
normal and anomalous test clips, the evaluation set's training data under
``additional_train/`` and its test clips under their published (unlabelled) names, with an
``evaluation/eval_data_list_YYYY_converted.csv`` in the year's own reference-name form (CRLF in
2024/2025, as published). Clips are 1.5-s 16 kHz mono 16-bit WAVs: a machine hum (fundamental
set by machine, section and domain, so the target domain is a real shift) over low-frequency
noise. Deterministic for a seed; everything it writes says it is synthetic.

How hard it is (:mod:`libtrad.builders.difficulty`, :data:`PROFILES`): ``easy`` anomalies add loud
clicks and a broadband burst (anything separates them; the stand-in before difficulties existed,
byte for byte). ``paper`` and ``hard`` anomalies are subtle, as DCASE's are: a small change of the
machine's speed (frequency modulation) and of its amplitude modulation, and a few intermittent
ticks at a low level, over normal clips that themselves vary (operating point, harmonic balance,
slow amplitude wobble, a broadband floor); the target domain shifts the background (another
noise colour and level) and the operating point, so source and target scores differ. ``level_db``
scales every anomaly component (0 dB: ``easy``'s clicks).
"""

from __future__ import annotations

import itertools
import zlib
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from libtrad.builders.dcase.layout import EVAL_LIST_NAME
from libtrad.builders.dcase.years import SAMPLE_RATE, SPECS, YEARS, YearSpec
from libtrad.builders.difficulty import resolve_level
from libtrad.builders.scan import write_synthetic_marker
from libtrad.core.errors import ParameterError
from libtrad.core.options import check_number, check_seed
from libtrad.folders.outputs import atomic_output

CLIP_SECONDS = 1.5
MAX_SCALE = 100.0
BASE_COUNTS = {"train_source": 3, "train_target": 1, "test": 2}  # per section (and domain; test: per label)
# Synthetic attribute strings per machine slot (source / target values differ), in published forms.
_ATTRIBUTES = (
    {"source": ("vel_8", "vel_12"), "target": ("vel_21",)},
    {"source": ("mdl_A_spd_1", "mdl_A_spd_2"), "target": ("mdl_B_spd_2",)},
)


@dataclass(frozen=True)
class Profile:
    """What one difficulty renders. ``level_db`` scales every anomaly component by 10^(level/20)."""

    level_db: float
    subtle: bool = False  # False: easy's clicks and burst; True: the components below
    fm: float = 0.0  # the anomaly's relative speed change at 0 dB
    am: float = 0.0  # the anomaly's added amplitude-modulation depth at 0 dB
    ticks: float = 0.0  # the anomaly's tick amplitude (relative to the hum) at 0 dB
    speed_jitter: float = 0.0  # every clip's relative speed jitter (operating point)
    floor: float = 0.0  # every clip's broadband floor (relative to the hum)


# ``paper``: calibrated with bench/calibrate_difficulty.py (measured scores: the card and bench/RESULTS.md).
PROFILES = {
    "easy": Profile(level_db=0.0),
    "paper": Profile(level_db=-12.0, subtle=True, fm=0.12, am=0.8, ticks=0.6, speed_jitter=0.02, floor=0.03),
    "hard": Profile(level_db=-40.0, subtle=True, fm=0.12, am=0.8, ticks=0.6, speed_jitter=0.02, floor=0.03),
}
LEVELS = {name: profile.level_db for name, profile in PROFILES.items()}
# What the card says (bench/calibrate_difficulty.py: DCASE 2021 at scale 2.5, the demo's, siren-dcase, seed 0).
CALIBRATION = {
    "easy": "Anomalies are loud clicks and a broadband burst: every baseline separates them (score 1.0).",
    "paper": (
        "Anomalies are subtle (a small speed change, added amplitude modulation, a few low ticks) over "
        "normal clips that vary; the target domain shifts background and operating point. Calibrated to "
        "the ECHO paper's range (Table 2: ECHO-Small DCASE mean 0.621): logmel-stats year score 0.646, "
        "mean AUC source 0.813, target 0.587; random-weight ECHO-Small year score 0.528; seeds 1-2: "
        "logmel-stats 0.73-0.81."
    ),
    "hard": "As paper with the anomalies 28 dB lower: near chance (pooled AUC 0.46-0.54 over seeds 0-2).",
}


# DCASE 2026's far microphone in the stand-in: the machine 4 ms later, at 0.3 of its near level (-10 dB),
# through a 0.25-s room response (an 80-ms decay, its tail's energy 0.81 of the direct sound's), over
# 40-4000 Hz environmental noise at 0.06 RMS (the near channel's own floor is 0.08 RMS below 800 Hz).
FAR = {"gain": 0.3, "delay_s": 0.004, "reverb_s": 0.25, "decay_s": 0.08, "tail": 0.9, "noise": 0.06}


@dataclass(frozen=True)
class Job:
    """One clip to write: where, under which name, and what it sounds like."""

    folder: str
    name: str
    set: str
    machine_slot: int
    section: int
    domain: str | None
    label: str
    eval_row: tuple[str, str, int] | None = None  # (test file, reference file, label) for the ground truth


@dataclass(frozen=True)
class DcaseSynthSummary:
    out_dir: str
    year: int
    scale: float
    seed: int
    files: int
    clips: dict[str, int]  # "dev/train" -> clips
    difficulty: str = "paper"
    level_db: float = LEVELS["paper"]
    synthetic: bool = True

    def describe(self) -> str:
        counts = ", ".join(f"{k} {n}" for k, n in self.clips.items())
        return (
            f"wrote SYNTHETIC DCASE {self.year} Task 2 stand-in to {self.out_dir}: {self.files} clips ({counts}; "
            f"difficulty {self.difficulty}, anomalies at {self.level_db:g} dB)"
        )


def synthesize_dcase(
    out: str | Path,
    *,
    year: int,
    scale: float = 1.0,
    seed: int = 0,
    difficulty: str = "paper",
    level_db: float | None = None,
    progress: bool = True,
) -> DcaseSynthSummary:
    """Write the stand-in of DCASE ``year`` to ``out`` (a libtrad "synthetic" folder, replaced atomically);
    ``difficulty`` / ``level_db``: how subtle the anomalies are (:data:`PROFILES`)."""
    if year not in YEARS:
        raise ParameterError("year", year, f"must be one of {', '.join(map(str, YEARS))}")
    check_number("scale", scale, low=0, low_open=True, high=MAX_SCALE)
    check_seed(seed)
    difficulty, level_db = resolve_level(difficulty, level_db, LEVELS)
    spec = SPECS[year]
    jobs = plan(spec, scale)
    with atomic_output(out, "synthetic", option="OUT") as tmp:
        for job in tqdm(jobs, desc=f"synthesizing DCASE {year}", unit="clip", disable=not progress):
            folder = tmp / job.folder
            folder.mkdir(parents=True, exist_ok=True)
            samples = render(job, year, seed, PROFILES[difficulty], level_db)
            if spec.channels == 2:
                samples = near_and_far(samples, job, year, seed)
            _write_wav(folder / job.name, samples, year)
        _write_eval_list(tmp, year, jobs)
        clips: dict[str, int] = {}
        for job in jobs:
            key = f"{job.set}/{'train' if job.folder.endswith('train') else 'test'}"
            clips[key] = clips.get(key, 0) + 1
        summary = DcaseSynthSummary(str(Path(out)), year, scale, seed, len(jobs), clips, difficulty, level_db)
        write_synthetic_marker(
            tmp,
            {
                "note": _note(year),
                "generator": f"libtrad synth siren --component dcase{year}",
                **asdict(summary),
                "calibration": CALIBRATION[difficulty],
            },
        )
    return summary


def plan(spec: YearSpec, scale: float) -> list[Job]:
    """Every clip of the stand-in, in the year's folders and names."""
    n = {k: max(1, round(v * scale)) for k, v in BASE_COUNTS.items()}
    jobs: list[Job] = []
    for set_ in ("dev", "eval"):
        machines = spec.machines(set_)
        picked = (machines[0], "fan" if "fan" in machines else machines[1])
        for slot, machine in enumerate(picked):
            sections = spec.sections(set_, machine)[: 2 if set_ == "dev" else 1]
            for section in sections:
                jobs += _section_jobs(spec, set_, slot, machine, section, n)
    return jobs


def _section_jobs(spec: YearSpec, set_: str, slot: int, machine: str, section: int, n: dict) -> list[Job]:
    year = spec.year
    train_root = f"{'additional_train' if set_ == 'eval' else 'development'}/{machine}/train"
    test_root = f"{'evaluation' if set_ == 'eval' else 'development'}/{machine}"
    domains = (None,) if year == 2020 else ("source", "target")
    jobs = []
    for domain in domains:
        count = n["train_source"] if domain in (None, "source") else n["train_target"]
        for i in range(count):
            attrs = _attributes(year, set_, slot, domain, i)
            jobs.append(
                Job(
                    train_root,
                    _labelled_name(year, section, domain, "train", "normal", i, attrs),
                    set_,
                    slot,
                    section,
                    domain,
                    "normal",
                )
            )
    # Test clips: numbered per domain and label (2020, 2021) or across the section (2022+), as published.
    tests = [(domain, label, i) for domain in domains for label in ("normal", "anomaly") for i in range(n["test"])]
    if set_ == "eval":  # the published evaluation order mixes labels
        tests = tests[1::2] + tests[0::2]
    per_label: Counter = Counter()
    per_domain: Counter = Counter()
    for number, (domain, label, i) in enumerate(tests):
        label_index, domain_index = per_label[(domain, label)], per_domain[domain]
        per_label[(domain, label)] += 1
        per_domain[domain] += 1
        attrs = _attributes(year, set_, slot, domain, i)
        index = number if year >= 2022 else label_index
        reference = _labelled_name(year, section, domain, "test", label, index, attrs)
        folder = f"{test_root}/{domain}_test" if year == 2021 else f"{test_root}/test"
        if set_ == "dev":
            jobs.append(Job(folder, reference, set_, slot, section, domain, label))
            continue
        name = _eval_name(year, section, domain, domain_index if year == 2021 else number)
        if year >= 2025:  # 2025's list names the reference by section, domain and number only (2026: assumed)
            reference = f"section_{section:02d}_{domain}_{number:04d}.wav"
        jobs.append(Job(folder, name, set_, slot, section, domain, label, (name, reference, int(label == "anomaly"))))
    return jobs


def _attributes(year: int, set_: str, slot: int, domain: str | None, i: int) -> str | None:
    if year < 2022:
        return None
    if year >= 2024 and set_ == "eval" and slot == 1:
        return "noAttribute"
    values = _ATTRIBUTES[slot][domain]
    return values[i % len(values)]


def _labelled_name(
    year: int, section: int, domain: str | None, split: str, label: str, number: int, attributes: str | None
) -> str:
    if year == 2020:
        return f"{label}_id_{section:02d}_{number:08d}.wav"
    suffix = f"_{attributes}" if attributes else ""
    return f"section_{section:02d}_{domain}_{split}_{label}_{number:04d}{suffix}.wav"


def _eval_name(year: int, section: int, domain: str | None, number: int) -> str:
    if year == 2020:
        return f"id_{section:02d}_{number:08d}.wav"
    if year == 2021:
        return f"section_{section:02d}_{domain}_test_{number:04d}.wav"
    return f"section_{section:02d}_{number:04d}.wav"


def _write_eval_list(root: Path, year: int, jobs: list[Job]) -> None:
    """The ground truth of the evaluation test clips, in the published list format."""
    newline = "\r\n" if year >= 2024 else "\n"
    lines: list[str] = []
    rows = [j for j in jobs if j.eval_row is not None]
    for machine, group in itertools.groupby(rows, key=lambda j: j.folder.split("/")[1]):
        lines.append(machine)
        lines += [f"{t},{r},{label}" for t, r, label in (j.eval_row for j in group)]
    folder = root / "evaluation"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / EVAL_LIST_NAME.format(year=year)).open("w", encoding="ascii", newline="") as f:
        f.write(newline.join(lines) + newline)


def render(
    job: Job, year: int, seed: int, profile: Profile = PROFILES["easy"], level_db: float | None = None
) -> np.ndarray:
    """The clip's samples: hum + noise, plus the anomaly ``profile`` renders at ``level_db`` (default: its own)."""
    if profile.subtle:
        return _render_subtle(job, year, seed, profile, profile.level_db if level_db is None else level_db)
    gain = 10 ** ((profile.level_db if level_db is None else level_db) / 20)
    domain_index = {"source": 0, "target": 1, None: 2}[job.domain]
    key = [
        seed,
        year,
        int(job.set == "eval"),
        job.machine_slot,
        job.section,
        domain_index,
        int(job.label == "anomaly"),
        *_identity(job, year),
    ]
    rng = np.random.default_rng(key)
    n = int(CLIP_SECONDS * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    f0 = 55.0 + 40.0 * job.machine_slot + 6.0 * job.section + (25.0 if job.domain == "target" else 0.0)
    f0 *= 1.0 + rng.uniform(-0.01, 0.01)
    hum = sum(
        a * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
        for k, a in ((1, 1.0), (2, 0.5), (3, 0.3), (4, 0.2))
    )
    x = 0.25 * hum / _rms(hum) + 0.08 * _shaped_noise(rng, n, 0.0, 800.0)
    if job.label == "anomaly":
        for start in rng.integers(0, n - 400, size=int(rng.integers(6, 12))):
            click = rng.normal(0.0, 1.0, 80) * np.exp(-np.arange(80) / 15.0)
            x[start : start + 80] += 0.6 * gain * click
        begin = int(rng.integers(0, n - SAMPLE_RATE // 5))
        burst = _shaped_noise(rng, SAMPLE_RATE // 5, 2000.0, 6000.0) * np.hanning(SAMPLE_RATE // 5)
        x[begin : begin + SAMPLE_RATE // 5] += 0.3 * gain * burst
    x += rng.normal(0.0, 10 ** (-70 / 20), n)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def _identity(job: Job, year: int) -> list[int]:
    """What tells a clip from the others of its set, machine, section, domain and label in the random
    key: its name, and in 2020 also its split — train/ and test/ reuse names there (a train and a test
    ``normal_id_00_00000000.wav``), and the published ones are different recordings, so the stand-in's
    must differ too (a copy on both sides of the split is the leak ``libtrad evaluate`` refuses)."""
    name = [zlib.crc32(job.name.encode("ascii"))]
    return name + [int(job.folder.endswith("/train"))] if year == 2020 else name


def _render_subtle(job: Job, year: int, seed: int, profile: Profile, level_db: float) -> np.ndarray:
    """``paper``/``hard``: a machine whose normal sound varies, and anomalies that change it a little.

    Normal clips: the hum at an operating point jittered by ``speed_jitter`` with a jittered harmonic
    balance and a slow amplitude wobble, over low-frequency noise and a broadband floor; the target
    domain runs at another speed over another background (more, and brighter, noise). An anomaly:
    the speed off by ``fm`` and an amplitude modulation of depth ``am`` (at 6–14 Hz), plus a few
    ticks (a ~5-ms resonance at 1–4 kHz) of amplitude ``ticks`` — each times 10^(level_db/20)."""
    domain_index = {"source": 0, "target": 1, None: 2}[job.domain]
    key = [
        seed,
        year,
        int(job.set == "eval"),
        job.machine_slot,
        job.section,
        domain_index,
        int(job.label == "anomaly"),
        *_identity(job, year),
        1,
    ]
    rng = np.random.default_rng(key)
    gain = 10 ** (level_db / 20)
    anomalous = job.label == "anomaly"
    target = job.domain == "target"
    n = int(CLIP_SECONDS * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    f0 = 55.0 + 40.0 * job.machine_slot + 6.0 * job.section + (25.0 if target else 0.0)
    f0 *= 1.0 + rng.uniform(-profile.speed_jitter, profile.speed_jitter)
    if anomalous:
        f0 *= 1.0 + rng.choice((-1.0, 1.0)) * profile.fm * gain
    harmonics = ((1, 1.0), (2, 0.5), (3, 0.3), (4, 0.2)) if not target else ((1, 1.0), (2, 0.7), (3, 0.2), (4, 0.3))
    hum = sum(
        a * rng.uniform(0.8, 1.2) * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) for k, a in harmonics
    )
    wobble = 1.0 + rng.uniform(0.0, 0.1) * np.sin(2 * np.pi * rng.uniform(0.5, 2.0) * t + rng.uniform(0, 2 * np.pi))
    if anomalous:
        depth = min(profile.am * gain, 0.9)
        wobble = wobble * (1.0 + depth * np.sin(2 * np.pi * rng.uniform(6.0, 14.0) * t))
    hum = 0.25 * wobble * hum / _rms(hum)
    noise_band, noise_level = ((0.0, 2000.0), 0.12) if target else ((0.0, 800.0), 0.08)
    x = hum + noise_level * _shaped_noise(rng, n, *noise_band) + profile.floor * _shaped_noise(rng, n, 100.0, 7900.0)
    if anomalous:
        ring = np.arange(80) / SAMPLE_RATE
        for start in rng.integers(0, n - 400, size=int(rng.integers(2, 6))):
            tick = np.exp(-ring / 0.001) * np.sin(2 * np.pi * rng.uniform(1000.0, 4000.0) * ring)
            x[start : start + 80] += profile.ticks * gain * tick
    x += rng.normal(0.0, 10 ** (-70 / 20), n)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def near_and_far(near: np.ndarray, job: Job, year: int, seed: int) -> np.ndarray:
    """(samples, 2): DCASE 2026's two microphones, the clip as rendered on the left (near) and on the right
    what a far microphone hears of it (:data:`FAR`): the same sound later, weaker and through a room's
    reverberation, over stronger environmental noise of its own, so near and far differ in level,
    reverberation and noise as the task describes (the far channel "relatively stronger environmental
    noise and weaker direct machine sounds")."""
    rng = np.random.default_rng([seed, year, zlib.crc32(f"{job.folder}/{job.name}/far".encode("ascii"))])
    n = near.shape[0]
    length = int(FAR["reverb_s"] * SAMPLE_RATE)
    delay = int(FAR["delay_s"] * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    response = rng.normal(0.0, 1.0, length) * np.exp(-t / FAR["decay_s"])
    response[:delay] = 0.0
    response *= FAR["tail"] / np.sqrt(np.sum(np.square(response)))
    response[delay] += 1.0
    size = n + length
    reverberant = np.fft.irfft(np.fft.rfft(near.astype(np.float64), size) * np.fft.rfft(response, size), size)[:n]
    noise = _shaped_noise(rng, n, 40.0, 4000.0)
    far = FAR["gain"] * reverberant / _rms(reverberant) * _rms(near) + FAR["noise"] * noise
    return np.clip(np.stack([near, far], axis=1), -1.0, 1.0).astype(np.float32)


def _shaped_noise(rng: np.random.Generator, n: int, low_hz: float, high_hz: float) -> np.ndarray:
    spectrum = np.fft.rfft(rng.normal(0.0, 1.0, n))
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    noise = np.fft.irfft(spectrum * ((f >= low_hz) & (f <= high_hz)), n)
    return noise / _rms(noise)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x), dtype=np.float64))) or 1e-12


def _note(year: int) -> str:
    return f"SYNTHETIC stand-in generated by libtrad; not a real DCASE {year} Task 2 recording"


def _write_wav(path: Path, samples: np.ndarray, year: int) -> None:
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with sf.SoundFile(path, "w", SAMPLE_RATE, channels, "PCM_16", format="WAV") as f:
        f.comment = _note(year)
        f.software = f"libtrad synth siren --component dcase{year}"
        f.write(samples)
