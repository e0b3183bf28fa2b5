"""``libtrad check-encoder``: does an encoder keep the contract ``libtrad embed`` relies on?

``libtrad embed`` trusts an encoder (:mod:`libtrad.ray_jobs.embedding.encoders`) to state its
``sampling_rate``, ``output_dim`` and ``hop_size_in_ms`` truthfully and to give every clip the
same result whatever it is batched with. A broken promise does not crash the job; it silently
writes wrong embeddings. These checks run the encoder on synthetic clips (seeded noise, silence)
through the contract alone (``embed`` and ``forward``), so they apply to any object with those
attributes, and report each broken promise with its numbers.

The checks, in order (``attributes`` failing stops the rest, which all need its numbers):

* ``attributes`` — ``sampling_rate`` and ``output_dim`` are positive integers, ``hop_size_in_ms``
  a positive finite number, each within its declared range (:data:`.encoders.contract.DECLARED`:
  at most 384 kHz, 65,536 values, 60,000 ms), read before any clip is sized by them.
* ``shape`` — ``embed`` gives (B, D) clip embeddings and B frame arrays of (T_i, D);
  ``forward`` gives (B, T, D) with the T and D of ``embed``'s frames.
* ``output_dim`` — D is the stated ``output_dim``.
* ``dtype`` — clip embeddings, frames and ``forward``'s output are float32.
* ``finite`` — no NaN or infinity on noise clips.
* ``frame_count`` — clips of 0.5, 1, 2, 5 and 10 s give T frames with
  ``|T - duration_ms / hop_size_in_ms| <= 2 + 5 %`` of that. The 2 frames absorb the edges:
  centred framing adds one (logmel-stats: ``T = 1 + n // 512``), full-window framing and
  patching lose or round up one (ECHO: 25-ms windows every 10 ms, ceil(frames / 16) patches);
  the 5 % absorbs small rounding of the hop. A hop stated 2x off fails at every length from 1 s.
* ``sample_rates`` — the same rule for a 1.3-s clip recorded at 8, 16, 22.05, 44.1 and 48 kHz
  and resampled to the encoder's rate exactly as ``libtrad embed`` does (``resample_poly``).
* ``long_clip`` — a 30-s clip runs once (skipped by ``quick``), gives finite (T, D) frames, and
  ``T`` is within a factor 1.5 of ``duration_ms / hop_size_in_ms``. Looser on purpose: an encoder
  with a bounded context may cover the tail with an overlapping window (ECHO cuts its
  spectrogram into 2000-frame chunks and re-runs the last 2000 frames, so 30 s gives 250
  frames, not 187.5); a hop stated 2x off still fails.
* ``batch`` — 3 equal-length clips in one call equal each clip run alone, through ``embed`` and
  ``forward``: max |difference| <= 1e-5 x max(1, largest |value|). (Relative for large values:
  a float32 log-mel of 80 dB carries about 5e-6 of rounding alone.)
* ``padding`` — a 0.5-s clip batched with a 2-s clip (``embed``) or padded to 2 s with noise under
  an ``audio_attention_mask`` (``forward``) equals it alone (same tolerance), and ``forward``'s
  frames after its real ones are zero.
* ``deterministic`` — two runs on the same clips are bitwise identical.
* ``short_clip`` — a 0.1-s clip gives (1, D) and (T >= 1, D), finite, T within the frame rule.
* ``silence`` — a 1-s silent clip gives finite values of the right shapes.
* ``chunks`` — only for an encoder that declares ``context_in_ms`` (frame-local: ``embed`` cuts long
  records into chunks, :mod:`.encoders.chunking`): a 2.6-s clip cut into 1-s chunks gives the frames
  and clip embedding of the clip run whole (same tolerance). A context stated too small fails here.
  Passes, doing nothing, for the others (their clips always run whole).
"""

from __future__ import annotations

import numpy as np

