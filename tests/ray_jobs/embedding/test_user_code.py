"""libtrad.ray_jobs.embedding.encoders.user_code (and .sandbox): a user's encoder code is bounded — what it
raises (``SystemExit`` included), what never returns, declared numbers out of range, and (in a process of its
own) ``os._exit`` or a crash — each one ``error:`` line naming the module and the stage, never a silent
success, a hang, or an internal error."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import time
import uuid

import pytest

from libtrad.core.errors import ParameterError
from libtrad.ray_jobs.embedding.encoders import load_encoder, parse_encoder_spec, preflight, with_timeout
from libtrad.ray_jobs.embedding.encoders.user_code import call_user, find_module_spec

# A user's module: one class that keeps the contract, and one variant per way of breaking it.
GOOD = textwrap.dedent("""
    import time
    import torch


    class Frames(torch.nn.Module):
        sampling_rate = 16000
        output_dim = 4
        hop_size_in_ms = 10.0

        def __init__(self, hang_above=None):
            super().__init__()
            self.hang_above = hang_above

        def forward(self, audio):
            if self.hang_above is not None and audio.shape[1] > self.hang_above:
                time.sleep(3600)
            return audio[:, : audio.shape[1] // 160 * 160].reshape(audio.shape[0], -1, 160)[..., :4]


    class HugeRate(Frames):
        sampling_rate = 10**16


    class RaisingRate(Frames):
        @property
        def sampling_rate(self):
            raise KeyError("no rate configured")


    class WideOutput(Frames):
        output_dim = 2**20
""")


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    """``make(source)`` -> the name of a fresh module holding ``source``, importable here (forgotten after)."""
    folder = tmp_path / "code"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    names = []

    def make(source: str) -> str:
        name = f"user_code_{uuid.uuid4().hex[:8]}"
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
        names.append(name)
        return name

    yield make
    for name in names:
        sys.modules.pop(name, None)


def _load(text: str, timeout: float | None = None):
    return load_encoder(with_timeout(parse_encoder_spec(text), timeout), device="cpu")


# ----------------------------------------------------------------------------- the boundary itself
@pytest.mark.parametrize(
    "code, fragment",
    [
        (lambda: sys.exit(0), "called sys.exit(0)"),
        (lambda: sys.exit("bye"), "called sys.exit('bye')"),
        (lambda: (_ for _ in ()).throw(KeyboardInterrupt), "raised KeyboardInterrupt"),
        (lambda: 1 / 0, "raised ZeroDivisionError: division by zero"),
    ],
    ids=["exit-0", "exit-text", "own-keyboard-interrupt", "exception"],
)
def test_whatever_user_code_raises_is_its_named_failure(code, fragment):
    with pytest.raises(ParameterError) as caught:
        call_user("py:m:C", "import m", code, timeout=5)
    assert caught.value.param == "encoder" and caught.value.problem == f"import m {fragment}"


def test_a_call_that_never_returns_is_named_with_its_process():
    start = time.monotonic()
    with pytest.raises(ParameterError, match=r"^encoder='py:m:C': forward on audio did not finish within 0.3 s "):
        call_user("py:m:C", "forward on audio", time.sleep, 30, timeout=0.3)
    assert time.monotonic() - start < 5
    with pytest.raises(ParameterError, match=rf"in process {os.getpid()} on node "):
        call_user("py:m:C", "forward on audio", time.sleep, 30, timeout=0.1)


def test_a_real_ctrl_c_still_stops_the_wait():
    """SIGINT reaches the thread that waits (the main one), not the user's code: the command stops.

    Python's own SIGINT handler is installed first, as a command typed in a terminal has it: a test run
    started in the background by a non-interactive shell inherits SIGINT ignored (POSIX), and Python keeps
    an ignored SIGINT ignored."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            call_user("py:m:C", "import m", time.sleep, 30, timeout=20)
        assert time.monotonic() - start < 10
    finally:
        signal.signal(signal.SIGINT, before)


def test_finding_a_module_runs_none_of_its_packages(tmp_path, monkeypatch):
    """``py:pkg.mod:Class`` is parsed (its file found and hashed) without running ``pkg/__init__.py``:
    a package that exits, blocks or crashes on import cannot end the command while it parses."""
    name = f"userpkg_{uuid.uuid4().hex[:8]}"
    (tmp_path / name).mkdir()
    flag = tmp_path / "ran"
    (tmp_path / name / "__init__.py").write_text(f"open({str(flag)!r}, 'w').close()\nimport os\nos._exit(3)\n")
    (tmp_path / name / "enc.py").write_text(GOOD)
    monkeypatch.syspath_prepend(str(tmp_path))
    found = find_module_spec(f"{name}.enc")
    assert found is not None and found.origin == str(tmp_path / name / "enc.py")
    spec = parse_encoder_spec(f"py:{name}.enc:Frames")
    assert spec.identity["module_file"] == str((tmp_path / name / "enc.py").resolve())
    assert not flag.exists() and name not in sys.modules
    assert find_module_spec(f"{name}.absent") is None


# ----------------------------------------------------------------------------- py: in this process
def test_a_module_that_exits_while_importing_is_an_error_not_a_success(user_modules):
    name = user_modules("import sys\nsys.exit(0)\n")
    with pytest.raises(ParameterError, match=rf"cannot import {name}: called sys.exit\(0\)"):
        _load(f"py:{name}:Frames")


def test_a_module_that_blocks_while_importing_is_named(user_modules):
    name = user_modules("import time\ntime.sleep(3600)\n")
    with pytest.raises(ParameterError, match=rf"import {name} did not finish within 1 s \(--encoder-timeout\)"):
        _load(f"py:{name}:Frames", timeout=1)


@pytest.mark.parametrize(
    "target, fragment",
    [
        ("HugeRate", "HugeRate().sampling_rate is 10000000000000000, not an integer > 0 and <= 384000"),
        ("RaisingRate", "RaisingRate().sampling_rate raised KeyError: 'no rate configured'"),
        ("WideOutput", "WideOutput().output_dim is 1048576, not an integer > 0 and <= 65536"),
        ("Frames?hang_above=100", "forward on audio of shape (2, 8000) did not finish within 1 s"),
    ],
    ids=["rate-10e16", "rate-raises", "output-dim-too-wide", "probe-hangs"],
)
def test_declared_numbers_and_the_probe_are_checked_before_use(target, fragment, user_modules):
    """10**16 Hz would size libtrad's 0.5-s probe clip at 5e15 samples: refused before any tensor exists."""
    name = user_modules(GOOD)
    with pytest.raises(ParameterError) as caught:
        _load(f"py:{name}:{target}", timeout=1)
    assert fragment in caught.value.problem


def test_a_forward_that_never_returns_on_a_batch_is_named(user_modules):
    """The per-batch bound (what a Ray actor runs): a batch longer than the probe's hangs."""
    import numpy as np

    name = user_modules(GOOD)
    encoder = _load(f"py:{name}:Frames?hang_above=8000", timeout=1)
    with pytest.raises(ParameterError, match=r"forward on audio of shape \(1, 16000\) did not finish within 1 s"):
        encoder.embed([np.zeros(16000, np.float32)])


# ----------------------------------------------------------------------------- in a process of its own
@pytest.mark.parametrize(
    "source, fragments",
    [
        ("import os\nos._exit(0)\n", ["import {m}: the encoder's code ended its process (exit status 0"]),
        ("import ctypes\nctypes.string_at(0)\n", ["import {m}: the encoder's code ended its process (killed by SIG"]),
        ("import sys\nsys.exit(0)\n", ["cannot import {m}: called sys.exit(0)"]),
    ],
    ids=["os-exit-0", "segfault", "sys-exit-0"],
)
def test_check_encoder_is_one_error_line_where_the_module_ends_its_process(source, fragments, user_modules, cli, rel):
    """Exit status 2 and one line, never the 0 of a module's ``os._exit(0)`` read as "all checks passed"."""
    name = user_modules(source)
    rel.assert_error_line(
        cli("check-encoder", f"py:{name}:Frames", "--quick"), "SPEC", *[f.format(m=name) for f in fragments]
    )


def test_embeds_load_time_probe_runs_apart_and_names_the_stage(user_modules, lib_trad_export, tmp_path, cli, rel):
    import libtrad.ray_jobs.cluster as cluster

    name = user_modules("import os\nos._exit(0)\n")
    original = cluster.ray_session
    cluster.ray_session = lambda *a, **k: pytest.fail("Ray was started")
    try:
        result = cli(
            "embed", "--dataset", lib_trad_export, "--config", "tr1", "--encoder", f"py:{name}:Frames",
            "--output", tmp_path / "emb",
        )  # fmt: skip
    finally:
        cluster.ray_session = original
    rel.assert_error_line(result, "--encoder", f"import {name}: the encoder's code ended its process (exit status 0")
    assert not (tmp_path / "emb").exists()


def test_preflight_hands_back_the_numbers_from_its_own_process(user_modules):
    name = user_modules(GOOD)
    assert preflight(f"py:{name}:Frames") == {"sampling_rate": 16000, "output_dim": 4, "hop_size_in_ms": 10.0}
    assert name not in sys.modules  # loaded in the child, not here


def test_an_actor_whose_forward_never_returns_is_named_not_waited_on(user_modules, lib_trad_export, tmp_path, cli, rel):
    """On Ray: the load-time probe passes (0.5-s clips), every real batch hangs in the actor; the job ends
    within --encoder-timeout (plus Ray's start) with one line naming the stage and the actor's process."""
    name = user_modules(GOOD)
    start = time.monotonic()
    result = cli(
        "embed", "--dataset", lib_trad_export, "--config", "tr1", "--encoder", f"py:{name}:Frames?hang_above=8000",
        "--output", tmp_path / "emb", "--encoder-timeout", "3", "--actors", "1",
    )  # fmt: skip
    # (Ray's own start-up warnings may share stderr: that is ray_jobs.cluster's to quiet, not this test's)
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert result.exit_code == 2 and len(errors) == 1 and "Traceback" not in result.output, result.output
    for fragment in (
        "--encoder",
        "forward on audio of shape (",
        "did not finish within 3 s",
        "in process ",
        " on node ",
    ):
        assert fragment in errors[0], errors[0]
    assert time.monotonic() - start < 240 and not (tmp_path / "emb").exists()
