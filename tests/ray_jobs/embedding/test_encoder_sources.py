"""Encoders from anywhere: Hub ids (offline, a Hub cache laid out as huggingface_hub lays it out) and
a user's own class (``py:package.module:Class?k=v``, ``--encoder-weights``)."""

from __future__ import annotations

import http.server
import shutil
import socket
import textwrap
import threading
import uuid

import numpy as np
import pytest
import torch

from libtrad.core.errors import ParameterError
from libtrad.ray_jobs.embedding.encoders import load_encoder, parse_encoder_spec, preflight

# A user's module: the contract in a few lines, plus switches that break it one way each.
MODULE = textwrap.dedent('''
    import torch


    class Frames(torch.nn.Module):
        """10-ms frames of 160 samples, each projected to ``dim`` values."""

        sampling_rate = 16000
        hop_size_in_ms = 10.0

        def __init__(self, dim=8, scale=1.0, mode="ok"):
            super().__init__()
            if mode == "raise":
                raise RuntimeError("mode raise asked for")
            self.output_dim = dim
            self.scale, self.mode = scale, mode
            self.proj = torch.nn.Linear(160, dim)

        def forward(self, audio):
            frames = audio[:, : audio.shape[1] // 160 * 160].reshape(audio.shape[0], -1, 160)
            out = self.proj(frames) * self.scale
            return {"wrong_dim": lambda: out[..., :-1], "nan": lambda: out * float("nan"),
                    "rank": lambda: out.mean(dim=1), "ok": lambda: out}[self.mode]()


    class NoDim:
        sampling_rate, hop_size_in_ms = 16000, 10.0

        def forward(self, audio):
            return audio[:, None, :4]


    def small(dim=4):
        """A factory: any callable returning an encoder object will do."""
        return Frames(dim=dim)
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module of the user's in its own folder on sys.path (a fresh name per test: nothing cached)."""
    name = f"user_encoder_{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / f"{name}.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(folder))
    yield name
    import sys

    sys.modules.pop(name, None)


def reference(dim: int, scale: float = 1.0, seed: int = 0):
    """The module's Frames built here with known weights (what --encoder-weights will hold)."""
    torch.manual_seed(seed)
    proj = torch.nn.Linear(160, dim)
    return {"proj.weight": proj.weight.detach().clone(), "proj.bias": proj.bias.detach().clone()}


def frames_of(state: dict, clip: np.ndarray, scale: float = 1.0) -> np.ndarray:
    x = torch.from_numpy(clip[: len(clip) // 160 * 160].reshape(-1, 160))
    return ((x @ state["proj.weight"].T + state["proj.bias"]) * scale).numpy()


# ----------------------------------------------------------------------------- py: a user's class
def test_a_users_class_embeds_with_its_weights_and_arguments(user_module, tmp_path):
    from safetensors.torch import save_file

    state = reference(6)
    save_file(state, tmp_path / "w.safetensors")
    encoder = load_encoder(
        parse_encoder_spec(f"py:{user_module}:Frames?dim=6&scale=0.5", weights=tmp_path / "w.safetensors"), device="cpu"
    )
    clips = [np.random.default_rng(1).standard_normal(n).astype(np.float32) for n in (16000, 4000)]
    pooled, frames = encoder.embed(clips)
    for clip, got, clip_embedding in zip(clips, frames, pooled):
        expected = frames_of(state, clip, 0.5)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(clip_embedding, expected.mean(axis=0), rtol=1e-5, atol=1e-6)  # clip = mean of frames
    assert (encoder.sampling_rate, encoder.output_dim, encoder.hop_size_in_ms) == (16000, 6, 10.0)
    assert preflight(f"py:{user_module}:small?dim=3")["output_dim"] == 3  # a factory works as well


def test_check_encoder_passes_on_a_users_class(user_module, cli):
    result = cli("check-encoder", f"py:{user_module}:Frames?dim=5", "--quick")
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("0 failed")


def test_identity_is_module_bytes_class_arguments_and_weights(user_module, tmp_path):
    from safetensors.torch import save_file

    def key(text, weights=None):
        return parse_encoder_spec(text, weights=weights).fingerprint()

    base = key(f"py:{user_module}:Frames?dim=6&scale=0.5")
    assert key(f"py:{user_module}:Frames?scale=0.5&dim=6") == base  # the order of the arguments does not count
    assert key(f"py:{user_module}:Frames?dim=6&scale=0.25") != base
    assert key(f"py:{user_module}:small?dim=6&scale=0.5") != base
    save_file(reference(6), tmp_path / "a.safetensors")
    save_file(reference(6, seed=1), tmp_path / "b.safetensors")
    with_a = key(f"py:{user_module}:Frames?dim=6&scale=0.5", tmp_path / "a.safetensors")
    assert with_a != base and with_a != key(f"py:{user_module}:Frames?dim=6&scale=0.5", tmp_path / "b.safetensors")
    spec = parse_encoder_spec(f"py:{user_module}:Frames?dim=6")
    assert spec.identity["import_root"] == str((tmp_path / "code").resolve())
    assert spec.identity["module_file"] == str((tmp_path / "code" / f"{user_module}.py").resolve())
    assert str(tmp_path) not in str(spec.fingerprint())  # where the module lies is not what it computes
    module = tmp_path / "code" / f"{user_module}.py"
    module.write_text(MODULE + "\n# edited\n")
    assert key(f"py:{user_module}:Frames?dim=6&scale=0.5") != base


def test_a_worker_without_the_module_imports_the_shipped_file(user_module, tmp_path):
    """What a cluster node gets (embedding/encoder_files): the module's file in a folder of its own,
    no import_root there. A module edited after the job was keyed is refused, not run."""
    from dataclasses import replace

    spec = parse_encoder_spec(f"py:{user_module}:Frames?dim=3")
    shipped = tmp_path / "worker" / "identity" / "module_file" / f"{user_module}_elsewhere.py"
    shipped.parent.mkdir(parents=True)
    shipped.write_text(MODULE)
    name = f"{user_module}_elsewhere"  # on no sys.path entry: only the shipped file has it
    worker = replace(
        spec,
        target=f"{name}:Frames",
        identity={
            **spec.identity,
            "module": name,
            "module_file": str(shipped),
            "import_root": str(tmp_path / "not-on-this-node"),
        },
    )
    try:
        assert load_encoder(worker, device="cpu").embed([np.zeros(1600, np.float32)])[0].shape == (1, 3)
    finally:
        import sys

        sys.modules.pop(name, None)
    (tmp_path / "code" / f"{user_module}.py").write_text(MODULE + "\n# edited after the key\n")
    with pytest.raises(ParameterError, match="whose bytes differ from the module file the job was keyed on"):
        load_encoder(spec, device="cpu")


BAD_PY = [
    ("{m}_absent:Frames", "no module named"),
    ("{m}_syntax:Frames", "SyntaxError"),
    ("{m}:Absent", "has no 'Absent'"),
    ("{m}:Frames?mode=raise", "raised RuntimeError: mode raise asked for"),
    ("{m}:NoDim", "has no output_dim"),
    ("{m}:Frames?mode=wrong_dim", "7 values per frame, but output_dim says 8"),
    ("{m}:Frames?mode=rank", "not (batch 2, frames, output_dim 8)"),
    ("{m}:Frames?mode=nan", "NaN or infinite"),
    ("{m}", "needs package.module:Class"),
    ("{m}:Frames?dim", "is not key=value"),
    ("{m}:Frames?dim=1&dim=2", "given twice"),
]


@pytest.mark.parametrize("target, fragment", BAD_PY, ids=[f for f, _ in BAD_PY])
def test_a_class_that_breaks_the_contract_is_one_line(target, fragment, user_module, tmp_path, cli, rel):
    (tmp_path / "code" / f"{user_module}_syntax.py").write_text("class Frames(:\n    pass\n")
    text = "py:" + target.format(m=user_module)
    rel.assert_error_line(cli("check-encoder", text, "--quick"), f"SPEC {text!r}", fragment)


@pytest.mark.parametrize(
    "case, fragment",
    [
        ("extra", "1 unexpected tensor: extra"),
        ("shape", "proj.weight (5, 160) in the file, (6, 160) in the model"),
        ("missing", "1 missing tensor: proj.bias"),
        ("format", "must be a .safetensors file"),
        ("absent", "does not exist"),
    ],
)
def test_encoder_weights_that_do_not_fit_are_one_line(case, fragment, user_module, tmp_path, cli, rel):
    from safetensors.torch import save_file

    state = reference(6)
    state = {
        "extra": {**state, "extra": torch.zeros(1)},
        "shape": {**state, "proj.weight": torch.zeros(5, 160)},
        "missing": {"proj.weight": state["proj.weight"]},
    }.get(case, state)
    path = tmp_path / ("w.pt" if case == "format" else "w.safetensors")
    if case != "absent":
        save_file(state, path)
    before = rel.snapshot(tmp_path / "code", path)
    line = rel.assert_error_line(
        cli("check-encoder", f"py:{user_module}:Frames?dim=6", "--encoder-weights", path), "--encoder-weights", fragment
    )
    assert str(path) in line
    assert rel.snapshot(tmp_path / "code", path) == before


@pytest.mark.parametrize(
    "encoder, extra, fragments",
    [
        ("py:{m}:Frames?mode=nan", (), ["--encoder", "NaN or infinite"]),
        ("py:{m}:Frames?dim=6", ("--encoder-weights", "{w}"), ["--encoder-weights", "1 unexpected tensor: extra"]),
        ("logmel-stats", ("--encoder-weights", "{w}"), ["--encoder-weights", "logmel-stats has no weights"]),
    ],
    ids=["nan", "weights", "weights-for-a-kind-without"],
)
def test_embed_refuses_a_broken_users_class_before_ray(
    encoder, extra, fragments, user_module, lib_trad_export, tmp_path, cli, rel, monkeypatch
):
    from safetensors.torch import save_file

    import libtrad.ray_jobs.cluster as cluster

    monkeypatch.setattr(cluster, "ray_session", lambda *a, **k: pytest.fail("Ray was started"))
    save_file({**reference(6), "extra": torch.zeros(1)}, tmp_path / "w.safetensors")
    before = rel.snapshot(tmp_path / "code", tmp_path / "w.safetensors")
    args = [a.format(w=tmp_path / "w.safetensors") for a in extra]
    rel.assert_error_line(
        cli(
            "embed",
            "--dataset",
            lib_trad_export,
            "--config",
            "tr1",
            "--encoder",
            encoder.format(m=user_module),
            "--output",
            tmp_path / "emb",
            *args,
        ),
        *fragments,
    )
    assert not (tmp_path / "emb").exists()
    assert rel.snapshot(tmp_path / "code", tmp_path / "w.safetensors") == before


def test_embed_with_a_users_class_on_ray(user_module, lib_trad_export, tmp_path, cli):
    """The one embed through the CLI: actors (other processes) import the module from its folder."""
    import pyarrow.parquet as pq

    out = tmp_path / "emb"
    result = cli(
        "embed",
        "--dataset",
        lib_trad_export,
        "--config",
        "tr1",
        "--split",
        "test",
        "--encoder",
        f"py:{user_module}:Frames?dim=4",
        "--output",
        out,
        "--actors",
        "1",
        "--threads-per-actor",
        "1",
    )
    assert result.exit_code == 0, result.output
    files = sorted(out.rglob("*.parquet"))
    table = pq.read_table(files[0])
    assert len(table) > 0 and len(table.column("embedding")[0].as_py()) == 4


# ----------------------------------------------------------------------------- Hub ids
def test_hub_ids_resolve_offline_to_the_snapshot_and_its_commit(echo_dir, ae_dir, hub_cache):
    snapshot = hub_cache(echo_dir, "org/tiny-echo")
    commit = snapshot.name
    specs = [parse_encoder_spec(f"echo:org/tiny-echo{rev}") for rev in ("", "@main", f"@{commit}")]
    for spec in specs:
        assert spec.path == snapshot and spec.source["commit"] == commit and spec.source["repo_id"] == "org/tiny-echo"
        assert (spec.path / "model.safetensors").is_symlink()  # read through the cache's links
    assert [s.source["revision"] for s in specs] == ["main", "main", commit]
    assert specs[0].fingerprint() == specs[1].fingerprint() == specs[2].fingerprint()
    assert preflight(specs[0]) == preflight(f"echo:{echo_dir}")  # the loaders read through the links
    hub_cache(ae_dir, "org/tiny-ae")
    assert preflight("attention-ae:org/tiny-ae")["output_dim"] == 8


def test_a_hub_snapshot_of_a_libtrad_folder_is_verified_through_its_links(echo_dir, hub_cache, tmp_path):
    from libtrad.folders.outputs import write_marker
    from libtrad.ray_jobs.embedding.encoders import check_encoder_folder

    folder = tmp_path / "echo"
    shutil.copytree(echo_dir, folder)
    write_marker(folder, "model")  # what `libtrad convert echo` leaves, then `publish model` uploads
    hub_cache(folder, "org/libtrad-echo")
    assert check_encoder_folder(parse_encoder_spec("echo:org/libtrad-echo")) == {"verified": True}


def test_the_cache_key_follows_the_commit(echo_dir, hub_cache):
    first = hub_cache(echo_dir, "org/tiny-echo", commit="a" * 40)
    key_a = parse_encoder_spec("echo:org/tiny-echo@main").fingerprint()
    assert parse_encoder_spec("echo:org/tiny-echo").fingerprint() == key_a  # asked again: the same key
    hub_cache(echo_dir, "org/tiny-echo", commit="b" * 40)  # main moves to a new commit, same bytes
    key_b = parse_encoder_spec("echo:org/tiny-echo@main").fingerprint()
    assert key_b != key_a and key_b["files"] == key_a["files"]
    assert parse_encoder_spec(f"echo:org/tiny-echo@{first.name}").fingerprint() == key_a


@pytest.mark.parametrize(
    "spec, fragments",
    [
        (
            "echo:org/tiny-echo@v-does-not-exist",
            ["revision 'v-does-not-exist' of org/tiny-echo is not in the Hub cache", "cached: main"],
        ),
        ("echo:org/unknown", ["org/unknown is not in the Hub cache", "HF_HUB_OFFLINE"]),
        ("hf:org/unknown@v1", ["org/unknown is not in the Hub cache"]),
        ("echo:./org/unknown", ["is not a folder"]),
        ("echo:org/" + "a" * 5000, ["…[5004 characters]…", "is not a folder (nor a Hub id ORG/NAME[@REV])"]),
    ],
    ids=["revision", "unknown", "hf-unknown", "relative", "5000-characters"],
)
def test_a_hub_id_that_is_not_there_is_one_line(spec, fragments, echo_dir, hub_cache, cli, rel):
    """A 5,000-character id is shortened in the line (no "File name too long" from trying it as a folder)."""
    from libtrad.core.errors import LINE_LIMIT, shown

    hub_cache(echo_dir, "org/tiny-echo")
    line = rel.assert_error_line(cli("check-encoder", spec, "--quick"), f"SPEC {shown(spec)}", *fragments)
    assert len(line) <= LINE_LIMIT + len("error: ")


def test_evaluate_lib_trad_takes_a_hub_id(ae_dir, hub_cache, tmp_path, cli, rel):
    snapshot = hub_cache(ae_dir, "org/tiny-ae")
    args = ("evaluate", "lib-trad", "--dataset", tmp_path / "no-dataset", "--output", tmp_path / "out", "--model")
    # an attention AE encoder, not a LiB-TRAD scorer: read from the snapshot as far as its weights' layout
    rel.assert_error_line(cli(*args, "org/tiny-ae"), f"{snapshot / 'model.safetensors'}: does not match config.json")
    rel.assert_error_line(cli(*args, "org/tiny-ae@nope"), "--model org/tiny-ae@nope", "revision 'nope'")


# ----------------------------------------------------------------------------- the Hub online (a loopback stand-in)
class _Hub(http.server.BaseHTTPRequestHandler):
    """Answers every request as the Hub answers one failure (``status``, ``X-Error-Code``)."""

    answer: tuple[int, dict] = (404, {})

    def do_GET(self):  # noqa: N802 - http.server's name
        status, headers = self.answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def online_hub(hub_cache, monkeypatch):
    """huggingface_hub online, pointed at ``set_answer``'s loopback server (``HF_ENDPOINT``)."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("Hub", (_Hub,), {}))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")

    def set_answer(status: int, **headers):
        server.RequestHandlerClass.answer = (status, {k.replace("_", "-"): v for k, v in headers.items()})

    yield set_answer
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "status, headers, fragment",
    [
        (404, {"X_Error_Code": "RepoNotFound"}, "no Hub model repository org/private"),
        (
            404,
            {"X_Error_Code": "RevisionNotFound"},
            "revision 'v9' does not exist in the Hub model repository org/private",
        ),
        (403, {"X_Error_Code": "GatedRepo"}, "is gated: ask for access"),
        (401, {"X_Error_Message": "Invalid credentials in Authorization header"}, "denied (HTTP 401)"),
        (500, {}, "the Hub cannot be reached"),
    ],
)
def test_hub_failures_online_are_one_line(status, headers, fragment, online_hub):
    online_hub(status, **headers)
    with pytest.raises(ParameterError) as caught:
        parse_encoder_spec("echo:org/private@v9")
    message = str(caught.value)
    assert fragment in message and "\n" not in message and message.startswith("encoder='echo:org/private@v9'")


def test_a_hub_that_cannot_be_reached_is_one_line(hub_cache, monkeypatch):
    import huggingface_hub.constants as constants

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(ParameterError, match=r"the Hub cannot be reached \(ConnectError.*org/x at 'main' is not in"):
        parse_encoder_spec("hf:org/x")


def test_an_existing_local_folder_wins_over_a_hub_id(echo_dir, hub_cache, tmp_path, monkeypatch):
    shutil.copytree(echo_dir, tmp_path / "org" / "tiny-echo")
    monkeypatch.chdir(tmp_path)
    spec = parse_encoder_spec("echo:org/tiny-echo")
    assert spec.path == (tmp_path / "org" / "tiny-echo").resolve() and spec.source == {}
