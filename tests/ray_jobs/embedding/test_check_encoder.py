"""``libtrad check-encoder``: real encoders pass; each deliberately broken one fails its check, by name and number."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from libtrad.core.errors import ParameterError
from libtrad.ray_jobs.embedding import check_encoder as ce
from libtrad.ray_jobs.embedding.encoders import LogMelStatsEncoder

ALLOWED = "allowed 1e-05 x max(1, largest |value|)"


# ----------------------------------------------------------------------------- broken encoders
class WrongDim(LogMelStatsEncoder):
    """States 100 dimensions, gives 128."""

    def __init__(self):
        super().__init__()
        self.output_dim = 100


class BatchDependent(LogMelStatsEncoder):
    """Adds 0.01 per clip in the call: a clip's result depends on what it is batched with."""

    def _batch(self, batch):
        clip, frames = super()._batch(batch)
        return clip + 0.01 * len(batch), frames + 0.01 * len(batch)


class NaNOnSilence(LogMelStatsEncoder):
    """NaN for an all-zero clip (a log of zero energy left unguarded)."""

    def _batch(self, batch):
        clip, frames = super()._batch(batch)
        silent = batch.abs().amax(dim=1) == 0
        return clip.masked_fill(silent[:, None], float("nan")), frames.masked_fill(silent[:, None, None], float("nan"))


class WrongHop(LogMelStatsEncoder):
    """States a 64-ms hop; its frames are 32 ms apart."""

    def __init__(self):
        super().__init__()
        self.hop_size_in_ms = 64.0


class Float64(LogMelStatsEncoder):
    """Returns float64 embeddings."""

    def embed(self, clips):
        pooled, frames = super().embed(clips)
        return pooled.astype(np.float64), [f.astype(np.float64) for f in frames]


