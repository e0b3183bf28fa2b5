"""Reliability of `libtrad build lib-trad` against broken raw inputs.

Each test copies the small synthetic raw layout, breaks one thing, drives the real CLI and checks:
exit status 2 with one ``error:`` line naming the file and the reason, no traceback, and the
user's files byte-identical afterwards. Layout strays are also checked with ``--on-error skip``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from libtrad.builders import audio_io
from libtrad.builders.lib_trad.layout import scan_lib_trad
from libtrad.core.errors import LibtradError

SR = 16_000
FILE = "TR1/normal/seg0000_ch1.wav"


@pytest.fixture
def raw(lib_trad_raw, tmp_path) -> Path:
    """A private copy of the synthetic raw layout, to break."""
    root = tmp_path / "raw"
    shutil.copytree(lib_trad_raw, root, symlinks=True)
    return root


def build(cli, raw: Path, out: Path, *extra):
    return cli("build", "lib-trad", "--data-dir", raw, "--output", out, "--configs", "tr1", *extra)


def expect_error(cli, rel, raw: Path, tmp_path: Path, *fragments: str, extra=()) -> str:
    """The build fails with one error line holding ``fragments``, and the raw folder is untouched."""
    before = rel.snapshot(raw)
    line = rel.assert_error_line(build(cli, raw, tmp_path / "out", *extra), *fragments)
    assert rel.snapshot(raw) == before
    return line


def skipped(cli, raw: Path, tmp_path: Path, *extra) -> list[dict]:
    """Build with --on-error skip; the manifest's rejections."""
    out = tmp_path / "out-skip"
    result = build(cli, raw, out, "--on-error", "skip", *extra)
    assert result.exit_code == 0, result.output
    text = (out / "manifest.json").read_text(encoding="utf-8")
    return json.loads(text)["rejected"]


def audio_bytes(fmt: str) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, 0.1 * np.sin(np.arange(10 * SR) / SR * 2 * np.pi * 440), SR, format=fmt)
    return buffer.getvalue()


def mp3_bytes() -> bytes:
    if "MP3" in sf.available_formats():
        return audio_bytes("MP3")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("neither libsndfile MP3 support nor ffmpeg is available to make MP3 bytes")
    import subprocess

    done = subprocess.run([ffmpeg, "-loglevel", "error", "-f", "wav", "-i", "pipe:0", "-f", "mp3", "pipe:1"],
                          input=audio_bytes("WAV"), capture_output=True, timeout=60)
    if done.returncode != 0:
        pytest.skip(f"ffmpeg cannot encode MP3 here: {done.stderr.decode(errors='replace')[:200]}")
    return done.stdout


# ------------------------------------------------------------------------ 1. container by bytes
@pytest.mark.parametrize(
    "fmt, detected",
    [("FLAC", "FLAC"), ("OGG", "Ogg"), ("AIFF", "AIFF"), ("MP3", "MP3"), ("ID3+MP3", "MP3")],
)
def test_non_wav_container_named_wav_is_rejected(cli, rel, raw, tmp_path, fmt, detected):
    if fmt == "MP3":
        data = mp3_bytes()
    elif fmt == "ID3+MP3":
        data = b"ID3\x04\x00\x00\x00\x00\x00\x00" + mp3_bytes()  # an empty ID3v2 tag in front
    else:
        data = audio_bytes(fmt)
    (raw / FILE).write_bytes(data)
    expect_error(cli, rel, raw, tmp_path, FILE, f"is {detected} data, not WAV")


# ------------------------------------------------------------------------ 2. truncated RIFF
def test_truncated_data_chunk_is_rejected_with_both_sizes(cli, rel, raw, tmp_path):
    data = (raw / FILE).read_bytes()
    pos = data.index(b"data")
    declared = struct.unpack_from("<I", data, pos + 4)[0]
    cut = data[: pos + 8 + 1000]
    (raw / FILE).write_bytes(cut)
    assert sf.info(str(raw / FILE)).frames > 0  # libsndfile alone would accept it
    expect_error(cli, rel, raw, tmp_path, FILE, f"truncated: its data chunk declares {declared} bytes but only 1000")


