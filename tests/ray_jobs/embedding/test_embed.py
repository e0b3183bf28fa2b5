"""``libtrad embed`` on a local Ray: in-process equality, multichannel, exactly-once, resume, cache key."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import torch

from libtrad.core.errors import LibtradError, ParameterError

CRASH_CONFIG = "tr2"  # the config whose first unit kills its actor once (see the ray fixture)


@pytest.fixture(scope="module")
def crash_flag(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("crash") / "crashed"


@pytest.fixture(scope="module")
def ray_local(crash_flag):
    """One local Ray for the module; its workers see the crash hook's variables (set before start)."""
    old = {k: os.environ.get(k) for k in ("LIBTRAD_TEST_CRASH_UNIT", "LIBTRAD_TEST_CRASH_FLAG")}
    os.environ["LIBTRAD_TEST_CRASH_UNIT"] = (
        f"data/{CRASH_CONFIG}/train/data__{CRASH_CONFIG}__train-00000-of-00001.rows-0000000-0000008.parquet"
    )
    os.environ["LIBTRAD_TEST_CRASH_FLAG"] = str(crash_flag)
    from libtrad.ray_jobs.cluster import ray_session

    with ray_session(num_cpus=2) as ray:
        yield ray
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def read_rows(folder: Path, split: str | None = None) -> list[dict]:
    files = sorted(folder.glob("data/**/*.parquet"))
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]
    return [r for r in rows if split is None or r["split"] == split]


def source_clips(export: Path, config: str, split: str) -> list[tuple[dict, np.ndarray]]:
    rows = []
    for f in sorted(export.glob(f"data/{config}/{split}-*.parquet")):
        for r in pq.read_table(f).to_pylist():
            samples, _ = sf.read(io.BytesIO(r["audio"]["bytes"]), dtype="float32", always_2d=True)
            rows.append((r, samples.T))
    return rows


def test_echo_embeddings_equal_the_in_process_encoder(ray_local, lib_trad_export, echo_dir, tmp_path):
    from libtrad.models.echo import EchoWaveformEncoder
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    summary = embed_dataset(
        str(lib_trad_export),
        f"echo:{echo_dir}",
        tmp_path / "emb",
        config="tr1",
        actors=2,
        threads_per_actor=1,
        frames=True,
        progress=False,
    )
    reference = EchoWaveformEncoder.from_pretrained(echo_dir)
    for split in ("train", "test"):
        got = read_rows(tmp_path / "emb", split)
        source = source_clips(lib_trad_export, "tr1", split)
        assert len(got) == len(source) == summary.rows[split]
        by_key = {(r["segment"], r["channel"], r["experiment"]): r for r in got}
        out = reference.embed([clip[0] for _, clip in source])
        for i, (row, _) in enumerate(source):
            mine = by_key[(row["segment"], row["channel"], row["experiment"])]
            np.testing.assert_allclose(mine["embedding"], out.pooler_output[i].numpy(), atol=1e-5)
            frames = out.last_hidden_state[i][out.frames_mask[i]].numpy()
            np.testing.assert_allclose(np.array(mine["frames"]), frames, atol=1e-5)
            assert {k: v for k, v in mine.items() if k not in ("split", "embedding", "frames")} == {
                k: v for k, v in row.items() if k != "audio"
            }
    info = json.loads((tmp_path / "emb" / "embeddings.json").read_text())
    assert info["embedding_dim"] == reference.output_dim and info["rows"] == summary.rows
    assert info["encoder"]["files"]["model.safetensors"]
    assert info["dataset"]["component"] == "lib-trad"  # the export's manifest: the leaderboard's column comes from it
    from libtrad.folders.marker import read_marker

    assert read_marker(tmp_path / "emb")["kind"] == "embeddings"


def test_embeddings_folder_loads_with_load_dataset(ray_local, lib_trad_export, tmp_path, fresh_python):
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    embed_dataset(str(lib_trad_export), "logmel-stats", tmp_path / "emb", config="tr1", progress=False)
    out = fresh_python(
        "import sys, datasets\n"
        "ds = datasets.load_dataset(sys.argv[1], 'tr1', split='test', cache_dir=sys.argv[2])\n"
        "print(ds.num_rows, len(ds[0]['embedding']), ds.features['label'].names)\n",
        tmp_path / "emb",
        tmp_path / "cache",
    )
    rows, dim, names = out.splitlines()[-1].split(" ", 2)
    assert int(rows) == len(read_rows(tmp_path / "emb", "test")) and int(dim) == 128
    assert "normal" in names


