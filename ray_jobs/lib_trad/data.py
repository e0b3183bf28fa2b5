"""Read a built LiB-TRAD dataset (Hub id or Hub-style folder) into waveforms and labels for training.

Audio is decoded with soundfile from the stored bytes (``Audio(decode=False)``), which is much
faster than torchcodec for short WAV clips; anything that is not 16 kHz mono is refused rather
than silently resampled or down-mixed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from libtrad.core.errors import LibtradError, exception_reason, first_line
from libtrad.folders.verify import verify_dataset_split
from libtrad.models.model_types import read_json_object

SAMPLE_RATE = 16_000
EVENT_COLUMNS = ("segment", "channel", "event_onset_s", "event_offset_s")  # what event evaluation reads


@dataclass
class Clips:
    """One split of one config: mono float32 waveforms, 0/1 labels and where each clip came from."""

    dataset: str
    config: str
    split: str
    waveforms: list[np.ndarray]
    labels: np.ndarray
    experiments: list[str] = field(default_factory=list)
    # where present: segment, channel and the annotated event_onset_s / event_offset_s (seconds in the segment)
    columns: dict[str, list] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.waveforms)


def load_clips(
    dataset: str, config: str, split: str, *, cache_dir: str | Path | None = None, progress: bool = True
) -> Clips:
    """Load ``split`` of ``config`` and decode every clip; user mistakes become :class:`LibtradError`.

    A local folder is checked first: the config and split must exist, every Parquet shard of the
    config must be readable (a truncated shard is named), and a libtrad export's shards must match
    the checksums of its ``.libtrad.json`` (``libtrad.folders.verify``). Any error of ``datasets``/pyarrow
    while loading is reported as one line naming the dataset, config and split.
    """
    import datasets

    local = _check_dataset_argument(dataset)
    source = str(local) if local is not None else str(dataset)
    cache = None if cache_dir is None else str(cache_dir)
    try:
        if local is not None:  # the checked builder loads the split: the card is parsed once, not twice
            builder = _check_local_split(local, dataset, config, split, cache)
            builder.download_and_prepare()
            ds = builder.as_dataset(split=split)  # what load_dataset(folder, config, split=split) returns
        else:
            ds = datasets.load_dataset(source, config, split=split, cache_dir=cache)
    except LibtradError:
        raise
    except Exception as exc:  # noqa: BLE001 - datasets/pyarrow/fsspec raise many types; all mean "cannot load"
        raise _load_error(dataset, config, split, exc, local, cache) from None
    where = f"--dataset {dataset} config {config!r} split {split!r}"
    if not isinstance(ds, datasets.Dataset):
        raise LibtradError(f"{where}: not a table of clips ({type(ds).__name__})")
    missing = {"audio", "label"} - set(ds.column_names)
    if missing:
        raise LibtradError(f"{where}: missing columns {sorted(missing)}")
    if len(ds) == 0:
        raise LibtradError(f"{where}: the split has no rows")
    try:
        ds = ds.cast_column("audio", datasets.Audio(decode=False))
    except Exception as exc:  # noqa: BLE001 - a non-audio column cannot be cast; say so in one line
        raise LibtradError(f"{where}: the audio column is not audio ({first_line(exc)})") from None
    labels = _labels(ds["label"], where)
    waveforms = []
    rows = tqdm(ds, desc=f"decoding {config}/{split}", unit="clip", disable=not progress, leave=False)
    for i, row in enumerate(rows):
        waveforms.append(_decode(row["audio"], f"--dataset {dataset} {config}/{split} row {i}", local))
    experiments = (
        [str(e) for e in ds["experiment"]]
        if "experiment" in ds.column_names
        else [config.split("_")[0].upper()] * len(ds)
    )
    columns = {c: list(ds[c]) for c in EVENT_COLUMNS if c in ds.column_names}
    return Clips(
        dataset=str(dataset),
        config=config,
        split=split,
        waveforms=waveforms,
        labels=labels,
        experiments=experiments,
        columns=columns,
    )


def split_exists(dataset: str, config: str, split: str, *, cache_dir=None) -> bool:
    """Whether ``dataset`` has ``split`` in ``config``; anything unreadable counts as absent."""
    import datasets

    local = Path(str(dataset)).expanduser()
    try:
        return split in datasets.get_dataset_split_names(
            str(local) if local.is_dir() else str(dataset),
            config,
            cache_dir=None if cache_dir is None else str(cache_dir),
        )
    except Exception:  # noqa: BLE001 - an absent split/config just means "nothing to evaluate"
        return False


def dataset_is_synthetic(dataset: str) -> bool:
    """True when a local dataset folder says it is a synthetic stand-in (``manifest.json``'s ``synthetic``)."""
    root = Path(str(dataset)).expanduser()
    for marker in (root / "manifest.json", root / "SYNTHETIC.json"):
        if marker.is_file():
            if marker.name == "SYNTHETIC.json":
                return True
            if bool(read_json_object(marker).get("synthetic")):
                return True
    return False


def _check_dataset_argument(dataset: str) -> Path | None:
    """The local folder ``dataset`` names (None for a Hub id); refuse a file or a missing folder."""
    text = str(dataset)
    if not text.strip():
        raise LibtradError("--dataset: empty; give a dataset folder or a Hub id ORG/NAME")
    path = Path(text).expanduser()
    looks_local = path.is_absolute() or text.startswith((".", "~")) or text.count("/") != 1
    if path.exists():
        if not path.is_dir():
            raise LibtradError(f"--dataset {dataset}: is a file, expected a dataset folder or a Hub id ORG/NAME")
        return path.resolve()
    if looks_local:
        raise LibtradError(f"--dataset {dataset}: no such dataset folder (and not a Hub id of the form ORG/NAME)")
    return None


def _check_local_split(root: Path, dataset: str, config: str, split: str, cache: str | None):
    """Config and split exist, the split's shards match the marker, every shard of the config is Parquet;
    returns the config's ``datasets`` builder."""
    import datasets

    _verify_split(root, config, split)  # first: a corrupted or special shard file is named before datasets reads it
    try:
        builder = datasets.load_dataset_builder(str(root), config, cache_dir=cache)
    except LibtradError:
        raise
    except Exception as exc:  # noqa: BLE001 - see load_clips
        raise _load_error(dataset, config, split, exc, root, cache) from None
    files = dict(builder.config.data_files or {})
    if split not in files:
        raise LibtradError(
            f"--dataset {dataset}: cannot load config {config!r} split {split!r} "
            f"(no such split; available: {', '.join(map(str, files)) or 'none'})"
        )
    for name, paths in files.items():  # datasets prepares every split of the config at once
        for path in paths:
            _check_shard(str(path), dataset, config, str(name))
    return builder


def _verify_split(root: Path, config: str, split: str) -> None:
    """``libtrad.folders.verify``'s check of the split's shards against the marker's SHA-256 (no-op for other
    folders)."""
    verify_dataset_split(root, config, split)


def _check_shard(path: str, dataset: str, config: str, split: str) -> None:
    """A local Parquet shard must exist and have a readable footer (a truncated copy does not)."""
    if "://" in path or not path.endswith(".parquet"):
        return
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
    except Exception as exc:  # noqa: BLE001 - ArrowInvalid, OSError, ...: the shard is unusable either way
        raise LibtradError(
            f"{path}: unreadable Parquet shard of --dataset {dataset} config {config!r} split {split!r} "
            f"({first_line(exc)}); rebuild or re-download the dataset"
        ) from None


def _load_error(
    dataset: str, config: str, split: str, exc: BaseException, local: Path | None, cache: str | None
) -> LibtradError:
    """One line for a failed ``load_dataset``: the dataset, config, split and the first line of the cause."""
    import datasets

    head = f"--dataset {dataset}: cannot load config {config!r} split {split!r}"
    text = str(exc)
    if isinstance(exc, ValueError) and text.startswith("BuilderConfig") and "not found" in text:
        try:
            names = datasets.get_dataset_config_names(str(local or dataset), cache_dir=cache)
            available = ", ".join(names)
        except Exception:  # noqa: BLE001 - fall back on datasets' own list in the message
            available = None
        return LibtradError(
            f"{head} (no such config; available: {available})" if available else f"{head} ({first_line(exc)})"
        )
    cause = exc
    while isinstance(cause, datasets.exceptions.DatasetsError) and (cause.__cause__ or cause.__context__) is not None:
        cause = cause.__cause__ or cause.__context__
    return LibtradError(f"{head} ({type(cause).__name__}: {first_line(cause)})")


def _labels(values, where: str) -> np.ndarray:
    """The label column as 0 (normal) / 1 (abnormal); anything else is refused."""
    try:
        labels = np.asarray(values, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise LibtradError(f"{where}: the label column must hold integers 0 (normal) / 1 (abnormal)") from None
    if labels.ndim != 1:
        raise LibtradError(f"{where}: the label column must hold one integer per row")
    bad = sorted(set(np.unique(labels).tolist()) - {0, 1})
    if bad:
        raise LibtradError(f"{where}: label {bad[0]} found; expected 0 (normal) or 1 (abnormal)")
    return labels


def _decode(audio: dict, where: str, root: Path | None = None) -> np.ndarray:
    """One clip's stored bytes (or file) -> mono float32 at 16 kHz; anything else is refused."""
    if not isinstance(audio, dict):
        raise LibtradError(f"{where}: no audio (found {type(audio).__name__})")
    data = audio.get("bytes")
    if data is None:
        if not audio.get("path"):
            raise LibtradError(f"{where}: audio has neither bytes nor a path")
        path = Path(audio["path"])
        if not path.is_absolute() and root is not None:
            path = root / path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise LibtradError(f"{where}: cannot read audio file {path} ({exception_reason(exc)})") from None
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - LibsndfileError, RuntimeError, TypeError: not decodable audio
        reason = getattr(exc, "error_string", None) or first_line(exc)  # libsndfile's words, not the BytesIO repr
        raise LibtradError(f"{where}: undecodable audio ({reason})") from None
    if rate != SAMPLE_RATE:
        raise LibtradError(f"{where}: sample rate {rate} Hz, LiB-TRAD models expect {SAMPLE_RATE} Hz")
    if samples.shape[1] != 1:
        raise LibtradError(f"{where}: {samples.shape[1]} channels, LiB-TRAD models expect one microphone per row")
    if samples.shape[0] == 0:
        raise LibtradError(f"{where}: empty audio (0 samples)")
    if not np.isfinite(samples).all():
        raise LibtradError(f"{where}: audio holds NaN or infinite samples")
    return np.ascontiguousarray(samples[:, 0])
