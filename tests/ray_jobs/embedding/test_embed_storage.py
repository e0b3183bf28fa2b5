"""``libtrad embed`` without a shared filesystem: s3:// in and out (moto's S3 server on loopback), the
encoder shipped through Ray's object store, resume after a killed driver, exactly once, one-line errors."""

from __future__ import annotations

import io
import json
import os
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

pytest.importorskip("s3fs")
pytest.importorskip("moto")

CONFIG = "tr1"
KEYS = ("experiment", "segment", "channel")


@pytest.fixture(scope="module")
def s3_ray(s3_server):
    """One local Ray for the module, started with the S3 endpoint and test credentials in its
    environment — how a worker gets credentials: the environment it inherits (see README)."""
    names = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": s3_server,
        "AWS_ENDPOINT_URL": s3_server,
    }
    old = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    from libtrad.ray_jobs.cluster import ray_session

    try:
        with ray_session(num_cpus=2) as ray:
            yield ray
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def s3_dataset(s3_env, lib_trad_export):
    """The export's card, marker and one config uploaded to a fresh bucket: ``s3://BUCKET/ds``."""
    import s3fs

    fs = s3fs.S3FileSystem()
    bucket = s3_env[len("s3://") :]
    for rel in ("README.md", ".libtrad.json"):
        fs.put_file(str(lib_trad_export / rel), f"{bucket}/ds/{rel}")
    for path in sorted((lib_trad_export / "data" / CONFIG).glob("*.parquet")):
        fs.put_file(str(path), f"{bucket}/ds/data/{CONFIG}/{path.name}")
    return fs, bucket


def _objects(fs, prefix: str) -> dict[str, bytes]:
    fs.invalidate_cache()
    return {p: fs.cat_file(p) for p in sorted(fs.find(prefix))}


def _rows(fs, prefix: str) -> list[dict]:
    files = sorted(p for p in fs.find(prefix) if p.endswith(".parquet") and "/data/" in p)
    return [r for p in files for r in pq.read_table(io.BytesIO(fs.cat_file(p))).to_pylist()]