def test_logmel_stats_are_the_front_end_band_mean_and_std(ray_local, lib_trad_export, tmp_path):
    from libtrad.models.frontend import log_mel_spectrogram
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    embed_dataset(str(lib_trad_export), "logmel-stats", tmp_path / "emb", config="tr1", splits=["test"], progress=False)
    got = {(r["segment"], r["channel"]): np.array(r["embedding"]) for r in read_rows(tmp_path / "emb")}
    row, clip = source_clips(lib_trad_export, "tr1", "test")[0]
    mel = log_mel_spectrogram(torch.from_numpy(clip[0]).double(), 16_000).numpy()
    expected = np.concatenate([mel.mean(axis=1), mel.std(axis=1)])
    np.testing.assert_allclose(got[(row["segment"], row["channel"])], expected, rtol=1e-5, atol=1e-4)
    assert set(json.loads((tmp_path / "emb" / "embeddings.json").read_text())["rows"]) == {"test"}


def test_segments_concat_is_per_channel_side_by_side_and_mean_is_their_average(ray_local, lib_trad_export, tmp_path):
    from libtrad.ray_jobs.embedding.embed import embed_dataset
    from libtrad.ray_jobs.embedding.encoders import load_encoder

    embed_dataset(str(lib_trad_export), "logmel-stats", tmp_path / "cat", config="segments", progress=False)
    embed_dataset(
        str(lib_trad_export), "logmel-stats", tmp_path / "mean", config="segments", multichannel="mean", progress=False
    )
    encoder = load_encoder("logmel-stats")
    cat = {(r["experiment"], r["segment"]): np.array(r["embedding"]) for r in read_rows(tmp_path / "cat")}
    mean = {(r["experiment"], r["segment"]): np.array(r["embedding"]) for r in read_rows(tmp_path / "mean")}
    row, clip = source_clips(lib_trad_export, "segments", "train")[0]
    assert clip.shape[0] == 4
    per_channel, _ = encoder.embed(list(clip))
    key = (row["experiment"], row["segment"])
    np.testing.assert_allclose(cat[key], per_channel.reshape(-1), rtol=1e-6)
    np.testing.assert_allclose(mean[key], per_channel.mean(axis=0), rtol=1e-5)
    info = json.loads((tmp_path / "cat" / "embeddings.json").read_text())
    assert info["embedding_dim"] == 4 * 128 and info["multichannel_rows"] == len(cat)


def test_an_actor_killed_mid_job_still_gives_every_row_exactly_once(ray_local, lib_trad_export, crash_flag, tmp_path):
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    summary = embed_dataset(
        str(lib_trad_export),
        "logmel-stats",
        tmp_path / "emb",
        config=CRASH_CONFIG,
        actors=2,
        threads_per_actor=1,
        progress=False,
    )
    assert crash_flag.exists(), "the crash hook did not fire: the test proves nothing"
    for split in ("train", "test"):
        got = [(r["experiment"], r["segment"], r["channel"]) for r in read_rows(tmp_path / "emb", split)]
        want = [
            (r["experiment"], r["segment"], r["channel"]) for r, _ in source_clips(lib_trad_export, CRASH_CONFIG, split)
        ]
        assert sorted(got) == sorted(want) and len(set(got)) == len(got) == summary.rows[split]


def test_a_killed_driver_resumes_with_only_the_missing_units(ray_local, lib_trad_export, tmp_path, driver):
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    out = tmp_path / "emb"
    script = (
        "import sys\nfrom libtrad.ray_jobs.embedding.embed import embed_dataset\n"
        "embed_dataset(sys.argv[1], 'logmel-stats', sys.argv[2], config='all', rows_per_unit=8, actors=1, "
        "progress=False)\n"
    )
    driver.killed_driver(["-c", script, lib_trad_export, out], 2, drop=("LIBTRAD_TEST_CRASH_UNIT",))
    assert not out.exists()
    staged = [p for p in tmp_path.glob(".emb.resume-*/content/data/**/*.parquet")]
    assert len(staged) == 2
    summary = embed_dataset(str(lib_trad_export), "logmel-stats", out, config="all", rows_per_unit=8, progress=False)
    assert summary.reused == 2 and summary.computed == summary.units - 2
    clean = embed_dataset(
        str(lib_trad_export), "logmel-stats", tmp_path / "clean", config="all", rows_per_unit=8, progress=False
    )
    assert clean.cache_key == summary.cache_key
    for a, b in zip(sorted(out.glob("data/**/*.parquet")), sorted((tmp_path / "clean").glob("data/**/*.parquet"))):
        assert a.relative_to(out) == b.relative_to(tmp_path / "clean")
        ta, tb = pq.read_table(a), pq.read_table(b)
        assert ta.equals(tb), [
            (c, ta.column(c).to_pylist()[:2], tb.column(c).to_pylist()[:2])
            for c in ta.column_names
            if not ta.column(c).equals(tb.column(c))
        ][:2]
    assert not list(tmp_path.glob(".emb.*")), "staging or lock files left behind"