def test_chunk_running_past_the_end_is_rejected(cli, rel, raw, tmp_path):
    data = bytearray((raw / FILE).read_bytes())
    data += b"LIST" + struct.pack("<I", 500) + b"INFO"  # a trailing chunk cut short
    struct.pack_into("<I", data, 4, len(data) - 8)
    (raw / FILE).write_bytes(bytes(data))
    expect_error(cli, rel, raw, tmp_path, FILE, "chunk 'LIST'", "declares 500 bytes, past the end of the file")


# ------------------------------------------------------------------------ 3. segment consistency
def test_channel_files_with_different_bit_depth_are_rejected(cli, rel, raw, tmp_path):
    path = raw / "TR1/normal/seg0001_ch2.wav"
    samples, _ = sf.read(path)
    sf.write(path, samples, SR, subtype="PCM_24")
    expect_error(cli, rel, raw, tmp_path, "TR1/normal/seg0001_ch", "segment TR1/0001",
                 "differ in sample format: seg0001_ch1.wav is PCM_16, seg0001_ch2.wav is PCM_24")


def test_length_mismatch_names_the_file_and_both_lengths(cli, rel, raw, tmp_path):
    path = raw / "TR1/normal/seg0001_ch3.wav"
    samples, _ = sf.read(path)
    sf.write(path, samples[: 10 * SR - 800], SR, subtype="PCM_16")  # 9.95 s: within the duration tolerance
    expect_error(cli, rel, raw, tmp_path, "segment TR1/0001",
                 "differ in length: seg0001_ch1.wav has 160000 samples, seg0001_ch3.wav has 159200")


# ------------------------------------------------------------------------ 4. file types, symlinks, size
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_fifo_named_wav_is_rejected_without_hanging(rel, raw, tmp_path):
    (raw / FILE).unlink()
    os.mkfifo(raw / FILE)
    before = rel.snapshot(raw)
    result = rel.subprocess_cli("build", "lib-trad", "--data-dir", raw, "--output", tmp_path / "out",
                                "--configs", "tr1", timeout=60)
    rel.assert_error_line(result, FILE, "is a FIFO (named pipe), not a regular file")
    assert rel.snapshot(raw) == before