class PaddingLeak(LogMelStatsEncoder):
    """Zero-pads every clip to the longest and runs them as one batch: the short clip's statistics see the zeros."""

    def embed(self, clips):
        clip, frames = self._padded(clips)
        return clip.float().numpy(), [frames[i, : 1 + len(c) // self.HOP].float().numpy() for i, c in enumerate(clips)]

    def _padded(self, clips):
        batch = torch.zeros(len(clips), max(len(c) for c in clips))
        for i, c in enumerate(clips):
            batch[i, : len(c)] = torch.from_numpy(np.asarray(c, dtype=np.float32))
        with torch.inference_mode():
            return self._batch(batch)


class IgnoresMask(LogMelStatsEncoder):
    """forward() drops audio_attention_mask: padded samples become frames of the short clip."""

    def forward(self, audio, audio_attention_mask=None):
        return super().forward(audio)


class RefusesShortClips(LogMelStatsEncoder):
    def embed(self, clips):
        if min(len(c) for c in clips) < 4000:
            raise ValueError("clip too short")
        return super().embed(clips)


def failures(encoder, quick=True) -> dict[str, str]:
    results = ce.check_encoder(encoder, quick=quick)
    return {r.name: f"FAIL {r.name}: {r.message}" for r in results if not r.passed}


def report_lines(encoder, quick=True) -> list[str]:
    return ce.format_report(ce.check_encoder(encoder, quick=quick)).splitlines()


# ----------------------------------------------------------------------------- real encoders pass
def test_logmel_stats_passes_every_check():
    results = ce.check_encoder_spec("logmel-stats")
    assert [r.name for r in results] == list(ce.CHECK_NAMES)
    assert [r for r in results if not r.passed] == []
    assert ce.format_report(results) == f"{len(ce.CHECK_NAMES)} checks, 0 failed"


# echo, attention-ae and hf pass every check in test_xares_interop.py, X-ARES's checker on the same objects.


def test_quick_skips_only_the_long_clip():
    names = [r.name for r in ce.check_encoder(LogMelStatsEncoder(), quick=True)]
    assert names == [n for n in ce.CHECK_NAMES if n != "long_clip"]


# ----------------------------------------------------------------------------- broken encoders fail by name
def test_wrong_output_dim():
    found = failures(WrongDim())
    assert found["output_dim"] == "FAIL output_dim: encoder states 100; embed gives 128 (clip embeddings), 128 (frames)"
    assert found["silence"] == (
        "FAIL silence: a 1-s silent clip gives clip embeddings of shape (1, 128), "
        "not (1, 100); frames of shape (32, 128), not (T >= 1, 100)"
    )


def test_batch_dependent_output():
    assert report_lines(BatchDependent()) == [
        "FAIL batch: 3 equal-length 1-s clips in one call differ from each run alone by 0.02 (clip embeddings), "
        f"0.02 (frames), 0.02 (forward); {ALLOWED}",
        f"{len(ce.CHECK_NAMES) - 1} checks, 1 failed",
    ]


def test_nan_on_silence():
    assert report_lines(NaNOnSilence())[:-1] == [
        "FAIL silence: a 1-s silent clip gives 128 of 128 (clip embeddings), 4096 of 4096 (frames) non-finite values"
    ]


def test_wrong_hop():
    found = failures(WrongHop(), quick=False)
    assert set(found) == {"frame_count", "sample_rates", "long_clip", "short_clip"}
    assert found["frame_count"] == (
        "FAIL frame_count: frames disagree with hop_size_in_ms=64 (allowed ±(2 + 5%)): 0.5 s: 16 vs 7.8, "
        "1 s: 32 vs 15.6, 2 s: 63 vs 31.2, 5 s: 157 vs 78.1, 10 s: 313 vs 156.2"
    )
    assert found["sample_rates"] == (
        "FAIL sample_rates: frames disagree with hop_size_in_ms=64 for a 1.3-s clip resampled to 16000 Hz "
        "(allowed ±(2 + 5%)): " + ", ".join(f"{rate} Hz: 41 vs 20.3" for rate in ce.SOURCE_RATES)
    )
    assert found["long_clip"] == (
        "FAIL long_clip: a 30-s clip gives 938 frames; hop_size_in_ms=64 implies 468.8 (allowed within a factor 1.5)"
    )
    assert found["short_clip"] == "FAIL short_clip: a 0.1-s clip gives 4 frames; hop_size_in_ms=64 implies 1.6 (±2.1)"


def test_float64_output():
    assert report_lines(Float64())[:-1] == ["FAIL dtype: expected float32; clip embeddings float64, frames float64"]


def test_padding_leak():
    enc = PaddingLeak()
    rate = enc.sampling_rate
    long, short = (
        0.1 * np.random.default_rng(seed).standard_normal(int(s * rate)).astype(np.float32)
        for s, seed in (ce.PAD_LONG, ce.PAD_SHORT)
    )
    leaked_clip, leaked_frames = enc._padded([long, short])
    alone_clip, alone_frames = LogMelStatsEncoder().embed([short])
    d_clip = np.abs(leaked_clip[1].float().numpy() - alone_clip[0]).max()
    d_frames = np.abs(leaked_frames[1, : len(alone_frames[0])].float().numpy() - alone_frames[0]).max()
    assert d_clip > 1 and d_frames > 1
    assert report_lines(enc)[:-1] == [
        "FAIL padding: a 0.5-s clip batched with a 2-s clip (embed) or noise-padded to 2 s under "
        f"audio_attention_mask (forward) differs from it alone by {d_clip:.3g} (clip embeddings), "
        f"{d_frames:.3g} (frames), {d_frames:.3g} (masked forward); {ALLOWED}"
    ]


def test_forward_that_ignores_the_mask_leaks_padding():
    lines = report_lines(IgnoresMask())
    assert len(lines) == 2 and lines[0].startswith("FAIL padding: ")
    assert "(masked forward); " in lines[0]
    # 2 s -> 1 + 32000 // 512 = 63 frames, of which the 0.5-s clip's own are 1 + 8000 // 512 = 16
    assert lines[0].endswith("; masked forward leaves 47 of 47 frames after its 16 real ones non-zero")


def test_a_short_clip_the_encoder_refuses():
    assert report_lines(RefusesShortClips())[:-1] == [
        "FAIL short_clip: embed on a 0.1-s clip raised ValueError: clip too short"
    ]


def test_invalid_attributes_stop_the_other_checks():
    enc = LogMelStatsEncoder()
    enc.hop_size_in_ms, enc.output_dim = 0.0, "128"
    results = ce.check_encoder(enc)
    assert [(r.name, r.passed) for r in results] == [("attributes", False)]
    assert results[0].message == (
        "output_dim is '128', not an integer > 0 and <= 65536; "
        "hop_size_in_ms is 0.0, not a finite number > 0 and <= 60000"
    )


def test_json_report_is_plain_json():
    data = ce.results_json(ce.check_encoder(WrongHop(), quick=True), spec="x")
    data = json.loads(json.dumps(data, allow_nan=False))
    assert data["encoder"] == {"sampling_rate": 16000, "output_dim": 128, "hop_size_in_ms": 64.0}
    assert data["passed"] is False
    assert {c["name"] for c in data["checks"] if not c["passed"]} == {"frame_count", "sample_rates", "short_clip"}


def test_a_bad_spec_is_a_parameter_error():
    with pytest.raises(ParameterError, match="unknown encoder kind"):
        ce.check_encoder_spec("nope")


# ----------------------------------------------------------------------------- the CLI
def test_cli_passes_with_status_0(cli):
    result = cli("check-encoder", "logmel-stats", "--quick")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{len(ce.CHECK_NAMES) - 1} checks, 0 failed"


def test_cli_one_line_per_failed_check_and_status_1(cli, monkeypatch):
    monkeypatch.setattr(ce, "load_encoder", lambda spec, **placement: WrongHop())
    result = cli("check-encoder", "logmel-stats", "--quick")
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == ["FAIL frame_count", "FAIL sample_rates", "FAIL short_clip"]
    assert lines[-1] == f"{len(ce.CHECK_NAMES) - 1} checks, 3 failed"
    assert "error:" not in result.output and "Traceback" not in result.output


def test_cli_json(cli, monkeypatch):
    monkeypatch.setattr(ce, "load_encoder", lambda spec, **placement: Float64())
    result = cli("check-encoder", "logmel-stats", "--quick", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert (data["spec"], data["passed"]) == ("logmel-stats", False)
    assert data["encoder"] == {"sampling_rate": 16000, "output_dim": 128, "hop_size_in_ms": 32.0}
    failed = [c for c in data["checks"] if not c["passed"]]
    assert [(c["name"], c["numbers"]["clip embeddings"]) for c in failed] == [("dtype", "float64")]


@pytest.mark.parametrize(
    "spec, fragments",
    [
        ("nope", ("SPEC 'nope'", "unknown encoder kind")),
        ("echo:/no/such/folder", ("SPEC 'echo:/no/such/folder'", "is not a folder")),
        ("logmel-stats:x", ("logmel-stats takes no folder",)),
    ],
)
def test_cli_bad_spec_is_one_error_line(cli, rel, spec, fragments):
    rel.assert_error_line(cli("check-encoder", spec), *fragments)