def test_changing_one_weight_invalidates_the_cache(ray_local, lib_trad_export, echo_dir, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from libtrad.ray_jobs.embedding.embed import embed_dataset

    model = tmp_path / "echo"
    shutil.copytree(echo_dir, model)
    first = embed_dataset(
        str(lib_trad_export), f"echo:{model}", tmp_path / "emb", config="tr1", splits=["test"], progress=False
    )
    again = embed_dataset(
        str(lib_trad_export), f"echo:{model}", tmp_path / "emb", config="tr1", splits=["test"], progress=False
    )
    assert again.cache_key == first.cache_key and again.computed == 0
    before = read_rows(tmp_path / "emb")
    weights = load_file(model / "model.safetensors")
    name = next(k for k in sorted(weights) if k.endswith("weight"))
    weights[name] = weights[name].clone()
    weights[name].view(-1)[0] += 1.0
    save_file(weights, model / "model.safetensors", metadata={"format": "pt"})
    changed = embed_dataset(
        str(lib_trad_export), f"echo:{model}", tmp_path / "emb", config="tr1", splits=["test"], progress=False
    )
    assert changed.cache_key != first.cache_key and changed.computed == changed.units
    after = read_rows(tmp_path / "emb")
    assert not np.allclose(before[0]["embedding"], after[0]["embedding"])


def test_resampling_to_the_encoder_rate_is_recorded(ray_local, tmp_path):
    """IICA is 48 kHz audio: logmel-stats (16 kHz) resamples every clip and says so."""
    from libtrad.builders.registry import SIREN
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    raw, ds = tmp_path / "raw", tmp_path / "iica"
    SIREN.synthesize(raw, component="iica", seed=0, progress=False)
    SIREN.build(raw, ds, component="iica", progress=False)
    summary = embed_dataset(str(ds), "logmel-stats", tmp_path / "emb", progress=False)
    info = json.loads((tmp_path / "emb" / "embeddings.json").read_text())
    assert info["resampled"] == {"48000->16000": summary.rows["train"]}
    assert "resampled clips: " in (tmp_path / "emb" / "README.md").read_text()


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("nope:/x", "unknown encoder kind 'nope'"),
        ("echo", "echo needs a model folder"),
        ("echo:/does/not/exist", "is not a folder"),
        ("logmel-stats:/x", "logmel-stats takes no folder"),
    ],
)
def test_bad_encoder_specs_are_refused_before_any_work(spec, problem, tmp_path):
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    with pytest.raises(ParameterError, match=problem):
        embed_dataset(str(tmp_path), spec, tmp_path / "emb")


def test_missing_dataset_unknown_config_and_split_are_one_line_errors(lib_trad_export, tmp_path):
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    with pytest.raises(ParameterError, match="no such folder"):
        embed_dataset(str(tmp_path / "missing"), "logmel-stats", tmp_path / "emb")
    with pytest.raises(ParameterError, match="has no such config; it has tr1"):
        embed_dataset(str(lib_trad_export), "logmel-stats", tmp_path / "emb", config="tr9")
    with pytest.raises(ParameterError, match="has no such split; it has train, test"):
        embed_dataset(str(lib_trad_export), "logmel-stats", tmp_path / "emb", config="tr1", splits=["dev"])
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(LibtradError, match="not a libtrad folder"):
        embed_dataset(str(lib_trad_export), "logmel-stats", tmp_path / "mine", config="tr1")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--encoder", "bogus"], ["--encoder 'bogus'", "unknown encoder kind"]),
        (["--encoder", "echo:/no/such/dir"], ["--encoder", "is not a folder"]),
        (["--config", "tr9"], ["--config 'tr9'", "has no such config"]),
        (["--split", "dev"], ["--split 'dev'", "has no such split"]),
        (["--actors", "0"], ["--actors"]),
    ],
)
def test_cli_mistakes_are_one_error_line_naming_the_flag(args, fragments, lib_trad_export, tmp_path, cli, rel):
    base = {
        "--dataset": str(lib_trad_export),
        "--encoder": "logmel-stats",
        "--output": str(tmp_path / "emb"),
        "--config": "tr1",
    }
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    result = cli("embed", *[x for kv in base.items() for x in kv])
    rel.assert_error_line(result, *fragments)
    assert not (tmp_path / "emb").exists()