from libtrad.builders.audio_samples import resample
from libtrad.core.errors import ParameterError, first_line
from libtrad.ray_jobs.embedding.check_measures import (
    MATCH_TOL,
    CheckResult,
    expected_frames,
    frame_result,
    frame_tolerance,
    jsonable,
    max_diff,
    mismatches,
    non_finite,
    shape_problems,
    short_number,
)
from libtrad.ray_jobs.embedding.encoder_probe import (
    SILENCE,
    ContractError,
    ForwardContract,
    Probe,
    StructureError,
    describe_clips,
    embed_structure,
)
from libtrad.ray_jobs.embedding.encoders import (
    EncoderSpec,
    check_encoder_folder,
    load_encoder,
    parse_encoder_spec,
    place,
    runs_user_code,
    with_timeout,
)
from libtrad.ray_jobs.embedding.encoders.contract import declared_problem
from libtrad.ray_jobs.embedding.encoders.sandbox import run_isolated

CONTRACTS = ("libtrad", "xares")  # what check_encoder holds an object to: embed + forward, or forward alone
LENGTHS_S = (0.5, 1.0, 2.0, 5.0, 10.0)  # frame_count
LONG_S = 30.0  # long_clip: the costly one, run once
SHORT_S = 0.1
SOURCE_RATES = (8000, 16000, 22050, 44100, 48000)
RATE_CLIP_S = 1.3  # not a whole second, so resampling has to round
LONG_FACTOR = 1.5
BATCH_SPECS = ((1.0, 0), (1.0, 1), (1.0, 3))  # (seconds, seed): three equal-length noise clips
SHAPE_SPECS = ((1.0, 0), (1.0, 1), (0.5, 2))  # equal and unequal lengths in one call
PAD_LONG, PAD_SHORT = (2.0, 4), (0.5, 2)
CHUNK_CLIP_S, CHUNK_S = 2.6, 1.0  # chunks: two 1-s stretches, the second running to 2.6 s


# ----------------------------------------------------------------------------- public API
def check_encoder_spec(
    spec: str | EncoderSpec,
    *,
    quick: bool = False,
    device: str = "auto",
    precision: str = "fp32",
    weights=None,
    timeout: float | None = None,
    isolate: bool = True,
) -> list[CheckResult]:
    """Load the encoder an ``embed --encoder`` spec names on ``device`` (``auto|cpu|cuda|cuda:N``, here)
    at ``precision`` and check it (a bad spec, device or precision: ParameterError; a libtrad folder
    whose files differ from its checksums: one LibtradError naming the file). ``weights``: a ``py:``
    class's ``--encoder-weights`` file; ``timeout``: ``--encoder-timeout``, each call into a user's
    code (None: 120 s).

    A kind that runs a user's code (``py:``, ``hear:``) is loaded and checked in a process of its own
    (``isolate``; :mod:`.encoders.sandbox`): a module that calls ``os._exit`` or crashes is one error line
    naming the stage it was in, never a check that ends with exit status 0 and no report."""
    parsed = spec if isinstance(spec, EncoderSpec) else parse_encoder_spec(spec, weights=weights)
    parsed = with_timeout(parsed, timeout)
    placed = place(device, precision)  # before the folder is read: CUDA missing is one line at once
    check_encoder_folder(parsed)
    if isolate and runs_user_code(parsed):
        return run_isolated(
            "libtrad.ray_jobs.embedding.check_encoder:check_encoder_spec",
            parsed,
            quick=quick,
            device=device,
            precision=precision,
            isolate=False,
            text=parsed.text,
        )
    return check_encoder(load_encoder(parsed, precision=precision, device=placed), quick=quick)


