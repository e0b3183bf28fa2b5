"""Reading, validating and re-encoding source WAV files, shared by every builder.

Two ways to validate a source file. :func:`validate_audio` reads it whole: one disk read gives
the bytes for the checksum and the decoded samples for the content checks (builders that decode
the samples anyway). :func:`probe_audio` judges a WAV from its header and chunk table only, and
:func:`read_probed` later reads, re-checks and hashes it in the same pass that embeds its bytes,
so a builder that embeds files unchanged reads each one once.

Before anything is opened the path is ``stat``-ed: only regular files (or symlinks to regular
files inside the data folder, or a Hub cache snapshot's links into its own blobs:
:mod:`libtrad.folders.hub_cache`) of at most :data:`MAX_SOURCE_BYTES` are read, so a FIFO, socket or
device named ``*.wav`` is rejected by name instead of hanging or streaming forever. The bytes
are then checked as WAV by their content, not their extension (libsndfile would happily decode
FLAC, Ogg, MP3 or AIFF), and the RIFF chunk sizes are walked so a truncated file is rejected
instead of being read short.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from libtrad.core.errors import exception_reason, first_line
from libtrad.folders.hub_cache import blob_of

_FLOAT_SUBTYPES = {"FLOAT", "DOUBLE"}
MAX_SOURCE_BYTES = 256 * 1024 * 1024
"""The largest source file read (a 10-s 4-channel 16 kHz WAV is about 1.3 MB)."""
_MIB = 1024 * 1024


@dataclass(frozen=True)
class AudioCheck:
    """What a builder requires of one source file."""

    sample_rate: int
    channels: int
    duration_s: float | None = None
    duration_tolerance_s: float = 0.1
    resample: bool = False


@dataclass(frozen=True)
class AudioFacts:
    """What validation learned of a source file's format (no samples are kept)."""

    path: Path
    size: int
    sample_rate: int
    channels: int
    frames: int
    subtype: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


@dataclass(frozen=True)
class SourceAudio(AudioFacts):
    """A source file validated by reading it whole: its facts and its checksum."""

    sha256: str = ""


class InvalidAudio(Exception):
    """A source file failed validation; ``reason`` is a short phrase for errors and manifests."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def validate_audio(path: Path, check: AudioCheck, root: Path | None = None) -> SourceAudio:
    """Read ``path`` once, check it against ``check`` and return its facts, or raise InvalidAudio.

    Only a regular file is opened (see :func:`read_source`); with ``root`` (the resolved data
    folder) a path that resolves outside it through a symlink is rejected too.
    """
    data = read_source(path, root)
    if not data:
        raise InvalidAudio(path, "empty file (0 bytes)")
    problem = wav_container_problem(data)
    if problem is not None:
        raise InvalidAudio(path, problem)
    sample_rate, channels, subtype, frames, samples = _sound_facts(path, io.BytesIO(data))
    _check_facts(path, check, sample_rate, channels, frames, samples)
    return SourceAudio(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        sample_rate=sample_rate,
        channels=channels,
        frames=frames,
        subtype=subtype,
    )


def _check_facts(
    path: Path, check: AudioCheck, sample_rate: int, channels: int, frames: int, samples: np.ndarray | None
) -> None:
    """InvalidAudio unless the file's format facts (and its decoded float samples, if any) meet ``check``."""
    if frames == 0:
        raise InvalidAudio(path, "empty audio (0 samples)")
    if channels != check.channels:
        raise InvalidAudio(path, f"has {channels} channel(s), expected {check.channels}")
    if sample_rate != check.sample_rate and not check.resample:
        raise InvalidAudio(
            path, f"sample rate {sample_rate} Hz, expected {check.sample_rate} Hz (pass --resample to convert)"
        )
    if check.duration_s is not None and abs(frames / sample_rate - check.duration_s) > check.duration_tolerance_s:
        raise InvalidAudio(
            path,
            f"duration {frames / sample_rate:.3f} s, expected {check.duration_s:g} ± {check.duration_tolerance_s:g} s",
        )
    _require_finite(path, samples)


def _require_finite(path: Path, samples: np.ndarray | None) -> None:
    if samples is not None and not np.isfinite(samples).all():
        bad = int((~np.isfinite(samples)).sum())
        raise InvalidAudio(path, f"{bad} non-finite sample(s) (NaN/inf)")


