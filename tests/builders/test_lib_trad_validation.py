"""Every kind of bad input is rejected with a message naming the file; --on-error skip records it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from huggingface_hub import DatasetCard

from libtrad.builders.lib_trad.export import export_lib_trad
from libtrad.builders.lib_trad.layout import scan_lib_trad
from libtrad.core.errors import LibtradError

SR = 16_000


def write(path: Path, samples: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, sr, subtype=subtype)


def make_layout(root: Path) -> Path:
    """TR1 with 4 normal + 2 abnormal segments as mono per-channel files."""
    rng = np.random.default_rng(0)
    for seg in range(6):
        label = "normal" if seg < 4 else "abnormal"
        for ch in range(1, 5):
            write(root / "TR1" / label / f"seg{seg:04d}_ch{ch}.wav", 0.1 * rng.standard_normal(10 * SR))
    return root


def corrupt_bytes(root):
    (root / "TR1/normal/seg0000_ch1.wav").write_bytes(b"RIFF-not-really-a-wav" * 10)
    return "TR1/normal/seg0000_ch1.wav", "not a readable audio file"


def empty_file(root):
    (root / "TR1/normal/seg0000_ch2.wav").write_bytes(b"")
    return "TR1/normal/seg0000_ch2.wav", "empty file"


def zero_samples(root):
    write(root / "TR1/normal/seg0000_ch3.wav", np.zeros(0))
    return "TR1/normal/seg0000_ch3.wav", "empty audio"


def wrong_rate(root):
    write(root / "TR1/normal/seg0001_ch1.wav", np.zeros(10 * 8000), sr=8000)
    return "TR1/normal/seg0001_ch1.wav", "sample rate 8000 Hz, expected 16000 Hz"


def wrong_channels(root):
    write(root / "TR1/normal/seg0001_ch2.wav", np.zeros((10 * SR, 2)))
    return "TR1/normal/seg0001_ch2.wav", "has 2 channel(s), expected 1"


def wrong_duration(root):
    write(root / "TR1/normal/seg0002_ch1.wav", np.zeros(9 * SR))
    return "TR1/normal/seg0002_ch1.wav", "duration 9.000 s, expected 10 ± 0.1 s"


def not_finite(root):
    samples = np.zeros(10 * SR, dtype=np.float32)
    samples[123] = np.nan
    write(root / "TR1/abnormal/seg0004_ch1.wav", samples, subtype="FLOAT")
    return "TR1/abnormal/seg0004_ch1.wav", "1 non-finite sample(s)"


def bad_name(root):
    write(root / "TR1/normal/recording.wav", np.zeros(10 * SR))
    return "TR1/normal/recording.wav", "file name is not segNNNN_chC.wav"


def missing_channel(root):
    (root / "TR1/abnormal/seg0005_ch4.wav").unlink()
    return "TR1/abnormal/seg0005_ch1.wav", "missing channel file(s) for microphone 4"


def both_labels(root):
    write(root / "TR1/abnormal/seg0003_ch1.wav", np.zeros(10 * SR))
    return "TR1/normal/seg0003_ch1.wav", "appears in both normal/ and abnormal/"


def bad_annotation(root):
    (root / "annotations.csv").write_text("experiment,segment,start_s\nTR1,0,zero\n")
    return "annotations.csv line 2", "start_s 'zero' is not a number"


DEFECTS = [
    corrupt_bytes,
    empty_file,
    zero_samples,
    wrong_rate,
    wrong_channels,
    wrong_duration,
    not_finite,
    bad_name,
    missing_channel,
    both_labels,
    bad_annotation,
]


@pytest.mark.parametrize("defect", DEFECTS, ids=lambda d: d.__name__)
def test_bad_input_raises_naming_the_file(tmp_path, defect):
    root = make_layout(tmp_path / "raw")
    path, reason = defect(root)
    with pytest.raises(LibtradError) as err:
        scan_lib_trad(root, ("TR1",), progress=False)
    message = str(err.value)
    assert path in message and reason in message
    assert "\n" not in message


def test_skip_records_every_rejection_in_manifest_and_card(tmp_path):
    root = make_layout(tmp_path / "raw")
    expected = [defect(root) for defect in (corrupt_bytes, wrong_rate, not_finite, bad_name, missing_channel)]
    out = tmp_path / "out"
    summary = export_lib_trad(root, out, configs=("tr1",), on_error="skip", progress=False)
    rejected = {(r["path"], r["reason"]) for r in json.loads((out / "manifest.json").read_text())["rejected"]}
    for path, reason in expected:
        assert any(p == path and reason in r for p, r in rejected), (path, reason, rejected)
    # The other channels of a segment with a bad file are left out too, and say why.
    assert ("TR1/normal/seg0000_ch2.wav", "segment TR1/0000: another of its files was rejected") in rejected
    kept = {(s.split("/")[-1]) for s in json.loads((out / "manifest.json").read_text())["sources"] for s in [s["path"]]}
    assert not any(name.startswith(("seg0000", "seg0001", "seg0004", "seg0005")) for name in kept)
    card = DatasetCard.load(out / "README.md").text
    for path, _ in expected:
        assert f"`{path}`" in card
    assert len(summary.rejected) == len(rejected)


def test_resample_accepts_other_rates(tmp_path):
    root = make_layout(tmp_path / "raw")
    write(
        root / "TR1/normal/seg0001_ch1.wav", 0.1 * np.sin(np.arange(10 * 44_100) / 44_100 * 2 * np.pi * 440), sr=44_100
    )
    with pytest.raises(LibtradError, match="pass --resample"):
        scan_lib_trad(root, ("TR1",), progress=False)
    out = tmp_path / "out"
    export_lib_trad(root, out, configs=("tr1",), resample=True, progress=False)
    import io

    import pyarrow.parquet as pq

    rows = [r for p in sorted((out / "data/tr1").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    row = next(r for r in rows if r["source_file"] == "TR1/normal/seg0001_ch1.wav")
    samples, sr = sf.read(io.BytesIO(row["audio"]["bytes"]))
    assert sr == SR and samples.shape == (10 * SR,)


def test_missing_experiment_folder_is_one_clear_error(tmp_path):
    root = make_layout(tmp_path / "raw")
    with pytest.raises(LibtradError, match=r"missing folder\(s\) TR2/, TR3/"):
        scan_lib_trad(root, ("TR1", "TR2", "TR3"), progress=False)
    with pytest.raises(LibtradError, match="no such data folder"):
        scan_lib_trad(tmp_path / "nowhere", ("TR1",), progress=False)
