"""Test-wide setup: offline Hub, a throwaway HF_HOME, and the shared reference fixtures."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Before anything imports datasets/transformers/huggingface_hub (they read these at import).
_HF_HOME = tempfile.mkdtemp(prefix="libtrad-hf-home-")
atexit.register(shutil.rmtree, _HF_HOME, ignore_errors=True)
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.pop("HF_TOKEN", None)

import pytest  # noqa: E402

# The longest test files start first, longest first (seconds measured with --durations=0), so two
# workers (make test: pytest-xdist, --dist loadfile) finish together instead of one waiting on a
# long file picked up at the end (measured on 2026-12-07 after the tests were laid out as the package,
# every file of 4 s or more; another job shared the 2 cores, so the times are long). Files not listed
# follow, in collection order.
SLOW_FIRST = (
    "tests/ray_jobs/benchmark/test_run.py",  # ~120 s here (two helpers' jobs on the 2 cores)
    "tests/test_demo.py",  # ~91 s
    "tests/ray_jobs/embedding/test_embed.py",  # ~90 s
    "tests/ray_jobs/embedding/test_crepe_tiny.py",  # ~55 s
    "tests/builders/test_dataset_contract.py",  # ~41 s
    "tests/ray_jobs/embedding/test_embed_channels.py",  # ~29 s
    "tests/ray_jobs/embedding/test_embed_gpu.py",  # ~23 s
    "tests/ray_jobs/lib_trad/test_training.py",  # ~22 s
    "tests/ray_jobs/lib_trad/test_detect_cli.py",  # ~50 s: a calibrated AE, an ONNX export, stdin from subprocesses
    "tests/convert/test_onnx_export.py",  # ~20-70 s: two ONNX exports (torch dynamo + ONNX Runtime checks)
    "tests/builders/test_lib_trad_export.py",  # ~20 s
    "tests/ray_jobs/embedding/test_encoder_folders.py",  # ~20 s
    "tests/ray_jobs/embedding/test_embed_storage.py",  # ~19 s
    "tests/builders/test_fault.py",  # ~17 s
    "tests/ray_jobs/evaluation/test_evaluate.py",  # ~16 s
    "tests/ray_jobs/embedding/test_encoder_sources.py",  # ~16 s
    "tests/folders/test_outputs.py",  # ~16 s
    "tests/ray_jobs/test_cluster.py",  # ~13 s
    "tests/ray_jobs/evaluation/suites/test_probes.py",  # ~12 s
    "tests/ray_jobs/evaluation/suites/test_probes_device.py",  # ~12 s
    "tests/folders/test_hub_cache.py",  # ~11 s
    "tests/models/test_registration.py",  # ~10 s
    "tests/builders/test_fault_real.py",  # ~10 s
    "tests/builders/test_mimii.py",  # ~9 s
    "tests/builders/test_download.py",  # ~8 s
    "tests/convert/test_echo.py",  # ~7 s
    "tests/ray_jobs/lib_trad/test_data.py",  # ~7 s
    "tests/ray_jobs/evaluation/test_remote_inputs.py",  # ~7 s
    "tests/ray_jobs/lib_trad/test_training_device.py",  # ~5 s
    "tests/models/test_attention_ae.py",  # ~5 s
    "tests/ray_jobs/evaluation/test_metrics.py",  # ~5 s
    "tests/builders/test_difficulty.py",  # ~5 s
    "tests/models/test_cnn.py",  # ~4 s
    "tests/core/test_cli_kit.py",  # ~4 s
    "tests/builders/test_cli.py",  # ~4 s
    "tests/builders/test_audio_io.py",  # ~4 s
)


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        path = str(item.path.relative_to(REPO_ROOT)) if item.path.is_relative_to(REPO_ROOT) else str(item.path)
        return SLOW_FIRST.index(path) if path in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: the order inside each file is kept


REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """``../shared/fixtures`` beside the checkout (CI has it there); skip loudly if absent."""
    path = SHARED / "fixtures"
    if not path.is_dir():
        pytest.skip(f"reference fixtures not found at {path}")
    return path


@pytest.fixture
def fresh_python(tmp_path):
    """Run a Python snippet in a new offline interpreter (nothing imported yet); return its stdout.

    The round trips that must prove ``import libtrad`` + Auto classes / ``load_dataset`` work on
    their own use this instead of the test process, where everything is already imported.
    """

    def run(code: str, *args, cwd=None, timeout: int = 300) -> str:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "fresh-hf-home")}
        torch = sys.modules.get("torch")
        if torch is not None:  # the same intra-op threads as this process: float32 sums depend on the split
            env["OMP_NUM_THREADS"] = str(torch.get_num_threads())
        done = subprocess.run(
            [sys.executable, "-c", code, *map(str, args)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip()

    return run


@pytest.fixture(scope="session")
def lib_trad_raw(tmp_path_factory) -> Path:
    """A small synthetic LiB-TRAD raw layout (6 segments per experiment, 2 of them abnormal)."""
    from libtrad.builders.lib_trad.synth import synthesize_lib_trad

    out = tmp_path_factory.mktemp("raw") / "lib-trad-raw"
    synthesize_lib_trad(out, scale=0.02, seed=7, progress=False)
    return out


@pytest.fixture(scope="session")
def lib_trad_export(lib_trad_raw, tmp_path_factory) -> Path:
    """The Hub-ready export of ``lib_trad_raw`` at ``<tmp>/lib-trad`` (all configs, defaults)."""
    from libtrad.builders.lib_trad.export import export_lib_trad

    out = tmp_path_factory.mktemp("export") / "lib-trad"
    export_lib_trad(lib_trad_raw, out, progress=False)
    return out


@pytest.fixture
def gpus(monkeypatch):
    """``gpus(n)``: torch in this process reports ``n`` CUDA devices (0: none) — the device policy's
    tests without a GPU."""
    import torch

    def make(n: int):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)

    return make


# ----------------------------------------------------------------------------- reliability helpers
def snapshot(*roots: Path) -> dict[str, bytes | str]:
    """Every file, link and folder under ``roots`` (path -> bytes, link target or "<dir>")."""
    state: dict[str, bytes | str] = {}
    for root in roots:
        root = Path(root)
        if not root.exists() and not root.is_symlink():
            continue
        items = [root] + sorted(root.rglob("*")) if root.is_dir() and not root.is_symlink() else [root]
        for path in items:
            key = str(path)
            if path.is_symlink():
                state[key] = "-> " + os.readlink(path)
            elif path.is_dir():
                state[key] = "<dir>"
            elif path.is_file():
                state[key] = path.read_bytes()
            else:
                state[key] = "<special>"
    return state


@pytest.fixture
def cli():
    """Run the libtrad CLI in-process; ``cli(*args)`` returns click's result (stdout/stderr apart)."""
    from click.testing import CliRunner

    from libtrad.cli import main

    def run(*args):
        return CliRunner().invoke(main, [str(a) for a in args])

    return run


