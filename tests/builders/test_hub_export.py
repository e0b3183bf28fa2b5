"""One read per source file: header probes at scan time, bytes read once by the export.

``probe_audio`` must judge every defect exactly as the full-read ``validate_audio`` does;
``read_probed`` must notice a file that is no longer the one probed; a DCASE build must read every
clip's bytes once (straight into the Parquet row group), record the checksum of exactly the bytes
it embedded (in the manifest and in each row's ``sha256``, still with one read), and stop naming a
clip that changed between scan and export. The Parquet written from :class:`FileBytes` must be the
Parquet written from plain bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import soundfile as sf

from libtrad.builders import audio_io, hub_export, parquet_shard
from libtrad.builders.audio_io import AudioCheck, DataFolder, InvalidAudio, probe_audio, read_probed, validate_audio
from libtrad.builders.hub_export import FileBytes
from libtrad.builders.scan import SourceChecksums
from libtrad.core.errors import LibtradError

SR = 16_000
CHECK = AudioCheck(SR, 1)


def wav_bytes(samples=None, sample_rate: int = SR, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    if samples is None:
        samples = 0.1 * np.sin(np.arange(SR // 4) / SR * 2 * np.pi * 440)
    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, subtype=subtype, format=fmt)
    return buffer.getvalue()


def with_chunk_before_data(data: bytes, chunk: bytes) -> bytes:
    """``data`` (a canonical 44-byte-header WAV) with ``chunk`` inserted after ``fmt``."""
    body = data[12:36] + chunk + data[36:]
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def nan_samples() -> np.ndarray:
    x = np.zeros(800, np.float32)
    x[7] = np.nan
    return x


def bad_tail(data: bytes) -> bytes:
    """A LIST chunk after the data that declares more bytes than the file holds (RIFF size counts them)."""
    tail = b"LIST" + struct.pack("<I", 100) + b"x" * 10
    return b"RIFF" + struct.pack("<I", len(data) - 8 + 108) + data[8:] + tail


def no_data_chunk(data: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + 24) + b"WAVE" + data[12:36]


CASES = {
    "pcm16": lambda: wav_bytes(),
    "pcm24": lambda: wav_bytes(subtype="PCM_24"),
    "float": lambda: wav_bytes(subtype="FLOAT"),
    "float-nan": lambda: wav_bytes(nan_samples(), subtype="FLOAT"),
    "double-inf": lambda: wav_bytes(np.full(400, np.inf), subtype="DOUBLE"),
    "rf64": lambda: wav_bytes(fmt="RF64"),
    "junk-chunk-past-the-first-4k": lambda: with_chunk_before_data(
        wav_bytes(), b"junk" + struct.pack("<I", 9000) + bytes(9000)
    ),
    "truncated-data": lambda: wav_bytes()[:-100],
    "chunk-past-the-end": lambda: bad_tail(wav_bytes()),
    "no-data-chunk": lambda: no_data_chunk(wav_bytes()),
    "zero-frames": lambda: wav_bytes(np.zeros(0)),
    "empty-file": lambda: b"",
    "flac-named-wav": lambda: wav_bytes(fmt="FLAC"),
    "ogg-named-wav": lambda: wav_bytes(fmt="OGG", subtype="VORBIS"),
    "riff-not-wave": lambda: b"RIFF" + struct.pack("<I", 4) + b"AVI ",
    "stereo": lambda: wav_bytes(np.zeros((800, 2))),
    "44k1": lambda: wav_bytes(sample_rate=44_100),
}


def outcome(fn, path: Path, root) -> tuple:
    try:
        r = fn(path, CHECK, root=root)
    except InvalidAudio as exc:
        return ("rejected", exc.reason)
    return ("ok", r.size, r.sample_rate, r.channels, r.frames, r.subtype)


@pytest.mark.parametrize("case", list(CASES))
def test_probe_judges_like_the_full_read(tmp_path, case):
    path = tmp_path / "clip.wav"
    path.write_bytes(CASES[case]())
    full, probed = outcome(validate_audio, path, tmp_path), outcome(probe_audio, path, DataFolder(tmp_path))
    assert probed == full
    if case in ("pcm16", "pcm24", "float", "rf64", "junk-chunk-past-the-first-4k"):
        assert full[0] == "ok", full
    else:
        assert full[0] == "rejected", full


def test_probe_refuses_special_files_and_escaping_links_like_the_full_read(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    outside = tmp_path / "outside.wav"
    outside.write_bytes(wav_bytes())
    os.symlink(outside, data / "escapes.wav")
    os.symlink(tmp_path / "missing.wav", data / "broken.wav")
    os.mkfifo(data / "fifo.wav")
    (data / "folder.wav").mkdir()
    (data / "inside").mkdir()
    (data / "inside" / "real.wav").write_bytes(wav_bytes())
    os.symlink(data / "inside" / "real.wav", data / "link-inside.wav")
    folder = DataFolder(data)
    for name in ("escapes.wav", "broken.wav", "fifo.wav", "folder.wav", "link-inside.wav"):
        assert outcome(probe_audio, data / name, folder) == outcome(validate_audio, data / name, data), name
    assert outcome(probe_audio, data / "escapes.wav", folder)[1].startswith("symlink leaves the data folder")
    assert outcome(probe_audio, data / "link-inside.wav", folder)[0] == "ok"


def test_read_probed_returns_exactly_the_file_and_its_checksum(tmp_path):
    path = tmp_path / "clip.wav"
    path.write_bytes(wav_bytes())
    header = probe_audio(path, CHECK, root=tmp_path)
    data, sha = read_probed(header, tmp_path)
    assert bytes(data) == path.read_bytes() and sha == hashlib.sha256(path.read_bytes()).hexdigest()
    arrow = pa.allocate_buffer(header.size)
    view, sha_into = read_probed(header, tmp_path, into=memoryview(arrow).cast("B"))
    assert arrow.to_pybytes() == path.read_bytes() and sha_into == sha
    with pytest.raises(ValueError, match="buffer"):
        read_probed(header, tmp_path, into=memoryview(bytearray(header.size - 1)))


def _changed(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "grown":
        data += b"\0\0"
    elif how == "header":
        data[24:28] = struct.pack("<I", 8000)  # the fmt chunk's sample rate
    elif how == "samples":
        data[-4:] = b"\x01\x02\x03\x04"
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "how, reason",
    [("grown", "changed since it was validated ("), ("header", "changed since it was validated (its header differs)")],
)
def test_read_probed_refuses_a_file_that_is_not_the_one_probed(tmp_path, how, reason):
    path = tmp_path / "clip.wav"
    path.write_bytes(wav_bytes())
    header = probe_audio(path, CHECK, root=tmp_path)
    _changed(path, how)
    with pytest.raises(InvalidAudio) as info:
        read_probed(header, tmp_path)
    assert info.value.reason.startswith(reason)


def test_read_probed_takes_new_samples_of_the_same_file_and_hashes_what_it_read(tmp_path):
    """Same size and header = the same format facts: valid, and the checksum is of the new bytes."""
    path = tmp_path / "clip.wav"
    path.write_bytes(wav_bytes())
    header = probe_audio(path, CHECK, root=tmp_path)
    _changed(path, "samples")
    data, sha = read_probed(header, tmp_path)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()


def test_read_probed_rechecks_float_samples_and_special_files(tmp_path):
    path = tmp_path / "clip.wav"
    path.write_bytes(wav_bytes(np.zeros(800, np.float32), subtype="FLOAT"))
    header = probe_audio(path, CHECK, root=tmp_path)
    path.write_bytes(wav_bytes(nan_samples(), subtype="FLOAT"))  # same size and header
    with pytest.raises(InvalidAudio, match="non-finite"):
        read_probed(header, tmp_path)
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(InvalidAudio, match="FIFO"):
        read_probed(header, tmp_path)


def test_source_checksums_fill_the_manifest_and_refuse_two_different_reads():
    sums = SourceChecksums()
    sums.record("a.wav", "1" * 64)
    sums.record("a.wav", "1" * 64)  # the figure reads a clip the export read too: fine when equal
    with pytest.raises(LibtradError, match="a.wav: changed while the build was reading it"):
        sums.record("a.wav", "2" * 64)
    filled = sums.fill([{"path": "a.wav", "sha256": None}, {"path": "list.csv", "sha256": "3" * 64}])
    assert filled == [{"path": "a.wav", "sha256": "1" * 64}, {"path": "list.csv", "sha256": "3" * 64}]
    with pytest.raises(RuntimeError, match="never read"):
        sums.fill([{"path": "b.wav", "sha256": None}])


# ----------------------------------------------------------------------------- FileBytes in the writer
def _features():
    import datasets

    return datasets.Features(
        {
            "audio": datasets.Audio(sampling_rate=SR),
            "file": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["normal", "anomaly"]),
        }
    )


def _file_bytes(path: Path) -> FileBytes:
    def read_into(view):
        view[:] = path.read_bytes()

    return FileBytes(path.stat().st_size, path.name, read_into)


def test_file_bytes_write_the_same_parquet_as_plain_bytes(tmp_path):
    from libtrad.builders.hub_export import ConfigSource, SplitSource, write_configs

    paths = []
    for i in range(7):
        path = tmp_path / "src" / f"c{i}.wav"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(wav_bytes(0.01 * i * np.ones(100 + i)))
        paths.append(path)

    def config(value_of, mixed=False):
        def rows():
            return (
                {"audio": _file_bytes(p) if mixed and i % 2 else value_of(p), "file": p.name, "label": i % 2}
                for i, p in enumerate(paths)
            )

        return ConfigSource("c", _features(), [SplitSource("train", len(paths), rows)])

    plain = write_configs(
        tmp_path / "plain", [config(lambda p: {"bytes": p.read_bytes(), "path": p.name})], progress=False
    )
    direct = write_configs(tmp_path / "direct", [config(_file_bytes)], progress=False)
    mixed = write_configs(
        tmp_path / "mixed", [config(lambda p: {"bytes": p.read_bytes(), "path": p.name}, True)], progress=False
    )
    files = plain["c"]["train"].files
    assert direct["c"]["train"].files == files == mixed["c"]["train"].files
    for name, sha in files.items():
        assert hashlib.sha256((tmp_path / "direct" / name).read_bytes()).hexdigest() == sha


def test_an_error_in_read_into_reaches_the_caller(tmp_path):
    from libtrad.builders.hub_export import ConfigSource, SplitSource, write_configs

    def refuse(view):
        raise LibtradError("x.wav: changed since it was validated; run the build again")

    rows = lambda: iter([{"audio": FileBytes(4, "x.wav", refuse), "file": "x.wav", "label": 0}])  # noqa: E731
    with pytest.raises(LibtradError, match="x.wav: changed since it was validated"):
        write_configs(
            tmp_path / "out", [ConfigSource("c", _features(), [SplitSource("train", 1, rows)])], progress=False
        )


def test_a_failed_write_stops_the_reading_threads(tmp_path, monkeypatch):
    from libtrad.builders.hub_export import ConfigSource, SplitSource, write_configs

    def disk_full(self, table):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(parquet_shard.ShardWriter, "write", disk_full)
    monkeypatch.setattr(hub_export, "ROWS_PER_GROUP", 2)
    data = wav_bytes()

    def rows():
        return ({"audio": {"bytes": data, "path": f"{i}.wav"}, "file": f"{i}.wav", "label": 0} for i in range(50))

    failure = None
    try:
        write_configs(
            tmp_path / "out", [ConfigSource("c", _features(), [SplitSource("train", 50, rows)])], progress=False
        )
    except OSError as exc:
        failure = exc  # its traceback keeps the writer's frame alive, as a caller holding the error would
    assert "No space left" in str(failure)
    assert not [t for t in threading.enumerate() if t.name == "libtrad-prefetch"]


# ----------------------------------------------------------------------------- a DCASE build
@pytest.fixture
def dcase_raw(tmp_path) -> Path:
    from libtrad.builders.dcase.synth import synthesize_dcase

    raw = tmp_path / "raw"
    synthesize_dcase(raw, year=2021, scale=1.0, seed=0, progress=False)
    return raw


def test_a_dcase_build_reads_each_clip_once_and_records_what_it_embedded(dcase_raw, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from libtrad.builders.registry import SIREN

    full_reads, whole_file_reads = Counter(), Counter()
    real_into, real_read = audio_io.read_source_into, audio_io.read_source

    def counting_into(path, buffer, root=None):
        full_reads[Path(path).relative_to(dcase_raw).as_posix()] += 1
        return real_into(path, buffer, root)

    def counting_read(path, root=None, max_bytes=None):
        whole_file_reads[Path(path).suffix] += 1
        return real_read(path, root, max_bytes)

    monkeypatch.setattr(audio_io, "read_source_into", counting_into)
    monkeypatch.setattr(audio_io, "read_source", counting_read)
    monkeypatch.setattr(hub_export, "ROWS_PER_GROUP", 7)  # many row groups: the shards are hashed as they grow
    out = tmp_path / "out"
    SIREN.build(dcase_raw, out, component="dcase2021", progress=False, max_shard_bytes=200_000)

    manifest = json.loads((out / "manifest.json").read_text())
    clips = {s["path"]: s["sha256"] for s in manifest["sources"] if s["path"].endswith(".wav")}
    assert whole_file_reads[".wav"] == 0  # the scan probes headers; the export reads into Arrow
    assert set(full_reads) == set(clips)
    assert sorted(full_reads.values()) == [1] * (len(clips) - 2) + [2, 2]  # the figure reads two clips again
    for rel_path, sha in clips.items():
        assert hashlib.sha256((dcase_raw / rel_path).read_bytes()).hexdigest() == sha
    embedded = Counter()
    assert len(manifest["parquet_files"]) > 2
    for name, sha in manifest["parquet_files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == sha
        table = pq.read_table(out / name, columns=["audio", "sha256"])
        for cell, row_sha in zip(table.column("audio").to_pylist(), table.column("sha256").to_pylist()):
            embedded[hashlib.sha256(cell["bytes"]).hexdigest()] += 1
            assert row_sha == hashlib.sha256(cell["bytes"]).hexdigest()  # each row's sha256: its own bytes
    assert embedded == Counter(clips.values())


def test_a_clip_changed_between_scan_and_export_is_named(dcase_raw, tmp_path, monkeypatch, cli, rel):
    from libtrad.builders.dcase import components as dc

    victim = sorted(dcase_raw.rglob("*.wav"))[3]
    real_scan = dc.DcaseComponent.scan

    def scan_then_change(self, *args, **kwargs):
        result = real_scan(self, *args, **kwargs)
        with victim.open("ab") as f:
            f.write(b"\0\0")
        return result

    monkeypatch.setattr(dc.DcaseComponent, "scan", scan_then_change)
    out = tmp_path / "out"
    result = cli("build", "siren", "--component", "dcase2021", "--data-dir", dcase_raw, "--output", out)
    rel.assert_error_line(result, victim.relative_to(dcase_raw).as_posix(), "changed since it was validated")
    assert not out.exists()


def test_the_datasets_builder_embeds_the_same_bytes(dcase_raw, tmp_path):
    from libtrad.builders.dcase.components import DCASE2021
    from libtrad.builders.hf_builder import make_builder

    builder = make_builder(DCASE2021)(cache_dir=str(tmp_path / "hf"), config_name="dcase2021", data_dir=str(dcase_raw))
    builder.download_and_prepare()
    test = builder.as_dataset(split="test").cast_column("audio", __import__("datasets").Audio(decode=False))
    rows = {(row["set"], row["machine"], row["file"]): (row["audio"]["bytes"], row["sha256"]) for row in test}
    assert len(rows) == test.num_rows > 0
    for (set_, machine, name), (data, sha) in rows.items():
        [source] = [p for p in dcase_raw.rglob(name) if machine in p.parts]
        assert data == source.read_bytes(), (set_, machine, name)
        assert sha == hashlib.sha256(data).hexdigest()  # the row's sha256, computed after its bytes were read