def read_source(path: Path, root: Path | None = None, max_bytes: int | None = None) -> bytes:
    """The bytes of ``path``, opened only after ``stat`` says it is a regular file, or InvalidAudio.

    FIFOs, sockets and devices (also behind a symlink) are rejected without being opened, as is
    a symlink that leaves ``root`` and a file over ``max_bytes`` (default :data:`MAX_SOURCE_BYTES`).
    """
    cap = MAX_SOURCE_BYTES if max_bytes is None else max_bytes
    with _open_regular(path, root, cap) as (f, size):
        try:
            # Ask for the size stat gave (+1 to notice growth): read(n) allocates n bytes up front.
            data = f.read(size + 1)
        except OSError as exc:
            raise InvalidAudio(path, f"unreadable ({exception_reason(exc)})") from None
    if len(data) > cap:
        raise InvalidAudio(path, f"file grew past the {_size(cap)} size limit while being read")
    if len(data) > size:
        raise InvalidAudio(path, "changed while being read (it grew)")
    return data


@contextlib.contextmanager
def _open_regular(path: Path, root: Path | DataFolder | None, cap: int) -> Iterator[tuple[BinaryIO, int]]:
    """(open binary file, size) of ``path``, once ``stat`` says it is a regular file within ``root`` and ``cap``."""
    try:
        info = os.lstat(path)
        link = stat.S_ISLNK(info.st_mode)
        if link:
            info = os.stat(path)
    except FileNotFoundError:
        raise InvalidAudio(
            path,
            "broken symlink (its target does not exist)" if os.path.islink(path) else "disappeared while being read",
        ) from None
    except OSError as exc:
        raise InvalidAudio(path, f"unreadable ({exception_reason(exc)})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = _file_kind(info.st_mode)
        if link:
            target = safe_text(os.path.realpath(path))
            raise InvalidAudio(path, f"is a symlink to {kind} ({target}), not a regular file")
        raise InvalidAudio(path, f"is {kind}, not a regular file")
    if root is not None:
        folder = root if isinstance(root, DataFolder) else DataFolder(root)
        real, base = folder.resolve(path, link), folder.real
        if os.path.commonpath([real, base]) != base and link and blob_of(path) is not None:
            real = os.path.realpath(path.parent)  # a Hub cache snapshot's link into its blobs: where the link lies
        if os.path.commonpath([real, base]) != base:
            raise InvalidAudio(path, f"symlink leaves the data folder (resolves to {safe_text(real)})")
    if info.st_size > cap:
        raise InvalidAudio(path, f"file is {_size(info.st_size)}, over the {_size(cap)} size limit")
    try:
        # O_NONBLOCK: should the file be swapped for a FIFO after the stat, open() still returns.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InvalidAudio(path, f"unreadable ({exception_reason(exc)})") from None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            raise InvalidAudio(path, "changed while being read (no longer the regular file that was checked)")
        f = os.fdopen(fd, "rb", closefd=True)
    except BaseException as exc:
        os.close(fd)
        if isinstance(exc, OSError):
            raise InvalidAudio(path, f"unreadable ({exception_reason(exc)})") from None
        raise
    with f:
        yield f, opened.st_size


class DataFolder:
    """A data folder resolved once, for one build: where does a file below it really lie?

    Resolving every file's full path costs a ``lstat`` per path component; within one build the
    folders a file lies in are resolved once and remembered. Create one per build and never keep
    it longer, so that a symlinked folder changed before the next build is seen.
    """

    def __init__(self, root: Path):
        self.real = os.path.realpath(root)
        self._parents: dict[Path, str] = {}

    def resolve(self, path: Path, is_link: bool) -> str:
        """``realpath(path)``; ``is_link``: ``path`` itself is a symlink (then resolved in full)."""
        if is_link:
            return os.path.realpath(path)
        parent = self._parents.get(path.parent)
        if parent is None:
            parent = self._parents[path.parent] = os.path.realpath(path.parent)
        return os.path.join(parent, path.name)


@dataclass(frozen=True)
class AudioHeader(AudioFacts):
    """A source WAV judged from its header and chunk table: its facts, and how to know it again.

    ``header_sha256`` covers every byte in front of the audio payload (RIFF header, ``fmt`` and
    any other chunk before ``data``): a file of the same size with the same header has the same
    format facts, which is what :func:`read_probed` checks when the export reads the file.
    """

    header_len: int = 0
    header_sha256: str = ""


def probe_audio(path: Path, check: AudioCheck, root: Path | DataFolder | None = None) -> AudioHeader:
    """Judge ``path`` as :func:`validate_audio` does, reading its header and chunk table only.

    Every chunk's declared size is checked against the file's size, and libsndfile reads the
    format from the open file; integer PCM whose data chunk is complete cannot fail to decode or
    hold NaN/inf, so only floating-point files are decoded here. The samples and the checksum
    are left to the export, which reads every file once (:func:`read_probed`): a build reads
    each clip once instead of twice.
    """
    with _open_regular(path, root, MAX_SOURCE_BYTES) as (f, size):
        if size == 0:
            raise InvalidAudio(path, "empty file (0 bytes)")
        try:
            read_at = _file_reader(f)
            problem, payload_start = _container(read_at, size)
            if problem is not None:
                raise InvalidAudio(path, problem)
            header = read_at(0, payload_start)
            f.seek(0)
            # libsndfile reads the open descriptor itself (no Python callback per read).
            sample_rate, channels, subtype, frames, samples = _sound_facts(path, f.fileno())
        except OSError as exc:
            raise InvalidAudio(path, f"unreadable ({exception_reason(exc)})") from None
    _check_facts(path, check, sample_rate, channels, frames, samples)
    return AudioHeader(
        path=path,
        size=size,
        sample_rate=sample_rate,
        channels=channels,
        frames=frames,
        subtype=subtype,
        header_len=len(header),
        header_sha256=hashlib.sha256(header).hexdigest(),
    )


def read_probed(
    header: AudioHeader, root: Path | DataFolder | None = None, into: memoryview | None = None
) -> tuple[memoryview, str]:
    """(bytes, SHA-256) of a file :func:`probe_audio` accepted, or InvalidAudio if it is not that file any more.

    The file is read into ``into`` (a writable view of exactly ``header.size`` bytes, e.g. an
    Arrow buffer the export writes from) or a new buffer. Size and header must be what the probe
    saw and the chunk table must still be complete (and floating-point samples finite), so the
    bytes are a valid file with the probed facts and the checksum is that of exactly these bytes.
    """
    path = header.path
    buffer = memoryview(bytearray(header.size)) if into is None else into
    if len(buffer) != header.size:
        raise ValueError(f"read_probed: a buffer of {len(buffer)} bytes for a {header.size}-byte file")
    size = read_source_into(path, buffer, root)
    if size != header.size:
        raise InvalidAudio(path, f"changed since it was validated ({header.size} bytes then, {size} now)")
    if hashlib.sha256(buffer[: header.header_len]).hexdigest() != header.header_sha256:
        raise InvalidAudio(path, "changed since it was validated (its header differs)")
    problem = _container(lambda pos, n: bytes(buffer[pos : pos + n]), size)[0]
    if problem is not None:
        raise InvalidAudio(path, f"changed since it was validated ({problem})")
    if header.subtype in _FLOAT_SUBTYPES:
        _require_finite(path, _sound_facts(path, io.BytesIO(buffer))[4])
    return buffer, hashlib.sha256(buffer).hexdigest()


def read_source_into(path: Path, buffer: memoryview, root: Path | DataFolder | None = None) -> int:
    """Read ``path`` (opened as :func:`read_source` opens it) into ``buffer`` if its size is ``len(buffer)``.

    Returns the file's size: anything other than ``len(buffer)`` means nothing was read. A file
    that shrinks or grows while being read is InvalidAudio.
    """
    with _open_regular(path, root, MAX_SOURCE_BYTES) as (f, size):
        if size != len(buffer):
            return size
        try:
            got = f.readinto(buffer)
            more = f.read(1)
        except OSError as exc:
            raise InvalidAudio(path, f"unreadable ({exception_reason(exc)})") from None
    if got != size or more:
        raise InvalidAudio(path, f"changed while being read ({'it grew' if more else 'it shrank'})")
    return size


_HEAD_BYTES = 4096  # read at once when probing: a plain WAV's header; chunks further in are read where they are


def _file_reader(f: BinaryIO) -> Callable[[int, int], bytes]:
    """``read_at(pos, n)`` over an open file: its first :data:`_HEAD_BYTES` read once, the rest by ``pread``."""
    head = os.pread(f.fileno(), _HEAD_BYTES, 0)

    def read_at(pos: int, n: int) -> bytes:
        if pos + n <= len(head):
            return head[pos : pos + n]
        return os.pread(f.fileno(), n, pos)

    return read_at


def _sound_facts(path: Path, f: BinaryIO | int) -> tuple[int, int, str, int, np.ndarray | None]:
    """(sample rate, channels, subtype, frames, float samples or None) as libsndfile reads them from ``f``."""
    try:
        with sf.SoundFile(f, closefd=False) as sound:
            # Integer PCM cannot hold NaN/inf: only floating-point files need their samples decoded.
            samples = sound.read(dtype="float32", always_2d=True) if sound.subtype in _FLOAT_SUBTYPES else None
            return sound.samplerate, sound.channels, sound.subtype, sound.frames, samples
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        detail = getattr(exc, "error_string", None) or first_line(exc)
        raise InvalidAudio(path, f"not a readable audio file ({detail})") from None


def wav_container_problem(data: bytes) -> str | None:
    """Why ``data`` is not a complete RIFF/RF64 WAVE file (judged by its bytes), or None."""
    return _container(lambda pos, n: data[pos : pos + n], len(data))[0]


def _container(read_at: Callable[[int, int], bytes], end: int) -> tuple[str | None, int]:
    """(why the file of ``end`` bytes is not a complete RIFF/RF64 WAVE file or None, where its audio payload starts)."""
    head = read_at(0, 12)
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return _riff_problem(read_at, end)
    detected = _detect_format(read_at)
    if detected is not None:
        return f"is {detected} data, not WAV", 0
    if head[:4] == b"RIFF":
        form = safe_text(head[8:12].decode("latin-1"))
        return f"not a readable audio file (a RIFF file of type {form!r}, not WAVE)", 0
    return "not a readable audio file (no RIFF/WAVE header)", 0


def _detect_format(read_at: Callable[[int, int], bytes]) -> str | None:
    """The name of a known non-WAV container or codec stream that the file starts with."""
    data = read_at(0, 16)
    if data[:3] == b"ID3" and len(data) >= 10:
        # An ID3v2 tag (syncsafe size) usually precedes MP3 frames, sometimes FLAC.
        size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F)
        size += 20 if data[5] & 0x10 else 10
        return "FLAC" if read_at(size, 4) == b"fLaC" else "MP3"
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return "AAC (ADTS)" if data[1] & 0x06 == 0 else "MP3"
    if data[:4] == b"fLaC":
        return "FLAC"
    if data[:4] == b"OggS":
        return "Ogg"
    if data[:4] == b"FORM" and data[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF" if data[8:12] == b"AIFF" else "AIFF-C"
    if data[:4] == b"RIFX" and data[8:12] == b"WAVE":
        return "big-endian RIFX WAVE"
    if data[:4] == b"riff" and data[8:16] == bytes.fromhex("2e91cf11a5d628db"):
        return "Sony Wave64 (W64)"
    if data[:4] == b"caff":
        return "Apple CAF"
    if data[:4] == b".snd":
        return "Sun/NeXT AU"
    if data[4:8] == b"ftyp":
        return "MP4/M4A"
    if data[:4] == b"\x1aE\xdf\xa3":
        return "Matroska/WebM"
    if data[:4] == b"wvpk":
        return "WavPack"
    return None


def _riff_problem(read_at: Callable[[int, int], bytes], end: int) -> tuple[str | None, int]:
    """Walk the chunks of a RIFF/RF64 WAVE file: every declared size must fit in the file.

    Returns (the problem or None, the byte offset of the ``data`` payload). Only the 8-byte chunk
    headers are read (and ``ds64``'s sizes), so the walk costs the same for a file read whole
    and for an open file.
    """
    if end < 12:
        return f"truncated: {end} bytes, shorter than a WAV header", 0
    head = read_at(0, 12)
    declared_total = struct.unpack_from("<I", head, 4)[0] + 8
    big = head[:4] != b"RIFF"  # RF64/BW64: the real sizes are in the ds64 chunk
    data_size_64: int | None = None
    pos, payload, last_odd = 12, None, False
    while pos + 8 <= end:
        chunk = read_at(pos, 8)
        chunk_id = chunk[:4]
        size = struct.unpack_from("<I", chunk, 4)[0]
        name = safe_text(chunk_id.decode("latin-1"))
        if big and chunk_id == b"ds64" and size >= 16 and pos + 24 <= end:
            riff_64, data_size_64 = struct.unpack("<QQ", read_at(pos + 8, 16))
            declared_total = riff_64 + 8
        if chunk_id == b"data":
            if big and size == 0xFFFFFFFF and data_size_64 is not None:
                size = data_size_64
            available = end - (pos + 8)
            if size > available:
                return f"truncated: its data chunk declares {size} bytes but only {available} are present", 0
            if payload is None:
                payload = pos + 8
        elif pos + 8 + size > end:
            return (
                f"chunk {name!r} at byte {pos} declares {size} bytes, past the end of the file "
                f"({end - pos - 8} bytes left)"
            ), 0
        pos += 8 + size + (size & 1)
        last_odd = bool(size & 1)
        if payload is not None and pos >= declared_total:
            break  # anything after the RIFF chunk (an appended tag) is not part of the WAV
    if payload is None:
        return "not a readable audio file (no data chunk)", 0
    if declared_total > end + (1 if last_odd else 0):
        return f"truncated: the RIFF header declares {declared_total} bytes but the file has {end}", 0
    return None, payload


def safe_text(text: str) -> str:
    """``text`` fit for one line of a message or a JSON/UTF-8 file: undecodable bytes (surrogate
    escapes from a non-UTF-8 file name) become ``\\xNN``, control characters backslash escapes."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif 0xDC80 <= ord(ch) <= 0xDCFF:
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def is_utf8_name(name: str) -> bool:
    """False for a file name that was not valid UTF-8 on disk (Python hands it over surrogate-escaped)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return kind
    return "a special file"


def _size(n: int) -> str:
    return f"{n / _MIB:.1f} MiB" if n >= _MIB else f"{n} bytes"