def assert_error_line(result, *fragments: str) -> str:
    """Exit status 2, exactly one ``error:`` line (progress bars and ``note:`` lines aside), no traceback;
    returns the line."""
    text = result.output if hasattr(result, "output") else (result.stdout + result.stderr)
    code = result.exit_code if hasattr(result, "exit_code") else result.returncode
    assert code == 2, text
    assert "Traceback" not in text, text
    if hasattr(result, "exception") and result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [
        line
        for line in text.strip().splitlines()
        if line.strip() and "%|" not in line and "/s]" not in line and not line.startswith("note: ")
    ]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and len(lines) == 1, text
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def run_cli_subprocess(*args, timeout: int = 120, cwd=None) -> subprocess.CompletedProcess:
    """The CLI in a fresh interpreter (for hangs and real exit codes), killed after ``timeout`` s."""
    return subprocess.run(
        [sys.executable, "-m", "libtrad.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ},
    )


@pytest.fixture
def rel():
    """The reliability helpers for a test: ``rel.snapshot``, ``rel.assert_error_line``, ``rel.subprocess_cli``."""
    import types

    return types.SimpleNamespace(
        snapshot=snapshot, assert_error_line=assert_error_line, subprocess_cli=run_cli_subprocess
    )


# ----------------------------------------------------------------------------- tiny saved encoders
@pytest.fixture(scope="session")
def echo_dir(tmp_path_factory) -> Path:
    """A tiny ECHO (D 32, 1 layer) saved as a converted folder: ``echo:DIR`` for embed and the checker."""
    import torch

    from libtrad.models.echo import EchoConfig, EchoFeatureExtractor, EchoModel

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("echo") / "tiny-echo"
    EchoModel(
        EchoConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ).save_pretrained(out)
    EchoFeatureExtractor().save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def ae_dir(tmp_path_factory) -> Path:
    """A tiny LiB-TRAD attention AE (hidden 16, latent 8) saved: ``attention-ae:DIR``."""
    import torch

    from libtrad.models.attention_ae import (
        LibTradAttentionAEConfig,
        LibTradAttentionAEFeatureExtractor,
        LibTradAttentionAEModel,
    )

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("ae") / "tiny-ae"
    LibTradAttentionAEModel(LibTradAttentionAEConfig(hidden_size=16, latent_size=8)).save_pretrained(out)
    LibTradAttentionAEFeatureExtractor().save_pretrained(out)
    return out


# ----------------------------------------------------------------------------- object storage, the Hub cache
def _free_loopback_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 API on 127.0.0.1 (moto's server mode, what s3fs's own tests use), for the session.

    Yields the endpoint URL; the credentials moto accepts are put in the environment by
    :func:`s3_env` (per test), as a user's would be. Skips when moto or s3fs is not installed."""
    pytest.importorskip("s3fs")
    server_module = pytest.importorskip("moto.server")
    port = _free_loopback_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """This test's S3: the endpoint and test credentials in the environment (as a user sets them, so
    Ray workers started from here inherit them) and a fresh bucket; yields ``s3://<bucket>``."""
    import uuid

    import s3fs

    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_S3", s3_server),
        ("AWS_ENDPOINT_URL", s3_server),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = f"libtrad-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem.clear_instance_cache()
    s3fs.S3FileSystem(skip_instance_cache=True).mkdir(bucket)
    yield f"s3://{bucket}"
    s3fs.S3FileSystem.clear_instance_cache()


def make_hub_cache(
    hf_home: Path,
    repo_type: str,
    repo_id: str,
    folder: Path,
    *,
    commit: str | None = None,
    refs: tuple[str, ...] = ("main",),
) -> Path:
    """Lay ``folder``'s files out as huggingface_hub's cache does and return the snapshot folder.

    ``<hf_home>/hub/<type>s--ORG--NAME/``: ``blobs/<content hash>`` (the files themselves),
    ``snapshots/<commit>/<path>`` (relative symlinks into ``blobs/``) and ``refs/<name>`` (the
    commit). What ``snapshot_download`` reads offline, and what a Hub download leaves on disk."""
    import hashlib
    import os

    commit = (
        commit
        or hashlib.sha1(
            repo_id.encode() + b"\0" + str(sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))).encode()
        ).hexdigest()
    )
    repo = Path(hf_home) / "hub" / f"{repo_type}s--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            blob.write_bytes(data)
        link = snapshot / path.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    for ref in refs:
        (repo / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A private HF_HOME for this test (huggingface_hub's cache paths follow it) and a function that
    puts a folder into its cache: ``hub_cache(folder, "ORG/NAME", repo_type="model") -> snapshot``."""
    import huggingface_hub.constants as constants

    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def put(
        folder: Path,
        repo_id: str,
        *,
        repo_type: str = "model",
        commit: str | None = None,
        refs: tuple[str, ...] = ("main",),
    ) -> Path:
        return make_hub_cache(home, repo_type, repo_id, Path(folder), commit=commit, refs=refs)

    put.home = home
    return put


# ----------------------------------------------------------------------------- a private raw layout to break
# (the build, output-folder and CLI tests of tests/builders, tests/folders and tests/core)
FILE = "TR1/normal/seg0000_ch1.wav"


@pytest.fixture
def raw(lib_trad_raw, tmp_path) -> Path:
    """A private copy of the synthetic raw layout, to break."""
    root = tmp_path / "raw"
    shutil.copytree(lib_trad_raw, root, symlinks=True)
    return root


def build_lib_trad(cli, raw: Path, out: Path, *extra):
    return cli("build", "lib-trad", "--data-dir", raw, "--output", out, "--configs", "tr1", *extra)


@pytest.fixture(name="build_lib_trad")
def _build_lib_trad_fixture():
    return build_lib_trad


def expect_error(cli, rel, raw: Path, tmp_path: Path, *fragments: str, extra=()) -> str:
    """The build fails with one error line holding ``fragments``, and the raw folder is untouched."""
    before = rel.snapshot(raw)
    line = rel.assert_error_line(build_lib_trad(cli, raw, tmp_path / "out", *extra), *fragments)
    assert rel.snapshot(raw) == before
    return line


@pytest.fixture(name="expect_error")
def _expect_error_fixture():
    return expect_error


def skipped(cli, raw: Path, tmp_path: Path, *extra) -> list[dict]:
    """Build with --on-error skip; the manifest's rejections."""
    out = tmp_path / "out-skip"
    result = build_lib_trad(cli, raw, out, "--on-error", "skip", *extra)
    assert result.exit_code == 0, result.output
    text = (out / "manifest.json").read_text(encoding="utf-8")
    return json.loads(text)["rejected"]


@pytest.fixture(name="skipped")
def _skipped_fixture():
    return skipped


def make_stray(raw: Path, what: str) -> None:
    if what.endswith("/"):
        (raw / what).mkdir(parents=True)
    elif "/" in what and not Path(what).suffix:
        (raw / what).mkdir(parents=True)
        (raw / what / "seg0000_ch1.wav").write_bytes((raw / FILE).read_bytes())
    else:
        (raw / what).write_text("stray\n")


@pytest.fixture(name="make_stray")
def _make_stray_fixture():
    return make_stray


# ---------------------------------------------------------------------- a dataset copy, a trained CNN, users' folders
# (the training, evaluation, weights and conversion tests of tests/ray_jobs/lib_trad, tests/models, tests/convert)
# ----------------------------------------------------------------------------- fixtures
@pytest.fixture
def lib_trad_copy(lib_trad_export, tmp_path) -> Path:
    """A private copy of the session export, free to break (the session fixture is never touched)."""
    copy = tmp_path / "lib-trad"
    shutil.copytree(lib_trad_export, copy, symlinks=True)
    return copy


@pytest.fixture(scope="module")
def cnn_model(lib_trad_export, tmp_path_factory) -> Path:
    """One CNN trained for an epoch on ``tr1_cls`` (read only: tests break copies of it)."""
    from libtrad.ray_jobs.lib_trad.training import Recipe, train_cnn

    out = tmp_path_factory.mktemp("cnn") / "cnn-model"
    train_cnn(str(lib_trad_export), out, config="tr1_cls", recipe=Recipe(epochs=1, batch_size=4), progress=False)
    return out


@pytest.fixture
def model_copy(cnn_model, tmp_path) -> Path:
    """A trained model's files without libtrad's marker (a folder copied by hand): what the content checks
    see once the checksums can no longer say which file changed (those are tested on their own)."""
    copy = tmp_path / "model"
    shutil.copytree(cnn_model, copy)
    (copy / ".libtrad.json").unlink()
    return copy


def user_folder(path: Path, **files: str) -> Path:
    """A folder of the user's (no libtrad marker) holding ``files``."""
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name.replace("__", ".")).write_text(text)
    return path


@pytest.fixture(name="user_folder")
def _user_folder_fixture():
    return user_folder


def train_args(dataset, output, *extra, family="cnn"):
    return ("train", family, "--dataset", dataset, "--output", output, "--epochs", "1", *extra)


@pytest.fixture(name="train_args")
def _train_args_fixture():
    return train_args


def plain_dataset(folder: Path, audio: list[bytes], labels: list[int], splits=("train",)) -> Path:
    """A Parquet dataset folder that libtrad did not write (no marker, no card): config ``default``."""
    import datasets

    (folder / "data").mkdir(parents=True)
    features = datasets.Features(
        {"audio": datasets.Audio(decode=False), "label": datasets.ClassLabel(names=["normal", "abnormal"])}
    )
    for split in splits:
        datasets.Dataset.from_dict(
            {"audio": [{"bytes": b, "path": None} for b in audio], "label": labels}, features=features
        ).to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))
    datasets.load_dataset(str(folder))  # prepared now, so the CLI shows no generation bar before its error
    return folder


@pytest.fixture(name="plain_dataset")
def _plain_dataset_fixture():
    return plain_dataset


# ----------------------------------------------------------------------------- evaluate
def evaluate_args(model, dataset, output):
    return (
        "evaluate",
        "lib-trad",
        "--model",
        f"tr1={model}",
        "--dataset",
        dataset,
        "--experiments",
        "tr1",
        "--output",
        output,
    )


@pytest.fixture(name="evaluate_args")
def _evaluate_args_fixture():
    return evaluate_args


# ----------------------------------------------------------------------------- damage
def flip_byte(path: Path, at: int | None = None) -> None:
    """Flip one bit of ``path`` (at byte ``at``, default the middle): a file whose checksum no longer matches."""
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if at is None else at
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture(name="flip_byte")
def _flip_byte_fixture():
    return flip_byte
