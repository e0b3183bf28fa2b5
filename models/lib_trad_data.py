"""Read a built LiB-TRAD dataset (Hub id or Hub-style folder) into waveforms and labels for training.

Audio is decoded with soundfile from the stored bytes (``Audio(decode=False)``), which is much
faster than torchcodec for short WAV clips; anything that is not 16 kHz mono is refused rather
than silently resampled or down-mixed.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from libtrad.errors import LibtradError

SAMPLE_RATE = 16_000
LABEL_NAMES = ("normal", "abnormal")


@dataclass
class Clips:
    """One split of one config: mono float32 waveforms, 0/1 labels and where each clip came from."""

    dataset: str
    config: str
    split: str
    waveforms: list[np.ndarray]
    labels: np.ndarray
    experiments: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.waveforms)


def load_clips(dataset: str, config: str, split: str, *, cache_dir: str | Path | None = None, progress: bool = True) -> Clips:
    """Load ``split`` of ``config`` and decode every clip; user mistakes become :class:`LibtradError`."""
    import datasets

    _check_dataset_argument(dataset)
    try:
        ds = datasets.load_dataset(str(dataset), config, split=split, cache_dir=None if cache_dir is None else str(cache_dir))
    except ValueError as exc:
        raise LibtradError(f"--dataset {dataset}: cannot load config {config!r} split {split!r} ({_first_line(exc)})") from None
    except (OSError, FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise LibtradError(f"--dataset {dataset}: cannot load it ({_first_line(exc)})") from None
    missing = {"audio", "label"} - set(ds.column_names)
    if missing:
        raise LibtradError(f"--dataset {dataset} config {config}: missing columns {sorted(missing)}")
    ds = ds.cast_column("audio", datasets.Audio(decode=False))
    waveforms = []
    rows = tqdm(ds, desc=f"decoding {config}/{split}", unit="clip", disable=not progress, leave=False)
    for i, row in enumerate(rows):
        waveforms.append(_decode(row["audio"], f"{dataset} {config}/{split} row {i}"))
    experiments = list(ds["experiment"]) if "experiment" in ds.column_names else [config.split("_")[0].upper()] * len(ds)
    return Clips(dataset=str(dataset), config=config, split=split, waveforms=waveforms,
                 labels=np.asarray(ds["label"], dtype=np.int64), experiments=experiments)


def dataset_is_synthetic(dataset: str) -> bool:
    """True when a local dataset folder says it is a synthetic stand-in (``manifest.json``'s ``synthetic``)."""
    root = Path(dataset)
    for marker in (root / "manifest.json", root / "SYNTHETIC.json"):
        if marker.is_file():
            try:
                data = json.loads(marker.read_text())
            except json.JSONDecodeError as exc:
                raise LibtradError(f"{marker}: not valid JSON ({exc})") from None
            if marker.name == "SYNTHETIC.json" or bool(data.get("synthetic")):
                return True
    return False


def _check_dataset_argument(dataset: str) -> None:
    text = str(dataset)
    path = Path(text).expanduser()
    looks_local = path.is_absolute() or text.startswith((".", "~")) or text.count("/") != 1
    if path.exists():
        if not path.is_dir():
            raise LibtradError(f"--dataset {dataset}: is a file, expected a dataset folder or a Hub id ORG/NAME")
    elif looks_local:
        raise LibtradError(f"--dataset {dataset}: no such dataset folder (and not a Hub id of the form ORG/NAME)")


def _decode(audio: dict, where: str) -> np.ndarray:
    data = audio.get("bytes")
    if data is None:
        if not audio.get("path"):
            raise LibtradError(f"{where}: audio has neither bytes nor a path")
        data = Path(audio["path"]).read_bytes()
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        raise LibtradError(f"{where}: undecodable audio ({exc})") from None
    if rate != SAMPLE_RATE:
        raise LibtradError(f"{where}: sample rate {rate} Hz, LiB-TRAD models expect {SAMPLE_RATE} Hz")
    if samples.shape[1] != 1:
        raise LibtradError(f"{where}: {samples.shape[1]} channels, LiB-TRAD models expect one microphone per row")
    return np.ascontiguousarray(samples[:, 0])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