def check_encoder(encoder, *, quick: bool = False, contract: str = "libtrad") -> list[CheckResult]:
    """Run every check on an object with the encoder contract; ``quick`` skips the 30-s clip.

    ``contract="xares"`` checks an X-ARES encoder, which promises ``forward`` alone (X-ARES's own
    checker runs it once on noise; these checks hold it to its stated hop, batching, masks,
    determinism): the checks that read ``embed`` read :class:`ForwardContract`'s instead — the
    encoder's ``forward`` frames (equal-length clips in one call, as ``embed`` batches them) and,
    as clip embeddings, their mean over frames. Use it for an object whose ``embed`` is another
    API (``EchoWaveformEncoder.embed`` returns an ``EchoModelOutput``) or that has none. Every
    libtrad encoder keeps both contracts, so both pass on it.

    An ``embed`` that returns something else than ``(clip embeddings, frames)`` under the libtrad
    contract fails ``shape`` alone (every other check reads that structure), saying so."""
    if contract not in CONTRACTS:
        raise ParameterError("contract", contract, f"expected one of {', '.join(CONTRACTS)}")
    attributes = _check_attributes(encoder)
    if not attributes.passed:
        return [attributes]
    probe = Probe(ForwardContract(encoder) if contract == "xares" else encoder)
    structure = _check_structure(probe)
    if structure is not None:
        return [attributes, structure]
    checks = [c for c in _CHECKS if not (quick and c[0] == "long_clip")]
    return [attributes] + [_run_check(name, check, probe) for name, check in checks]


def format_report(results: list[CheckResult]) -> str:
    """``FAIL <check>: <message>`` per failed check, then ``N checks, M failed``."""
    failed = [r for r in results if not r.passed]
    lines = [f"FAIL {r.name}: {r.message}" for r in failed]
    return "\n".join(lines + [f"{len(results)} checks, {len(failed)} failed"])


def results_json(results: list[CheckResult], *, spec: str | None = None) -> dict:
    """The machine-readable report; ``encoder`` holds the stated numbers the checks used."""
    stated = next((r.numbers for r in results if r.name == "attributes"), {})
    encoder = {k: stated.get(k) for k in ("sampling_rate", "output_dim", "hop_size_in_ms")}
    return {
        "spec": spec,
        "encoder": jsonable(encoder),
        "checks": [r.as_dict() for r in results],
        "passed": all(r.passed for r in results),
    }


# ----------------------------------------------------------------------------- running the checks
def _check_structure(probe: Probe) -> CheckResult | None:
    """``shape``'s failure when ``embed`` returns another structure than ``(clip embeddings, frames)``
    (every other check reads it, so they are not run); None when it does (or raises: the checks
    then report the raise each)."""
    try:
        probe.embed(SHAPE_SPECS)
    except StructureError as exc:
        hint = (
            (
                "; an encoder that keeps only X-ARES's forward (its embed being another API) is checked with "
                "check_encoder(encoder, contract='xares')"
            )
            if callable(getattr(probe.encoder, "forward", None))
            else ""
        )
        return CheckResult("shape", False, f"{exc}{hint}; the other checks read that structure: not run")
    except Exception:  # noqa: BLE001 - embed raising: each check that runs it reports that
        return None
    return None


def _run_check(name: str, check, probe: Probe) -> CheckResult:
    """One check; a broken promise or an unexpected failure becomes its failed result."""
    try:
        return check(probe)
    except ContractError as exc:
        return CheckResult(name, False, str(exc))
    except Exception as exc:  # noqa: BLE001 - e.g. outputs of a shape the check cannot index
        return CheckResult(name, False, f"could not run ({type(exc).__name__}: {first_line(exc)})")


# ----------------------------------------------------------------------------- the checks
def _check_attributes(encoder) -> CheckResult:
    numbers, problems = {}, []
    for name in ("sampling_rate", "output_dim", "hop_size_in_ms"):
        try:
            numbers[name] = getattr(encoder, name, None)
        except Exception as exc:  # noqa: BLE001 - a property that raises: the encoder's failure, named
            numbers[name] = None
            problems.append(f"{name} raised {type(exc).__name__}: {first_line(exc)}")
            continue
        problem = declared_problem(name, numbers[name])
        if problem is not None:
            problems.append(problem)
    return CheckResult("attributes", not problems, "; ".join(problems), numbers)


