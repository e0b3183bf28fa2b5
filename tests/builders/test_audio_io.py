"""libtrad.builders.audio_io (through ``libtrad build lib-trad``): a source file is validated without trusting it
— containers, truncation, special files, links, sizes, names — and every bad one is a named rejection."""

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

SR = 16_000


FILE = "TR1/normal/seg0000_ch1.wav"


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

    done = subprocess.run(
        [ffmpeg, "-loglevel", "error", "-f", "wav", "-i", "pipe:0", "-f", "mp3", "pipe:1"],
        input=audio_bytes("WAV"),
        capture_output=True,
        timeout=60,
    )
    if done.returncode != 0:
        pytest.skip(f"ffmpeg cannot encode MP3 here: {done.stderr.decode(errors='replace')[:200]}")
    return done.stdout


# ------------------------------------------------------------------------ 1. container by bytes
@pytest.mark.parametrize(
    "fmt, detected", [("FLAC", "FLAC"), ("OGG", "Ogg"), ("AIFF", "AIFF"), ("MP3", "MP3"), ("ID3+MP3", "MP3")]
)
def test_non_wav_container_named_wav_is_rejected(cli, rel, raw, tmp_path, fmt, detected, expect_error):
    if fmt == "MP3":
        data = mp3_bytes()
    elif fmt == "ID3+MP3":
        data = b"ID3\x04\x00\x00\x00\x00\x00\x00" + mp3_bytes()  # an empty ID3v2 tag in front
    else:
        data = audio_bytes(fmt)
    (raw / FILE).write_bytes(data)
    expect_error(cli, rel, raw, tmp_path, FILE, f"is {detected} data, not WAV")


# ------------------------------------------------------------------------ 2. truncated RIFF
def test_truncated_data_chunk_is_rejected_with_both_sizes(cli, rel, raw, tmp_path, expect_error):
    data = (raw / FILE).read_bytes()
    pos = data.index(b"data")
    declared = struct.unpack_from("<I", data, pos + 4)[0]
    cut = data[: pos + 8 + 1000]
    (raw / FILE).write_bytes(cut)
    assert sf.info(str(raw / FILE)).frames > 0  # libsndfile alone would accept it
    expect_error(cli, rel, raw, tmp_path, FILE, f"truncated: its data chunk declares {declared} bytes but only 1000")


def test_chunk_running_past_the_end_is_rejected(cli, rel, raw, tmp_path, expect_error):
    data = bytearray((raw / FILE).read_bytes())
    data += b"LIST" + struct.pack("<I", 500) + b"INFO"  # a trailing chunk cut short
    struct.pack_into("<I", data, 4, len(data) - 8)
    (raw / FILE).write_bytes(bytes(data))
    expect_error(cli, rel, raw, tmp_path, FILE, "chunk 'LIST'", "declares 500 bytes, past the end of the file")


# ------------------------------------------------------------------------ 4. file types, symlinks, size
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_fifo_named_wav_is_rejected_without_hanging(rel, raw, tmp_path):
    (raw / FILE).unlink()
    os.mkfifo(raw / FILE)
    before = rel.snapshot(raw)
    result = rel.subprocess_cli(
        "build", "lib-trad", "--data-dir", raw, "--output", tmp_path / "out", "--configs", "tr1", timeout=60
    )
    rel.assert_error_line(result, FILE, "is a FIFO (named pipe), not a regular file")
    assert rel.snapshot(raw) == before


def test_symlink_to_a_device_is_rejected(cli, rel, raw, tmp_path, expect_error):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    (raw / FILE).unlink()
    os.symlink("/dev/zero", raw / FILE)
    expect_error(cli, rel, raw, tmp_path, FILE, "is a symlink to a character device (/dev/zero), not a regular file")


def test_socket_named_wav_is_rejected(cli, rel, raw, tmp_path, monkeypatch, expect_error):
    (raw / FILE).unlink()
    monkeypatch.chdir(raw / "TR1/normal")  # AF_UNIX paths are short: bind a relative name
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("seg0000_ch1.wav")
        expect_error(cli, rel, raw, tmp_path, FILE, "is a socket, not a regular file")


def test_symlink_leaving_the_data_folder_is_rejected(cli, rel, raw, tmp_path, expect_error):
    outside = tmp_path / "elsewhere.wav"
    shutil.move(raw / FILE, outside)
    os.symlink(outside, raw / FILE)
    expect_error(cli, rel, raw, tmp_path, FILE, "symlink leaves the data folder")


def test_symlink_inside_the_data_folder_is_fine(cli, rel, raw, tmp_path, build_lib_trad):
    (raw / ".originals").mkdir()
    shutil.move(raw / FILE, raw / ".originals/seg0000_ch1.wav")
    os.symlink("../../.originals/seg0000_ch1.wav", raw / FILE)
    before = rel.snapshot(raw)
    result = build_lib_trad(cli, raw, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert rel.snapshot(raw) == before
    sources = json.loads((tmp_path / "out/manifest.json").read_text())["sources"]
    assert FILE in {s["path"] for s in sources}


def test_file_over_the_size_cap_is_rejected(cli, rel, raw, tmp_path, monkeypatch, expect_error):
    monkeypatch.setattr(audio_io, "MAX_SOURCE_BYTES", 300_000)
    expect_error(cli, rel, raw, tmp_path, FILE, "file is 320186 bytes, over the 300000 bytes size limit")


def test_non_utf8_name_is_rejected_and_shown_escaped(cli, rel, raw, tmp_path, expect_error, skipped):
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


def test_control_characters_in_a_name_stay_on_one_line(cli, rel, raw, tmp_path, expect_error):
    (raw / "TR1/normal/seg0001\nch1.wav").write_bytes(b"x")
    expect_error(cli, rel, raw, tmp_path, "TR1/normal/seg0001\\nch1.wav", "unprintable characters")


# ------------------------------------------------------------------------ 9. unexpected read errors
def test_permission_denied_is_a_rejection(cli, rel, raw, tmp_path, monkeypatch, expect_error):
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


def test_unexpected_decoder_exception_is_a_rejection(cli, rel, raw, tmp_path, monkeypatch, expect_error):
    class Exploding:
        def __init__(self, *args, **kwargs):
            raise ValueError("decoder exploded\nsecond line")

    monkeypatch.setattr(audio_io.sf, "SoundFile", Exploding)
    expect_error(cli, rel, raw, tmp_path, FILE, "could not be read (ValueError: decoder exploded)")
