"""``libtrad embed`` and channels: the dataset's channel policy by default, ``--channels``, mixed channel sets,
what ``embeddings.json`` and the output rows record, and the cache key.

The mixed dataset is what a Hub dataset is — Parquet files and a README whose YAML carries
``channel_policy`` — written here by hand (no libtrad marker, nothing from the registry): 4 rows with
the CWRU Data Center's three accelerometers and 2 with the drive end only, as the real 0.028-inch
records hold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from libtrad.core.errors import LibtradError

RATE = 12_000
SETS = [("DE", "FE", "BA")] * 4 + [("DE",)] * 2


@pytest.fixture(scope="module")
def ray_local():
    from libtrad.ray_jobs.cluster import ray_session

    with ray_session(num_cpus=2) as ray:
        yield ray


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """Parquet + README (``configs:`` and ``channel_policy:``), as a Hub dataset repository holds it."""
    import datasets

    root = tmp_path_factory.mktemp("mixed") / "cwru-like"
    rng = np.random.default_rng(0)
    features = datasets.Features(
        {
            "signals": datasets.List(datasets.List(datasets.Value("float32"))),
            "channels": datasets.List(datasets.Value("string")),
            "sampling_rate": datasets.Value("int32"),
            "label": datasets.ClassLabel(names=["IR", "B"]),
            "file": datasets.Value("string"),
        }
    )
    rows = {
        "signals": [rng.normal(0, 0.1, (len(s), RATE)).astype(np.float32) for s in SETS],
        "channels": [list(s) for s in SETS],
        "sampling_rate": [RATE] * len(SETS),
        "label": [i % 2 for i in range(len(SETS))],
        "file": [f"rec{i}.mat" for i in range(len(SETS))],
    }
    (root / "data" / "faults").mkdir(parents=True)
    datasets.Dataset.from_dict(rows, features=features).to_parquet(root / "data/faults/train-00000-of-00001.parquet")
    front = {
        "configs": [
            {
                "config_name": "faults",
                "default": True,
                "data_files": [{"split": "train", "path": "data/faults/train-*"}],
            }
        ],
        "channel_policy": {
            "faults": {"default": ["DE"], "names": ["DE", "FE", "BA"], "reason": "SIREN reads the drive end"}
        },
    }
    (root / "README.md").write_text(f"---\n{yaml.safe_dump(front)}---\n\n# A CWRU-like dataset\n")
    return root


def embedded(folder: Path) -> list[dict]:
    return [r for f in sorted(folder.glob("data/**/*.parquet")) for r in pq.read_table(f).to_pylist()]


def test_the_default_run_uses_the_cards_policy_and_records_it(ray_local, mixed, tmp_path):
    from libtrad.builders.audio_samples import resample
    from libtrad.ray_jobs.embedding.embed import embed_dataset
    from libtrad.ray_jobs.embedding.encoders import load_encoder

    summary = embed_dataset(str(mixed), "logmel-stats", tmp_path / "emb", progress=False)
    rows = embedded(tmp_path / "emb")
    assert summary.output_dim == 128 and len(rows) == len(SETS)
    assert [r["embedded_channels"] for r in rows] == [["DE"]] * len(SETS)
    assert [r["channels"] for r in rows] == [list(s) for s in SETS]  # the source column travels unchanged
    source = pq.read_table(mixed / "data/faults/train-00000-of-00001.parquet").to_pylist()
    drive_end = [np.asarray(r["signals"][0], dtype=np.float32) for r in source]
    expected, _ = load_encoder("logmel-stats").embed([resample(d[None], RATE, 16_000, axis=-1)[0] for d in drive_end])
    np.testing.assert_allclose(np.array([r["embedding"] for r in rows]), expected, rtol=1e-5, atol=1e-5)
    info = json.loads((tmp_path / "emb" / "embeddings.json").read_text())
    assert info["channels"] == {
        "selection": ["DE"],
        "chosen_by": "the dataset's channel policy",
        "policy": {"default": ["DE"], "names": ["DE", "FE", "BA"], "reason": "SIREN reads the drive end"},
        "rows_per_set": {"DE": len(SETS)},
    }
    card = (tmp_path / "emb" / "README.md").read_text()
    assert "* channels: `DE`\n  (the dataset's channel policy); rows per channel set: DE 6." in card
    import datasets

    assert (
        "embedded_channels"
        in datasets.load_dataset(
            str(tmp_path / "emb"), "faults", split="train", cache_dir=str(tmp_path / "cache")
        ).features
    )


def test_other_channels_mixed_sets_and_a_missing_channel(ray_local, mixed, tmp_path, cli, rel):
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    base = ["embed", "--dataset", mixed, "--encoder", "logmel-stats"]
    line = rel.assert_error_line(cli(*base, "--output", tmp_path / "fe", "--channels", "FE"))
    assert line.endswith(
        "row 4 (rec4.mat): has channel(s) DE but not FE, which --channels selects (FE); choose "
        "channels every row has with --channels, or --channels all --multichannel mean"
    )
    rel.assert_error_line(
        cli(*base, "--output", tmp_path / "all", "--channels", "all"),
        "embed channel sets DE,FE,BA (4 rows) and DE (2 rows), so concatenated embeddings differ "
        "in length; choose channels every row has with --channels, or use --multichannel mean",
    )
    rel.assert_error_line(
        cli(*base, "--output", tmp_path / "xx", "--channels", "XX"),
        "--channels 'XX': the dataset has no channel 'XX'; it names DE, FE, BA, all",
    )
    assert not any((tmp_path / name).exists() for name in ("fe", "all", "xx"))

    result = cli(*base, "--output", tmp_path / "mean", "--channels", "all", "--multichannel", "mean")
    assert result.exit_code == 0, result.output
    assert "channels: all (--channels all); rows per set: DE 2, DE,FE,BA 4" in result.output
    rows = embedded(tmp_path / "mean")
    assert [r["embedded_channels"] for r in rows] == [list(s) for s in SETS]
    summary = embed_dataset(
        str(mixed), "logmel-stats", tmp_path / "mean", channels="all", multichannel="mean", progress=False
    )
    assert summary.computed == 0  # same selection, same key: reused
    info = json.loads((tmp_path / "mean" / "embeddings.json").read_text())
    assert info["channels"]["rows_per_set"] == {"DE": 2, "DE,FE,BA": 4} and info["multichannel_rows"] == 4


def test_the_channel_selection_is_in_the_cache_key(mixed):
    from dataclasses import replace

    from libtrad.ray_jobs.embedding.embed import cache_key
    from libtrad.ray_jobs.embedding.encoders import parse_encoder_spec
    from libtrad.ray_jobs.embedding.source import resolve_dataset
    from libtrad.ray_jobs.embedding.units import EmbedOptions

    source = resolve_dataset(str(mixed))
    spec = parse_encoder_spec("logmel-stats")
    keys = {
        name: cache_key(spec, EmbedOptions(channels=names), source, 8)
        for name, names in (("DE", ("DE",)), ("all", None), ("DE,FE", ("DE", "FE")))
    }
    assert len(set(keys.values())) == 3
    assert (
        cache_key(spec, replace(EmbedOptions(channels=("DE",)), chunk_seconds=2.5, batch_size=3), source, 8)
        == keys["DE"]
    )  # how long clips are cut and batched does not change the embeddings


def test_lib_trad_segments_name_their_four_microphones(ray_local, lib_trad_export, tmp_path):
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    embed_dataset(
        str(lib_trad_export), "logmel-stats", tmp_path / "all", config="segments", splits=["train"], progress=False
    )
    embed_dataset(
        str(lib_trad_export),
        "logmel-stats",
        tmp_path / "mic2",
        config="segments",
        splits=["train"],
        channels="mic2",
        progress=False,
    )
    every = {(r["experiment"], r["segment"]): r for r in embedded(tmp_path / "all")}
    second = {(r["experiment"], r["segment"]): r for r in embedded(tmp_path / "mic2")}
    key = next(iter(every))
    assert every[key]["embedded_channels"] == ["mic1", "mic2", "mic3", "mic4"]
    assert second[key]["embedded_channels"] == ["mic2"]
    np.testing.assert_allclose(second[key]["embedding"], every[key]["embedding"][128:256], rtol=1e-6)
    with pytest.raises(LibtradError, match="the dataset has no channel 'DE'; it names mic1, mic2, mic3, mic4, all"):
        embed_dataset(
            str(lib_trad_export), "logmel-stats", tmp_path / "de", config="segments", channels="DE", progress=False
        )