def _check_shape(probe: Probe) -> CheckResult:
    pooled, frames = probe.embed(SHAPE_SPECS)
    widths = sorted({pooled.shape[1], *(f.shape[1] for f in frames)})
    problems = [] if len(widths) == 1 else [f"embed gives widths {widths} (clip embeddings and frames must share D)"]
    equal = SHAPE_SPECS[:2]
    out, _ = probe.forward(equal)
    expected = (len(equal), frames[0].shape[0], pooled.shape[1])
    if out.shape != expected:
        problems.append(f"forward on {describe_clips(equal)} gives shape {out.shape}, embed's frames imply {expected}")
    numbers = {"clip_embeddings": pooled.shape, "frames": [f.shape for f in frames], "forward": out.shape}
    return CheckResult("shape", not problems, "; ".join(problems), numbers)


def _check_output_dim(probe: Probe) -> CheckResult:
    pooled, frames = probe.embed(SHAPE_SPECS)
    frame_widths = sorted({f.shape[1] for f in frames})
    ok = pooled.shape[1] == probe.dim and frame_widths == [probe.dim]
    message = (
        f"encoder states {probe.dim}; embed gives {pooled.shape[1]} (clip embeddings), "
        f"{', '.join(map(str, frame_widths))} (frames)"
    )
    return CheckResult(
        "output_dim",
        ok,
        "" if ok else message,
        {"stated": probe.dim, "clip_embeddings": pooled.shape[1], "frames": frame_widths},
    )


def _check_dtype(probe: Probe) -> CheckResult:
    pooled, frames = probe.embed(SHAPE_SPECS)
    _, forward_dtype = probe.forward(SHAPE_SPECS[:2])
    found = {
        "clip embeddings": str(pooled.dtype),
        "frames": ", ".join(sorted({str(f.dtype) for f in frames})),
        "forward": forward_dtype,
    }
    wrong = {k: v for k, v in found.items() if v != "float32"}
    message = "expected float32; " + ", ".join(f"{k} {v}" for k, v in wrong.items())
    return CheckResult("dtype", not wrong, message if wrong else "", found)


def _check_finite(probe: Probe) -> CheckResult:
    pooled, frames = probe.embed(SHAPE_SPECS)
    out, _ = probe.forward(SHAPE_SPECS[:2])
    parts = non_finite({"clip embeddings": pooled, "frames": frames, "forward": out})
    message = f"{describe_clips(SHAPE_SPECS)} give " + ", ".join(parts) + " NaN or infinite values"
    return CheckResult("finite", not parts, message if parts else "", {"non_finite": parts})


def _check_frame_count(probe: Probe) -> CheckResult:
    rows = []
    for seconds in LENGTHS_S:
        clip = probe.clip(seconds, 0)
        _, frames = probe.embed(((seconds, 0),))
        rows.append((f"{seconds:g} s", frames[0].shape[0], expected_frames(probe, len(clip))))
    return frame_result("frame_count", probe, rows, "")


def _check_sample_rates(probe: Probe) -> CheckResult:
    rows = []
    for rate in SOURCE_RATES:
        source = (0.1 * np.random.default_rng(rate).standard_normal(int(round(RATE_CLIP_S * rate)))).astype(np.float32)
        clip = source if rate == probe.rate else resample(source, rate, probe.rate, axis=-1)  # as embed resamples
        _, frames = probe.embed_arrays([clip], f"a {RATE_CLIP_S:g}-s clip resampled from {rate} Hz")
        rows.append((f"{rate} Hz", frames[0].shape[0], expected_frames(probe, len(clip))))
    return frame_result("sample_rates", probe, rows, f" for a {RATE_CLIP_S:g}-s clip resampled to {probe.rate} Hz")