def _input_ids(export) -> list[tuple]:
    rows = [r for f in sorted((export / "data" / CONFIG).glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    return sorted(tuple(r[k] for k in KEYS) for r in rows)


def test_s3_to_s3_resumes_after_a_killed_driver_and_publishes_every_row_once(
    s3_ray, s3_dataset, lib_trad_export, tmp_path, cli, driver
):
    """From s3:// to s3:// (the encoder's shipping is tested in-process below). The driver (attached
    to the module's Ray) is SIGKILLed after 2 staged units: nothing at the output, 2 units staged
    beside it. The re-run computes only the others; the output holds every input row once, the
    in-process encoder's embeddings, a marker listing every object's SHA-256, and nothing is left
    beside it. A third run reuses the finished output and rewrites nothing."""
    import hashlib

    import soundfile as sf

    from libtrad.ray_jobs.embedding.embed import embed_dataset
    from libtrad.ray_jobs.embedding.encoders import load_encoder

    fs, bucket = s3_dataset
    dataset, url = f"s3://{bucket}/ds", f"s3://{bucket}/out/emb"
    script = (
        "import sys\nfrom libtrad.ray_jobs.embedding.embed import embed_dataset\n"
        "embed_dataset(sys.argv[1], sys.argv[2], sys.argv[3], config='tr1', rows_per_unit=4, actors=1, "
        "address=sys.argv[4], progress=False)\n"
    )
    address = s3_ray.get_runtime_context().gcs_address
    driver.killed_driver(["-c", script, dataset, "logmel-stats", url, address], 2, timeout=240)
    fs.invalidate_cache()
    assert not fs.find(f"{bucket}/out/emb"), "a killed driver left objects at the output"
    staged = [p for p in fs.find(f"{bucket}/out") if p.endswith(".parquet")]
    assert len(staged) == 2 and all("/.emb.resume-" in p for p in staged), staged

    summary = embed_dataset(dataset, "logmel-stats", url, config=CONFIG, rows_per_unit=4, progress=False)
    assert summary.output == url and summary.reused == 2 and summary.computed == summary.units - 2 == 4
    rows = _rows(fs, f"{bucket}/out/emb")
    ids = [tuple(r[k] for k in KEYS) for r in rows]
    assert sorted(ids) == _input_ids(lib_trad_export) and len(set(ids)) == len(ids)
    source = {
        tuple(r[k] for k in KEYS): r
        for f in sorted((lib_trad_export / "data" / CONFIG).glob("test-*.parquet"))
        for r in pq.read_table(f).to_pylist()
    }
    key, row = max(source.items())
    clip, _ = sf.read(io.BytesIO(row["audio"]["bytes"]), dtype="float32")
    expected = load_encoder("logmel-stats").embed([clip])[0][0]
    np.testing.assert_allclose(
        next(r["embedding"] for r in rows if tuple(r[k] for k in KEYS) == key), expected, atol=1e-5
    )

    objects = _objects(fs, bucket)
    out = {p[len(f"{bucket}/out/emb/") :]: data for p, data in objects.items() if p.startswith(f"{bucket}/out/")}
    marker = json.loads(out.pop(".libtrad.json"))
    assert marker["kind"] == "embeddings"
    assert marker["files"] == {rel: hashlib.sha256(data).hexdigest() for rel, data in out.items()}
    assert {"embeddings.json", "README.md"} <= set(out)
    assert json.loads(out["embeddings.json"])["dataset"]["source"] == dataset
    assert all(p.startswith((f"{bucket}/ds/", f"{bucket}/out/emb/")) for p in objects), "staging left behind"

    again = embed_dataset(dataset, "logmel-stats", url, config=CONFIG, rows_per_unit=4, progress=False)
    assert again.computed == 0 and again.reused == again.units and _objects(fs, bucket) == objects

    fs.get(f"{bucket}/out/emb", str(tmp_path / "copy"), recursive=True)  # a libtrad folder verify accepts
    verified = cli("verify", tmp_path / "copy")
    assert verified.exit_code == 0, verified.output


def test_store_mistakes_are_one_error_line_naming_the_url_and_nothing_is_written(
    s3_dataset, lib_trad_export, tmp_path, cli, rel, monkeypatch
):
    """A missing bucket (as input or output), denied credentials, a prefix libtrad did not write:
    exit 2, one `error:` line naming the URL, the bucket byte-identical (all refused before any work)."""
    fs, bucket = s3_dataset
    fs.pipe_file(f"{bucket}/mine/notes.txt", b"mine")
    before = _objects(fs, bucket)

    def embed(dataset, output):
        return cli("embed", "--dataset", dataset, "--encoder", "logmel-stats", "--output", output, "--config", CONFIG)

    rel.assert_error_line(
        embed(f"s3://no-such-bucket-{bucket}/ds", str(tmp_path / "emb")),
        f"s3://no-such-bucket-{bucket}/ds",
        "does not exist",
    )
    rel.assert_error_line(
        embed(str(lib_trad_export), f"s3://no-such-bucket-{bucket}/emb"),
        f"s3://no-such-bucket-{bucket}/emb",
        "does not exist",
    )
    rel.assert_error_line(
        embed(f"s3://{bucket}/ds", f"s3://{bucket}/mine"), f"s3://{bucket}/mine", "not a libtrad folder"
    )
    rel.assert_error_line(embed(f"s3://{bucket}/ds", f"s3://{bucket}/ds/emb"), "lies inside the input dataset")
    rel.assert_error_line(embed(f"s3://{bucket}/ds", "hf://datasets/me/emb"), "hf://datasets/me/emb", "publish dataset")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    rel.assert_error_line(embed(f"s3://{bucket}/ds", f"file://{tmp_path}/mine"), "not a libtrad folder")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine" and not (tmp_path / "emb").exists()

    import moto.settings
    import s3fs

    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto now checks credentials: ours are none
    s3fs.S3FileSystem.clear_instance_cache()
    line = rel.assert_error_line(
        embed(f"s3://{bucket}/ds", str(tmp_path / "emb")), f"s3://{bucket}/ds", "access denied"
    )
    assert "testing" not in line  # no credential is printed
    rel.assert_error_line(embed(str(lib_trad_export), f"s3://{bucket}/emb"), f"s3://{bucket}/emb", "access denied")
    monkeypatch.undo()
    s3fs.S3FileSystem.clear_instance_cache()
    assert _objects(fs, bucket) == before and not (tmp_path / "emb").exists()


def test_the_encoder_travels_as_bytes_and_loads_where_its_folder_does_not_exist(echo_dir, lib_trad_export, tmp_path):
    """What an actor does, in-process: the spec's folder is gone on this "node", the shipped bytes
    (checked against the driver's digests) load the same encoder; a changed or corrupted file is refused."""
    import shutil
    from dataclasses import replace

    from libtrad.core.errors import LibtradError
    from libtrad.ray_jobs.embedding.encoder_files import Materialised, pack
    from libtrad.ray_jobs.embedding.encoders import parse_encoder_spec
    from libtrad.ray_jobs.embedding.source import resolve_dataset
    from libtrad.ray_jobs.embedding.units import EmbedOptions, UnitEmbedder, plan_units

    model = tmp_path / "echo"
    shutil.copytree(echo_dir, model)
    spec = parse_encoder_spec(f"echo:{model}")
    digests, blobs = pack(spec)
    assert set(digests) >= {"model/config.json", "model/model.safetensors"}
    source = resolve_dataset(str(lib_trad_export), CONFIG, ["test"])
    unit = plan_units(source, 4)[0]
    here = UnitEmbedder(spec, EmbedOptions(), source, threads=1).run(unit)[0]
    elsewhere = replace(spec, path=tmp_path / "not-on-this-node")
    shipped = UnitEmbedder(elsewhere, EmbedOptions(), source, threads=1, files=(digests, blobs)).run(unit)[0]
    assert shipped.column("embedding").equals(here.column("embedding"))

    broken = {**blobs, "model/model.safetensors": blobs["model/model.safetensors"][:-1] + b"\0"}
    with pytest.raises(LibtradError, match="another SHA-256"):
        with Materialised(spec, digests, broken):
            pass
    keyed = spec.fingerprint()  # what the cache key hashed; then the folder changes before the shipping
    (model / "config.json").write_text((model / "config.json").read_text() + " ")
    with pytest.raises(LibtradError, match="config.json: changed while the job started"):
        pack(spec, keyed)


def test_an_object_store_output_is_replaced_by_the_completion_manifest_protocol(s3_env, monkeypatch):
    """RemoteOutput alone (no Ray): a new output replaces only the objects the old marker lists (a
    user's object stays), a publication killed half-way leaves no marker (readers see none) and is
    finished by the next run, and an object libtrad did not write where it would write is refused."""
    import hashlib

    import s3fs

    from libtrad.core.errors import LibtradError
    from libtrad.folders.storage import INCOMPLETE, RemoteOutput

    fs = s3fs.S3FileSystem()
    bucket = s3_env[len("s3://") :]
    url = f"{s3_env}/out/emb"

    def publish(key: str, files: dict[str, bytes]) -> None:
        out = RemoteOutput(url, "embeddings")
        out.check()
        staging = out.staging(key)
        for rel, data in files.items():
            staging.put(rel, data)
        out.publish(staging, {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()})

    publish("k1", {"a.parquet": b"a1", "b.parquet": b"b1"})
    fs.pipe_file(f"{bucket}/out/emb/notes.txt", b"mine")
    real_copy, copies = fs.copy, []

    def dying_copy(src, dst, **kw):  # the driver dies after its first copy into the output
        if copies:
            raise KeyboardInterrupt
        copies.append(dst)
        return real_copy(src, dst, **kw)

    monkeypatch.setattr(fs, "copy", dying_copy)  # fsspec caches the instance: RemoteOutput's is this one
    with pytest.raises(KeyboardInterrupt):
        publish("k2", {"a.parquet": b"a2", "c.parquet": b"c2"})
    monkeypatch.undo()
    left = _objects(fs, f"{bucket}/out/emb")
    assert f"{bucket}/out/emb/.libtrad.json" not in left and f"{bucket}/out/emb/{INCOMPLETE}" in left

    publish("k2", {"a.parquet": b"a2", "c.parquet": b"c2"})
    done = _objects(fs, f"{bucket}/out")
    out = {p[len(f"{bucket}/out/emb/") :]: d for p, d in done.items() if p.startswith(f"{bucket}/out/emb/")}
    assert set(done) == {f"{bucket}/out/emb/{rel}" for rel in out}, "staging left beside the output"
    assert out.pop("notes.txt") == b"mine" and json.loads(out.pop(".libtrad.json"))["files"] == {
        "a.parquet": hashlib.sha256(b"a2").hexdigest(),
        "c.parquet": hashlib.sha256(b"c2").hexdigest(),
    }
    assert out == {"a.parquet": b"a2", "c.parquet": b"c2"}

    fs.pipe_file(f"{bucket}/out/emb/d.parquet", b"user's")
    with pytest.raises(LibtradError, match="d.parquet: an object libtrad did not write"):
        publish("k3", {"d.parquet": b"d3"})
    after = _objects(fs, f"{bucket}/out/emb")
    assert after[f"{bucket}/out/emb/d.parquet"] == b"user's" and f"{bucket}/out/emb/.libtrad.json" in after


def test_a_py_class_module_travels_too_and_imports_where_its_folder_does_not_exist(
    lib_trad_export, tmp_path, monkeypatch
):
    """``py:module:Class``: the module file recorded in the spec's identity is shipped and imported from
    the worker's copy when the driver's import root is not on the worker's node."""
    import shutil
    from dataclasses import replace

    from libtrad.ray_jobs.embedding.encoder_files import pack
    from libtrad.ray_jobs.embedding.encoders import parse_encoder_spec
    from libtrad.ray_jobs.embedding.source import resolve_dataset
    from libtrad.ray_jobs.embedding.units import EmbedOptions, UnitEmbedder, plan_units

    root = tmp_path / "driver-only"
    root.mkdir()
    (root / "libtrad_shipped_enc.py").write_text(
        "import torch\n\n\nclass Enc(torch.nn.Module):\n"
        "    sampling_rate, output_dim, hop_size_in_ms = 16000, 4, 10.0\n\n"
        "    def forward(self, audio):\n"
        "        frames = audio[:, : audio.shape[1] // 160 * 160].reshape(audio.shape[0], -1, 160)\n"
        "        return torch.stack([frames.mean(-1), frames.std(-1), frames.amin(-1), frames.amax(-1)], -1)\n"
    )
    monkeypatch.syspath_prepend(str(root))
    spec = parse_encoder_spec("py:libtrad_shipped_enc:Enc")
    digests, blobs = pack(spec)
    assert "identity/module_file/libtrad_shipped_enc.py" in digests
    shutil.rmtree(root)  # the worker's node: neither the folder nor the imported module
    monkeypatch.delitem(sys.modules, "libtrad_shipped_enc", raising=False)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(root)])
    elsewhere = replace(spec, identity={**spec.identity, "import_root": str(tmp_path / "not-on-this-node")})
    source = resolve_dataset(str(lib_trad_export), CONFIG, ["test"])
    table, stats = UnitEmbedder(elsewhere, EmbedOptions(), source, threads=1, files=(digests, blobs)).run(
        plan_units(source, 4)[0]
    )
    assert stats["dim"] == 4 and table.num_rows == 4
    monkeypatch.delitem(sys.modules, "libtrad_shipped_enc", raising=False)