def test_cli_missing_dataset(tmp_path, cli, rel):
    result = cli(
        "embed", "--dataset", str(tmp_path / "nope"), "--encoder", "logmel-stats", "--output", str(tmp_path / "e")
    )
    rel.assert_error_line(result, "--dataset", "no such folder")


def _ray_listeners() -> set[str]:
    """Local addresses (hex, as /proc/net/tcp{,6} writes them) of every listening socket of a Ray process."""
    inodes = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not any(name in cmdline for name in ("gcs_server", "raylet", "ray::", "ray/_private", "ray/dashboard")):
                continue
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                found.add(fields[1].split(":")[0])
    return found


LOOPBACK_HEX = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


@pytest.mark.skipif(not Path("/proc/net/tcp6").exists(), reason="needs Linux /proc/net")
def test_the_local_ray_listens_on_loopback_only(ray_local):
    """Every socket the module's local Ray listens on is bound to loopback (none on 0.0.0.0 or the LAN address)."""
    import ray

    assert ray.nodes()[0]["NodeManagerAddress"] == "127.0.0.1"
    addresses = _ray_listeners()
    assert addresses and addresses <= LOOPBACK_HEX, addresses


def test_hub_datasets_are_read_through_hffilesystem_at_a_resolved_commit(lib_trad_export, monkeypatch):
    """The Hub path, offline: HfApi/HfFileSystem stand-ins serve the export as repo user/lib-trad@abc123."""
    import huggingface_hub

    from libtrad.ray_jobs.embedding.source import resolve_dataset
    from libtrad.ray_jobs.embedding.units import EmbedOptions, UnitEmbedder, plan_units

    prefix = "datasets/user/lib-trad@abc123"

    class FakeHubFS:
        """The four HfFileSystem calls libtrad makes, served from the local export."""

        def _local(self, path: str) -> Path:
            path = str(path).removeprefix("hf://")
            assert path.startswith(prefix), path
            return Path(str(lib_trad_export) + path[len(prefix) :])

        def glob(self, pattern):
            root = Path(lib_trad_export)
            return [
                f"{prefix}/{p.relative_to(root).as_posix()}"
                for p in root.glob(str(self._local(pattern).relative_to(root)))
            ]

        def exists(self, path):
            return self._local(path).exists()

        def open(self, path, mode="rb", **kw):
            return open(self._local(path), mode, **({"encoding": kw["encoding"]} if "encoding" in kw else {}))

        def info(self, path):
            return {"name": path, "size": self._local(path).stat().st_size, "lfs": {"sha256": "f" * 64}}

    class FakeApi:
        def dataset_info(self, repo_id, revision=None):
            assert repo_id == "user/lib-trad" and revision in (None, "abc123")
            return type("Info", (), {"sha": "abc123"})()

    monkeypatch.setattr(huggingface_hub, "HfFileSystem", FakeHubFS)
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    source = resolve_dataset("user/lib-trad", "tr1", ["test"])
    assert source.hub_id == "user/lib-trad" and source.revision == "abc123"
    assert source.display == "hf://datasets/user/lib-trad@abc123"
    assert [s.checksum for s in source.shards] == ["f" * 64]
    as_url = resolve_dataset("hf://datasets/user/lib-trad@abc123", "tr1", ["test"])  # the URL form, a pinned commit
    assert as_url.display == source.display and as_url.shards == source.shards
    with pytest.raises(ParameterError, match="hf://datasets/ORG/NAME"):
        resolve_dataset("hf://models/user/lib-trad", "tr1")
    embedder = UnitEmbedder("logmel-stats", EmbedOptions(), source, threads=1)
    table, stats = embedder.run(plan_units(source, 64)[0])
    assert table.num_rows == stats["rows"] == source.shards[0].num_rows


def test_an_embeddings_folder_is_publishable_and_verifiable(ray_local, lib_trad_export, tmp_path, cli):
    from libtrad.ray_jobs.embedding.embed import embed_dataset

    embed_dataset(str(lib_trad_export), "logmel-stats", tmp_path / "emb", config="tr1", splits=["test"], progress=False)
    plan = cli("publish", "dataset", tmp_path / "emb", "--repo-id", "me/emb", "--dry-run")
    assert plan.exit_code == 0, plan.output
    assert "embeddings.json" in plan.output and "README.md" in plan.output
    verified = cli("verify", tmp_path / "emb")
    assert verified.exit_code == 0, verified.output