def _check_long_clip(probe: Probe) -> CheckResult:
    clip = probe.clip(LONG_S, 0)
    pooled, frames = probe.embed_arrays([clip], f"a {LONG_S:g}-s clip")
    got, expected = frames[0].shape[0], expected_frames(probe, len(clip))
    problems = non_finite({"clip embeddings": pooled, "frames": frames}, suffix=" NaN or infinite values")
    if frames[0].shape[1] != probe.dim:
        problems.append(f"frames of width {frames[0].shape[1]}, not {probe.dim}")
    if not expected / LONG_FACTOR <= got <= expected * LONG_FACTOR:
        problems.append(
            f"{got} frames; hop_size_in_ms={probe.hop:g} implies {expected:.1f} "
            f"(allowed within a factor {LONG_FACTOR:g})"
        )
    message = f"a {LONG_S:g}-s clip gives " + "; ".join(problems)
    return CheckResult(
        "long_clip", not problems, message if problems else "", {"seconds": LONG_S, "frames": got, "expected": expected}
    )


def _check_batch(probe: Probe) -> CheckResult:
    pooled, frames = probe.embed(BATCH_SPECS)
    out, _ = probe.forward(BATCH_SPECS)
    pairs = {"clip embeddings": [], "frames": [], "forward": []}
    for i, spec in enumerate(BATCH_SPECS):
        alone_pooled, alone_frames = probe.embed((spec,))
        alone_out, _ = probe.forward((spec,))
        pairs["clip embeddings"].append((pooled[i], alone_pooled[0]))
        pairs["frames"].append((frames[i], alone_frames[0]))
        pairs["forward"].append((out[i], alone_out[0]))
    parts, numbers = mismatches(pairs)
    message = (
        f"{len(BATCH_SPECS)} equal-length {BATCH_SPECS[0][0]:g}-s clips in one call differ from each run "
        f"alone by {', '.join(parts)}; allowed {MATCH_TOL:g} x max(1, largest |value|)"
    )
    return CheckResult("batch", not parts, message if parts else "", numbers)


def _check_padding(probe: Probe) -> CheckResult:
    pooled, frames = probe.embed((PAD_LONG, PAD_SHORT))
    alone_pooled, alone_frames = probe.embed((PAD_SHORT,))
    out, _ = probe.forward((PAD_LONG, PAD_SHORT), pad_to=PAD_LONG[0])
    real = alone_frames[0].shape[0]
    pairs = {
        "clip embeddings": [(pooled[1], alone_pooled[0])],
        "frames": [(frames[1], alone_frames[0])],
        "masked forward": [(out[1, :real], alone_frames[0])],
    }
    parts, numbers = mismatches(pairs)
    problems = (
        [f"differs from it alone by {', '.join(parts)}; allowed {MATCH_TOL:g} x max(1, largest |value|)"]
        if parts
        else []
    )
    leaked = int(np.count_nonzero(np.any(out[1, real:] != 0, axis=-1))) if out.ndim == 3 else 0
    if leaked:
        problems.append(
            f"masked forward leaves {leaked} of {out.shape[1] - real} frames after its {real} real ones non-zero"
        )
    numbers["nonzero_padded_frames"] = leaked
    message = (
        f"a {PAD_SHORT[0]:g}-s clip batched with a {PAD_LONG[0]:g}-s clip (embed) or noise-padded to "
        f"{PAD_LONG[0]:g} s under audio_attention_mask (forward) " + "; ".join(problems)
    )
    return CheckResult("padding", not problems, message if problems else "", numbers)