def test_symlink_to_a_device_is_rejected(cli, rel, raw, tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    (raw / FILE).unlink()
    os.symlink("/dev/zero", raw / FILE)
    expect_error(cli, rel, raw, tmp_path, FILE, "is a symlink to a character device (/dev/zero), not a regular file")


def test_socket_named_wav_is_rejected(cli, rel, raw, tmp_path, monkeypatch):
    (raw / FILE).unlink()
    monkeypatch.chdir(raw / "TR1/normal")  # AF_UNIX paths are short: bind a relative name
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("seg0000_ch1.wav")
        expect_error(cli, rel, raw, tmp_path, FILE, "is a socket, not a regular file")


def test_symlink_leaving_the_data_folder_is_rejected(cli, rel, raw, tmp_path):
    outside = tmp_path / "elsewhere.wav"
    shutil.move(raw / FILE, outside)
    os.symlink(outside, raw / FILE)
    expect_error(cli, rel, raw, tmp_path, FILE, "symlink leaves the data folder")


def test_symlink_inside_the_data_folder_is_fine(cli, rel, raw, tmp_path):
    (raw / ".originals").mkdir()
    shutil.move(raw / FILE, raw / ".originals/seg0000_ch1.wav")
    os.symlink("../../.originals/seg0000_ch1.wav", raw / FILE)
    before = rel.snapshot(raw)
    result = build(cli, raw, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert rel.snapshot(raw) == before
    sources = json.loads((tmp_path / "out/manifest.json").read_text())["sources"]
    assert FILE in {s["path"] for s in sources}


def test_file_over_the_size_cap_is_rejected(cli, rel, raw, tmp_path, monkeypatch):
    monkeypatch.setattr(audio_io, "MAX_SOURCE_BYTES", 300_000)
    expect_error(cli, rel, raw, tmp_path, FILE, "file is 320186 bytes, over the 300000 bytes size limit")


# ------------------------------------------------------------------------ 5. layout strays
STRAYS = {
    "misspelled experiment": ("TR4/normal", "TR4", "unexpected folder at the top of the data folder",
                              "(not an experiment of LiB-TRAD, which has only TR1, TR2 and TR3)"),
    "lowercase experiment": ("tr1x/normal", "tr1x", "unexpected folder at the top", "(did you mean TR1?)"),
    "stray top-level file": ("notes.txt", "notes.txt", "unexpected file at the top of the data folder",
                             "(allowed: TR1/, TR2/"),
    "stray file in TR1": ("TR1/readme.txt", "TR1/readme.txt", "unexpected file in TR1/", "normal/ and abnormal/"),
    "stray folder in TR1": ("TR1/normall/", "TR1/normall", "unexpected folder in TR1/", "normal/ and abnormal/"),
}


def make_stray(raw: Path, what: str) -> None:
    if what.endswith("/"):
        (raw / what).mkdir(parents=True)
    elif "/" in what and not Path(what).suffix:
        (raw / what).mkdir(parents=True)
        (raw / what / "seg0000_ch1.wav").write_bytes((raw / FILE).read_bytes())
    else:
        (raw / what).write_text("stray\n")


@pytest.mark.parametrize("case", list(STRAYS), ids=lambda c: c.replace(" ", "-"))
def test_layout_stray_is_reported_by_name(cli, rel, raw, tmp_path, case):
    what, name, reason, hint = STRAYS[case]
    make_stray(raw, what)
    expect_error(cli, rel, raw, tmp_path, f": {name}: {reason}", hint)


def test_layout_strays_are_listed_in_the_manifest_with_skip(cli, rel, raw, tmp_path):
    for what, *_ in STRAYS.values():
        make_stray(raw, what)
    with (raw / "annotations.csv").open("a") as f:
        f.write("TR9,0,0.0,,\n")
    before = rel.snapshot(raw)
    rejected = {r["path"]: r["reason"] for r in skipped(cli, raw, tmp_path)}
    assert rel.snapshot(raw) == before
    for _, name, reason, _ in STRAYS.values():
        assert reason in rejected[name], rejected
    line = [p for p in rejected if p.startswith("annotations.csv line")]
    assert len(line) == 1 and "unknown experiment 'TR9'" in rejected[line[0]]
    assert not any(p.startswith("TR4/") or p.startswith("tr1x/") for p in rejected), "strays' insides not walked"


def test_stray_file_in_normal_charging_is_reported_when_built(cli, rel, raw, tmp_path):
    (raw / "normal_charging/NC3.wav").write_bytes((raw / FILE).read_bytes())
    # Not part of a tr1 build: not reported.
    result = build(cli, raw, tmp_path / "tr1-only")
    assert result.exit_code == 0, result.output
    before = rel.snapshot(raw)
    result = cli("build", "lib-trad", "--data-dir", raw, "--output", tmp_path / "out", "--configs", "normal_charging")
    rel.assert_error_line(result, "normal_charging/NC3.wav", "unexpected file in normal_charging/")
    assert rel.snapshot(raw) == before


def test_annotation_of_an_unknown_experiment_is_rejected(cli, rel, raw, tmp_path):
    with (raw / "annotations.csv").open("a") as f:
        f.write("TR4,3,30.0,,\n")
    lines = (raw / "annotations.csv").read_text().splitlines()
    expect_error(cli, rel, raw, tmp_path, f"annotations.csv line {len(lines)}", "unknown experiment 'TR4'")


# ------------------------------------------------------------------------ 6. names
@pytest.mark.parametrize(
    "name, reason",
    [
        ("seg\u0660\u0660\u0660\u0661_ch1.wav", "file name has non-ASCII digits"),
        ("seg0001_ch\u0661.wav", "file name has non-ASCII digits"),
        ("seg99999999999_ch1.wav", "segment number 99999999999 is too large (at most 2147483647)"),
        ("seg2147483648.wav", "segment number 2147483648 is too large"),
        ("seg0001_ch4294967297.wav", "channel number 4294967297 is too large"),
        ("\u017feg0001_ch1.wav", "file name is not segNNNN_chC.wav"),
    ],
)
def test_bad_numbers_in_names_are_rejected(cli, rel, raw, tmp_path, name, reason):
    (raw / "TR1/normal" / name).write_bytes((raw / FILE).read_bytes())
    expect_error(cli, rel, raw, tmp_path, f"TR1/normal/{name}", reason)


def test_non_utf8_name_is_rejected_and_shown_escaped(cli, rel, raw, tmp_path):
    folder = os.fsencode(raw / "TR1/normal")
    try:
        with open(folder + b"/seg0009_ch1\xff.wav", "wb") as f:
            f.write(b"x")
        os.mkdir(folder + b"/../../caf\xe9")
    except OSError as exc:  # a file system that enforces UTF-8 names
        pytest.skip(f"cannot create a non-UTF-8 file name here: {exc}")
    line = expect_error(cli, rel, raw, tmp_path, "TR1/normal/seg0009_ch1\\xff.wav", "name is not valid UTF-8")
    assert "caf\\xe9: name is not valid UTF-8" in line
    rejected = {r["path"]: r["reason"] for r in skipped(cli, raw, tmp_path)}
    assert "name is not valid UTF-8" in rejected["TR1/normal/seg0009_ch1\\xff.wav"]
    card = (tmp_path / "out-skip/README.md").read_text(encoding="utf-8")
    assert "seg0009_ch1\\xff.wav" in card


def test_control_characters_in_a_name_stay_on_one_line(cli, rel, raw, tmp_path):
    (raw / "TR1/normal/seg0001\nch1.wav").write_bytes(b"x")
    expect_error(cli, rel, raw, tmp_path, "TR1/normal/seg0001\\nch1.wav", "unprintable characters")


# ------------------------------------------------------------------------ 7. metadata files
def test_annotations_not_utf8_names_the_file_and_line(cli, rel, raw, tmp_path):
    with (raw / "annotations.csv").open("ab") as f:
        f.write(b"TR1,1,10.0,caf\xe9,\n")
    lines = (raw / "annotations.csv").read_bytes().count(b"\n")
    expect_error(cli, rel, raw, tmp_path, "annotations.csv", f"not UTF-8 text (line {lines}")


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"{not json", "not valid JSON (line 1 column 2"),
        (b"[1, 2]", "must hold a JSON object, not list"),
        (b'{"note": "caf\xe9"}', "not UTF-8 text (line 1"),
        (b'{"scale": NaN}', "NaN is not valid JSON"),
    ],
)
def test_broken_synthetic_marker_names_the_file(cli, rel, raw, tmp_path, content, reason):
    (raw / "SYNTHETIC.json").write_bytes(content)
    expect_error(cli, rel, raw, tmp_path, "SYNTHETIC.json", reason)


