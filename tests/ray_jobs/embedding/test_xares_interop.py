"""X-ARES interop: every kind's encoder object is an ``nn.Module`` that X-ARES's own checker and libtrad's
both pass; ``.to(device)`` moves it and what it reports; ``libtrad export-xares`` writes the zero-argument
``*Encoder`` class X-ARES's loader imports from a file (through X-ARES's own loader here).

X-ARES is installed with ``--no-deps`` (``pip install xares`` pulls a torchaudio that does not load beside
CPU torch 2.13): the tests that run its code skip when it is absent, saying so."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.embedding import check_encoder as ce
from libtrad.ray_jobs.embedding.encoders import load_encoder

try:
    from xares.audio_encoder_checker import check_audio_encoder
    from xares.utils import attr_from_py_path
except ImportError:  # pragma: no cover - depends on the install
    check_audio_encoder = attr_from_py_path = None
needs_xares = pytest.mark.skipif(
    check_audio_encoder is None,
    reason="xares is not installed (install it with "
    "`pip install --no-deps xares==0.1.3 loguru==0.7.3`, as `make install` does)",
)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
KINDS = ("echo", "attention-ae", "logmel-stats", "hf")


@pytest.fixture
def specs(echo_dir, ae_dir, hf_dir):
    return {
        "echo": f"echo:{echo_dir}",
        "attention-ae": f"attention-ae:{ae_dir}",
        "logmel-stats": "logmel-stats",
        "hf": f"hf:{hf_dir}",
    }


def libtrad_failures(encoder, contract="libtrad") -> list[str]:
    return [f"{r.name}: {r.message}" for r in ce.check_encoder(encoder, quick=True, contract=contract) if not r.passed]


def import_like_xares(folder: Path, file_name: str, monkeypatch):
    """What ``python -m xares.run FILE.py`` does, run from ``folder``: its own loader, then the class()."""
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, file_name[:-3], raising=False)
    return attr_from_py_path(file_name, endswith="Encoder")


# ----------------------------------------------------------------------------- one object, both contracts
def check_spec_keeping_the_object(spec: str, monkeypatch, **options):
    """``check_encoder_spec`` (parse, place, folder check, load, check) and the very object it checked."""
    loaded, load = [], ce.load_encoder
    monkeypatch.setattr(ce, "load_encoder", lambda *a, **k: loaded.append(load(*a, **k)) or loaded[-1])
    return ce.check_encoder_spec(spec, device="cpu", **options), loaded[0]


@pytest.mark.parametrize("kind", KINDS)
def test_each_kinds_object_passes_libtrads_checker_and_xares(kind, specs, monkeypatch):
    # every check (logmel-stats: quick; test_check_encoder runs its every check through the report)
    results, encoder = check_spec_keeping_the_object(specs[kind], monkeypatch, quick=kind == "logmel-stats")
    assert [f"{r.name}: {r.message}" for r in results if not r.passed] == []
    if kind == "echo":  # ECHO re-runs the last 2000 spectrogram frames of a 30-s clip: 250 frames, not 187.5
        checks = {r.name: r for r in results}
        assert (checks["long_clip"].numbers["frames"], checks["long_clip"].numbers["expected"]) == (250, 187.5)
        counts = [(c["frames"], c["expected"]) for c in checks["frame_count"].numbers["cases"]]
        assert counts == [(3, 3.125), (7, 6.25), (13, 12.5), (32, 31.25), (63, 62.5)]
    assert isinstance(encoder, torch.nn.Module) and not encoder.training and encoder.device == torch.device("cpu")
    audio = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32))
    _, frames = encoder.embed(list(audio.numpy()))
    assert torch.equal(encoder(audio), torch.from_numpy(np.stack(frames)))  # forward = embed's frames
    if check_audio_encoder is None:
        pytest.skip(needs_xares.kwargs["reason"] + ": libtrad's checks passed, X-ARES's not run")
    assert check_audio_encoder(encoder) is True


def test_echo_waveform_encoder_is_checked_through_forward(echo_dir):
    """EchoWaveformEncoder's embed is the model's API (an EchoModelOutput): libtrad's contract fails shape
    alone, naming the way to check it; its X-ARES contract passes every libtrad check."""
    from libtrad.models.echo import EchoWaveformEncoder

    encoder = EchoWaveformEncoder.from_pretrained(echo_dir)
    results = ce.check_encoder(encoder, quick=True)
    assert [(r.name, r.passed) for r in results] == [("attributes", True), ("shape", False)]
    assert "returned EchoModelOutput" in results[1].message and "contract='xares'" in results[1].message
    assert libtrad_failures(encoder, contract="xares") == []


def test_the_xares_contract_still_catches_a_broken_forward():
    """Through forward alone the checks keep their teeth: a forward that ignores the mask leaks padding."""
    from libtrad.ray_jobs.embedding.encoders import LogMelStatsEncoder

    class IgnoresMaskEncoder(LogMelStatsEncoder):
        def forward(self, audio, audio_attention_mask=None):
            return super().forward(audio)

    assert [f.split(":")[0] for f in libtrad_failures(IgnoresMaskEncoder(), "xares")] == ["padding"]
    with pytest.raises(LibtradError, match="contract"):
        ce.check_encoder(LogMelStatsEncoder(), contract="hear")


# ----------------------------------------------------------------------------- .to(device)
def test_to_moves_the_modules_and_what_the_encoder_reports(echo_dir):
    encoder = load_encoder(f"echo:{echo_dir}", device="cpu")
    assert encoder.to("cpu") is encoder and encoder.device == torch.device("cpu")
    encoder.to(torch.device("meta"))
    assert encoder.device.type == "meta" and {p.device.type for p in encoder.parameters()} == {"meta"}
    # the device marker is no weight: the state_dict is the model's
    assert set(encoder.state_dict()) == {f"encoder.{k}" for k in encoder.encoder.state_dict()}

    # No parameters (logmel-stats), inside a parent module: the parent's .to moves what it reports too.
    parent = torch.nn.Sequential(load_encoder("logmel-stats", device="cpu"))
    parent.to("meta")
    assert parent[0].device.type == "meta"
    parent.to_empty(device="cpu")
    assert parent[0].device.type == "cpu" and parent[0].embed([np.zeros(1600, np.float32)])[0].shape == (1, 128)


def test_a_cuda_device_torch_cannot_reach_is_never_reported(gpus, echo_dir):
    """torch patched to say it has a GPU (none is there): the move fails as torch fails it, and the
    encoder still reports the CPU its tensors are on — it never claims a device it is not on."""
    gpus(1)
    for encoder in (load_encoder("logmel-stats", device="cpu"), load_encoder(f"echo:{echo_dir}", device="cpu")):
        with pytest.raises((AssertionError, RuntimeError)):
            encoder.to("cuda")
        assert encoder.device.type == "cpu" and {p.device.type for p in encoder.parameters()} <= {"cpu"}


@pytest.mark.gpu
@needs_cuda
@needs_xares
@pytest.mark.parametrize("kind", KINDS)
def test_on_the_gpu_as_xares_runs_it(kind, specs):
    """X-ARES's runner: .to(cuda), then audio on the GPU in, frames on the GPU out, equal to the CPU's."""
    cpu = load_encoder(specs[kind], device="cpu")
    gpu = load_encoder(specs[kind], device="cpu").to("cuda")
    assert gpu.device.type == "cuda" and {p.device.type for p in gpu.parameters()} <= {"cuda"}
    assert check_audio_encoder(gpu) is True
    audio = torch.from_numpy(np.random.default_rng(1).standard_normal((2, 24000)).astype(np.float32))
    with torch.inference_mode():
        out = gpu(audio.to("cuda"))
    assert out.device.type == "cuda" and out.dtype == torch.float32
    assert (out.cpu() - cpu(audio)).abs().max().item() <= 1e-4


# ----------------------------------------------------------------------------- the zero-argument class
@needs_xares
@pytest.mark.parametrize("kind", KINDS)
def test_export_xares_writes_a_class_xares_loads_with_no_arguments(kind, specs, cli, tmp_path, monkeypatch):
    file_name = f"xares_{kind.replace('-', '_')}_encoder.py"
    result = cli("export-xares", "--encoder", specs[kind], "--output", tmp_path / file_name)
    assert result.exit_code == 0, result.output
    cls = import_like_xares(tmp_path, file_name, monkeypatch)
    encoder = cls()
    assert type(encoder).__name__ in result.output and type(encoder).__name__.endswith("Encoder")
    assert check_audio_encoder(encoder) is True
    # it keeps libtrad's contract too (the kind's object inside), and moves like a module
    clips = [np.random.default_rng(2).standard_normal(n).astype(np.float32) for n in (8000, 12000)]
    inside = encoder.encoder
    assert all(np.array_equal(a, b) for a, b in zip(encoder.embed(clips)[1], inside.embed(clips)[1]))
    encoder.to("meta")
    assert encoder.device.type == "meta" and inside.device.type == "meta"


def test_the_file_names_its_model_pinned_and_refuses_it_changed(echo_dir, tmp_path, monkeypatch):
    from libtrad.ray_jobs.embedding.encoders.xares import HEADER, write_xares_file

    folder = tmp_path / "models" / "echo-small"
    shutil.copytree(echo_dir, folder)
    monkeypatch.chdir(tmp_path)
    written = write_xares_file("echo:models/echo-small", tmp_path / "enc.py")
    text = (tmp_path / "enc.py").read_text()
    assert written.class_name == "EchoSmallEncoder" and text.startswith(HEADER + "\n")
    assert f"spec = {str(f'echo:{folder.resolve()}')!r}" in text  # absolute: X-ARES runs from anywhere
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__("enc")
    assert [n for n in dir(module) if n.endswith("Encoder")] == ["EchoSmallEncoder"]  # X-ARES takes exactly one
    assert module.EchoSmallEncoder().output_dim == written.numbers["output_dim"]
    config = folder / "config.json"
    config.write_text(config.read_text() + "\n")
    with pytest.raises(LibtradError, match=r"enc\.py: EchoSmallEncoder was written for .*whose config\.json changed"):
        module.EchoSmallEncoder()
    write_xares_file("echo:models/echo-small", tmp_path / "enc.py")  # its own file: re-exported in place


@pytest.mark.parametrize(
    "args, fragments",
    [
        (("--output", "{tmp}/foreign.py"), ("--output", "was not written by libtrad (no record")),
        (("--output", "{tmp}/enc.txt"), ("--output", "must be a .py file")),
        (("--output", "{tmp}/enc.py", "--class-name", "Echo"), ("--class-name 'Echo'", "must end with Encoder")),
        (("--output", "{tmp}/enc.py", "--class-name", "class"), ("--class-name", "not a public Python class name")),
        (("--output", "{tmp}/no/enc.py"), ("--output", "does not exist")),
        (
            ("--output", "s3://bucket/enc.py"),
            ("--output s3://bucket/enc.py: is a URL; this command writes a local file",),
        ),
    ],
    ids=["foreign-file", "not-py", "no-Encoder-suffix", "keyword", "no-folder", "url"],
)
def test_export_xares_refuses_in_one_line_and_writes_nothing(args, fragments, cli, rel, tmp_path):
    (tmp_path / "foreign.py").write_text("class MineEncoder: ...\n")
    before = rel.snapshot(tmp_path)
    args = [a.format(tmp=tmp_path) for a in args]
    rel.assert_error_line(cli("export-xares", "--encoder", "logmel-stats", *args), *fragments)
    assert rel.snapshot(tmp_path) == before


def test_a_copy_that_starts_with_the_header_line_is_not_export_xares_s_to_replace(cli, rel, tmp_path):
    """Ownership is the record written beside the file (libtrad.folders.file_outputs), never its first line:
    a hand-edited file, or a copy elsewhere that starts with the same header, is refused and left as it is."""
    ours = tmp_path / "enc.py"
    assert cli("export-xares", "--encoder", "logmel-stats", "--output", ours).exit_code == 0
    assert cli("export-xares", "--encoder", "logmel-stats", "--output", ours).exit_code == 0  # its own: replaced
    copy = tmp_path / "copy.py"
    copy.write_text(ours.read_text())  # the header line and all, but no record
    ours.write_text(ours.read_text() + "# my edit\n")
    before = rel.snapshot(tmp_path)
    for path, fragment in ((ours, "was changed since libtrad wrote it"), (copy, "was not written by libtrad")):
        rel.assert_error_line(cli("export-xares", "--encoder", "logmel-stats", "--output", path), "--output", fragment)
    assert rel.snapshot(tmp_path) == before


def test_parsing_a_spec_and_the_help_import_no_torch(fresh_python, echo_dir):
    out = fresh_python(
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from libtrad.cli import main\n"
        "assert CliRunner().invoke(main, ['export-xares', '--help']).exit_code == 0\n"
        "from libtrad.ray_jobs.embedding.encoders import parse_encoder_spec\n"
        "parse_encoder_spec(sys.argv[1]); parse_encoder_spec('logmel-stats')\n"
        "print('torch' in sys.modules)\n",
        f"echo:{echo_dir}",
    )
    assert out.splitlines()[-1] == "False"
