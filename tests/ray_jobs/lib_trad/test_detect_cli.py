"""``libtrad detect``: files (JSON lines, CSV), a dataset export, a stream on stdin from another process (the same
events as offline), channel fusion, exit status 0/1/2, and the ONNX backend giving the torch events."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from libtrad.ray_jobs.lib_trad.data import load_clips
from tests.conftest import assert_error_line


@pytest.fixture(scope="module")
def recordings(lib_trad_export, tmp_path_factory):
    """tr1/test as WAV files: every normal clip, every abnormal one, and one 4-microphone abnormal file."""
    clips = load_clips(str(lib_trad_export), "tr1", "test", progress=False)
    folder = tmp_path_factory.mktemp("wav")
    normal = [i for i, y in enumerate(clips.labels) if y == 0]
    abnormal = [i for i, y in enumerate(clips.labels) if y == 1]
    paths = {"normal": [], "abnormal": []}
    for kind, rows in (("normal", normal), ("abnormal", abnormal)):
        for i in rows:
            path = folder / f"{kind}{i}.wav"
            sf.write(path, clips.waveforms[i], 16000, subtype="FLOAT")
            paths[kind].append(path)
    length = min(len(clips.waveforms[i]) for i in abnormal[:4])
    four = np.stack([clips.waveforms[i][:length] for i in abnormal[:4]], axis=1)
    sf.write(folder / "four.wav", four, 16000, subtype="FLOAT")
    paths["four"] = folder / "four.wav"
    return paths


def events_of(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_files_json_lines_and_exit_status(cli, calibrated_ae, recordings):
    result = cli("detect", "--model", calibrated_ae, *recordings["abnormal"], "--no-progress")
    events = events_of(result.stdout)
    assert result.exit_code == (1 if events else 0), result.output
    assert events, "the calibrated AE finds none of the synthetic ventings"
    assert set(events[0]) == {"file", "start", "end", "peak_score", "channels", "alarm"}
    assert all(e["start"] < e["end"] and e["channels"] == ["0"] for e in events)
    quiet = [p for p in recordings["normal"] if not events_of(cli("detect", "--model", calibrated_ae, p).stdout)]
    assert quiet, "every normal clip raised an alarm"
    assert cli("detect", "--model", calibrated_ae, quiet[0]).exit_code == 0


def test_csv_has_the_json_events(cli, calibrated_ae, recordings):
    args = ("detect", "--model", calibrated_ae, *recordings["abnormal"], "--no-progress")
    rows = list(csv.DictReader(io.StringIO(cli(*args, "--format", "csv").stdout)))
    events = events_of(cli(*args).stdout)
    assert [(r["file"], float(r["start"]), float(r["end"])) for r in rows] == [
        (e["file"], e["start"], e["end"]) for e in events
    ]


def test_fusion_modes_on_four_microphones(cli, calibrated_ae, recordings):
    found = {}
    for fusion in ("any", "majority", "mean"):
        result = cli("detect", "--model", calibrated_ae, recordings["four"], "--fusion", fusion)
        found[fusion] = events_of(result.stdout)
        assert all(e["channels"] == ["0", "1", "2", "3"] for e in found[fusion])
    active = lambda events: sum(e["end"] - e["start"] for e in events)  # noqa: E731
    assert active(found["any"]) >= active(found["mean"]) and active(found["any"]) >= active(found["majority"])
    assert found["any"]


def test_dataset_export(cli, calibrated_ae, lib_trad_export):
    result = cli("detect", "--model", calibrated_ae, "--dataset", lib_trad_export, "--config", "tr1", "--split", "test")
    events = events_of(result.stdout)
    assert result.exit_code == 1 and events, result.output
    assert all(e["file"].startswith("tr1/test/") and "segment" in e["file"] for e in events)


def test_stream_from_another_process_gives_the_offline_events(cli, calibrated_ae, recordings):
    """A writer process feeds stdin in random pieces (raw s16le and WAV); the events equal the file's."""
    path = recordings["four"]
    audio = sf.read(path, dtype="float32")[0]
    pcm = (np.clip(audio, -1, 32767 / 32768) * 32768).astype("<i2")
    sf.write(path.with_name("four16.wav"), pcm, 16000, subtype="PCM_16")
    offline = events_of(cli("detect", "--model", calibrated_ae, path.with_name("four16.wav")).stdout)
    feeder = (
        "import sys, random, time\nrandom.seed(3)\ndata = open(sys.argv[1], 'rb').read()\nat = 0\n"
        "while at < len(data):\n    n = random.randint(1, 9000)\n    sys.stdout.buffer.write(data[at:at + n])\n"
        "    sys.stdout.buffer.flush()\n    at += n\n"
    )
    raw = path.with_name("four.raw")
    raw.write_bytes(pcm.tobytes())
    for source, extra in ((raw, ["--stream-format", "s16le", "--sample-rate", "16000", "--channels", "4"]),
                          (path.with_name("four16.wav"), [])):  # fmt: skip
        writer = subprocess.Popen([sys.executable, "-c", feeder, str(source)], stdout=subprocess.PIPE)
        done = subprocess.run(
            [sys.executable, "-m", "libtrad.cli", "detect", "--model", str(calibrated_ae), "--stream", *extra],
            stdin=writer.stdout, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        writer.wait()
        streamed = events_of(done.stdout)
        assert done.returncode == (1 if streamed else 0), done.stderr
        strip = lambda events: [{k: v for k, v in e.items() if k != "file"} for e in events]  # noqa: E731
        assert strip(streamed) == strip(offline)


def test_errors_exit_2_with_one_line(cli, calibrated_ae, cnn_model, recordings, tmp_path):
    assert_error_line(cli("detect", "--model", calibrated_ae), "exactly one of")
    assert_error_line(cli("detect", "--model", calibrated_ae, tmp_path / "none.wav"), "none.wav: no such file")
    assert_error_line(cli("detect", "--model", cnn_model, recordings["four"]), "no detection section")
    sf.write(tmp_path / "8k.wav", np.zeros(8000, dtype=np.float32), 8000)
    assert_error_line(cli("detect", "--model", calibrated_ae, tmp_path / "8k.wav"), "8000 Hz", "16000 Hz")
    assert_error_line(
        cli("detect", "--model", calibrated_ae, recordings["four"], "--channels", "4"), "only with --stream"
    )
    done = subprocess.run(
        [sys.executable, "-m", "libtrad.cli", "detect", "--model", str(calibrated_ae), "--stream"],
        input=b"not a wav header at all", capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.decode().strip().endswith("(no RIFF/WAVE header); raw PCM needs "
                                                                          "--stream-format s16le|f32le")  # fmt: skip


def test_onnx_backend_gives_the_torch_events(cli, exportable_ae, recordings, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    onnx_file = tmp_path / "ae.onnx"
    exported = cli("export", "onnx", "--model", exportable_ae, "--output", onnx_file)
    assert exported.exit_code == 0, exported.output
    files = [*recordings["abnormal"], recordings["four"]]
    torch_run = cli("detect", "--model", exportable_ae, *files)
    torch_events = events_of(torch_run.stdout)
    onnx_events = events_of(cli("detect", "--model", onnx_file, "--backend", "onnx", *files).stdout)
    assert torch_events, torch_run.output
    assert [(e["file"], e["start"], e["end"]) for e in onnx_events] == [
        (e["file"], e["start"], e["end"]) for e in torch_events
    ]
    np.testing.assert_allclose(
        [e["peak_score"] for e in onnx_events], [e["peak_score"] for e in torch_events], rtol=1e-3
    )