def _check_deterministic(probe: Probe) -> CheckResult:
    first = probe.embed(SHAPE_SPECS)
    second = probe.embed_arrays([probe.clip(*s) for s in SHAPE_SPECS], describe_clips(SHAPE_SPECS))
    diffs = {
        "clip embeddings": max_diff(second[0], first[0]),
        "frames": max(max_diff(a, b) for a, b in zip(second[1], first[1])),
    }
    same = np.array_equal(first[0], second[0], equal_nan=True) and all(
        a.shape == b.shape and np.array_equal(a, b, equal_nan=True) for a, b in zip(first[1], second[1])
    )
    message = f"two runs on {describe_clips(SHAPE_SPECS)} differ by up to " + ", ".join(
        f"{short_number(d)} ({k})" for k, d in diffs.items()
    )
    return CheckResult("deterministic", same, "" if same else message, {"max_difference": diffs})


def _check_short_clip(probe: Probe) -> CheckResult:
    clip = probe.clip(SHORT_S, 5)
    pooled, frames = probe.embed_arrays([clip], f"a {SHORT_S:g}-s clip")
    got, expected = frames[0].shape[0], expected_frames(probe, len(clip))
    problems = shape_problems(probe, pooled, frames) + non_finite(
        {"clip embeddings": pooled, "frames": frames}, suffix=" NaN or infinite values"
    )
    if got < 1 or abs(got - expected) > frame_tolerance(expected):
        problems.append(
            f"{got} frames; hop_size_in_ms={probe.hop:g} implies {expected:.1f} (±{frame_tolerance(expected):.1f})"
        )
    message = f"a {SHORT_S:g}-s clip gives " + "; ".join(problems)
    return CheckResult(
        "short_clip",
        not problems,
        message if problems else "",
        {"seconds": SHORT_S, "frames": got, "expected": expected},
    )


def _check_silence(probe: Probe) -> CheckResult:
    pooled, frames = probe.embed(((1.0, SILENCE),))
    problems = shape_problems(probe, pooled, frames) + non_finite(
        {"clip embeddings": pooled, "frames": frames}, suffix=" non-finite values"
    )
    message = "a 1-s silent clip gives " + "; ".join(problems)
    return CheckResult("silence", not problems, message if problems else "", {"problems": problems})


def _check_chunks(probe: Probe) -> CheckResult:
    context = getattr(probe.encoder, "context_samples", lambda: None)()
    if context is None:
        return CheckResult("chunks", True, "", {"chunked": False})
    clip = probe.clip(CHUNK_CLIP_S, 7)
    what = f"a {CHUNK_CLIP_S:g}-s clip cut into {CHUNK_S:g}-s chunks"
    whole = probe.embed_arrays([clip], f"a {CHUNK_CLIP_S:g}-s clip")
    try:
        result = probe.encoder.embed([clip], chunk_samples=int(round(CHUNK_S * probe.rate)))
    except Exception as exc:  # noqa: BLE001 - any failure of the encoder is a check result
        raise ContractError(f"embed on {what} raised {type(exc).__name__}: {first_line(exc)}") from None
    chunked = embed_structure(result, 1, what)
    parts, numbers = mismatches(
        {"clip embeddings": [(chunked[0][0], whole[0][0])], "frames": [(chunked[1][0], whole[1][0])]}
    )
    numbers.update(chunked=True, context_samples=context)
    message = (
        f"{what} (context_in_ms={getattr(probe.encoder, 'context_in_ms', None)!r}) differs from the clip "
        f"run whole by {', '.join(parts)}; allowed {MATCH_TOL:g} x max(1, largest |value|): is the "
        "context stated too small?"
    )
    return CheckResult("chunks", not parts, message if parts else "", numbers)


_CHECKS = (
    ("shape", _check_shape),
    ("output_dim", _check_output_dim),
    ("dtype", _check_dtype),
    ("finite", _check_finite),
    ("frame_count", _check_frame_count),
    ("sample_rates", _check_sample_rates),
    ("long_clip", _check_long_clip),
    ("batch", _check_batch),
    ("padding", _check_padding),
    ("deterministic", _check_deterministic),
    ("short_clip", _check_short_clip),
    ("silence", _check_silence),
    ("chunks", _check_chunks),
)
CHECK_NAMES = ("attributes",) + tuple(name for name, _ in _CHECKS)