# ------------------------------------------------------------------------ 8. duration tolerance
@pytest.mark.parametrize("value", ["nan", "inf", "-0.5"])
def test_bad_duration_tolerance(cli, rel, raw, tmp_path, value):
    # The CLI may refuse it at its boundary; the scan refuses it too (for Python callers).
    expect_error(cli, rel, raw, tmp_path, "--duration-tolerance", value, extra=("--duration-tolerance", value))
    assert not (tmp_path / "out").exists()
    with pytest.raises(LibtradError, match=r"duration_tolerance_s=\S+: must be (a finite number|within \[0, inf\])"):
        scan_lib_trad(raw, ("TR1",), duration_tolerance_s=float(value), progress=False)


# ------------------------------------------------------------------------ 9. unexpected read errors
def test_permission_denied_is_a_rejection(cli, rel, raw, tmp_path, monkeypatch):
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # root reads anything: simulate the refusal
        real = audio_io.read_source

        def refuse(path, root=None, max_bytes=None):
            if Path(path).name == "seg0000_ch1.wav":
                raise PermissionError(13, "Permission denied", str(path))
            return real(path, root, max_bytes)

        monkeypatch.setattr(audio_io, "read_source", refuse)
    else:
        os.chmod(raw / FILE, 0)
    expect_error(cli, rel, raw, tmp_path, FILE, "unreadable (Permission denied)")


def test_unexpected_decoder_exception_is_a_rejection(cli, rel, raw, tmp_path, monkeypatch):
    class Exploding:
        def __init__(self, *args, **kwargs):
            raise ValueError("decoder exploded\nsecond line")

    monkeypatch.setattr(audio_io.sf, "SoundFile", Exploding)
    expect_error(cli, rel, raw, tmp_path, FILE, "could not be read (ValueError: decoder exploded)")


def test_float_rows_are_reencoded_without_a_timestamp():
    """libsndfile's PEAK chunk carries the wall-clock time: a rebuild would not be byte-identical."""
    import io

    import numpy as np
    import soundfile as sf

    from libtrad.builders.audio_samples import encode_wav

    samples = np.random.default_rng(0).standard_normal((1600, 4)).astype("float32") * 0.1
    data = encode_wav(samples, 16_000, "FLOAT")
    assert b"PEAK" not in data
    assert np.array_equal(sf.read(io.BytesIO(data), dtype="float32")[0], samples)
