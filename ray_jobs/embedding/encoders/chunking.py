"""Long records in bounded memory: chunked forward for frame-local encoders, and a sample budget per forward.

Why. A 40-s, 48-kHz, 3-channel vibration record is 120 s of audio at an encoder's 16 kHz; a frame
encoder run on it whole holds every frame's activations at once (CREPE-tiny: ~4.4 GB for one such
row). Memory should depend on the batch, not on how long the publisher's records happen to be.

Which encoders may be chunked. Only a *frame-local* one: frame ``k`` depends only on the samples
from ``k·hop − context`` to ``(k+1)·hop + context`` (its own hop plus ``context`` either side), and
its clip embedding is the mean of its frames. An encoder says so with ``context_in_ms`` (a class
attribute; ``py:`` classes may declare it, see :mod:`.python`); its hop must be a whole number of
samples. None of libtrad's own kinds declares it: ECHO's utterance embedding and its patches attend
over up to 20 s (ECHO cuts longer input into its own official chunks, internally), the attention
AE and ``hf:`` models attend over the whole clip, and ``logmel-stats``' deviation frames depend on
the clip's mean. Those run each clip whole; only the sample budget below applies to them.

The stitching (exact, not an approximation). With hop ``h``, chunk length ``L`` (``chunk_samples``
rounded down to a multiple of ``h``) and context ``c`` (``context_in_ms`` rounded up to a multiple of
``h``), a clip of ``N ≥ 2L`` samples is cut into ``K = N // L`` stretches ``[kL, (k+1)L)``, the last
one running to ``N``. Stretch ``k`` is run on the samples ``[max(0, kL − c), min(N, (k+1)L + c))``,
so its frame ``j`` is the clip's frame ``(max(0, kL − c))/h + j``; it keeps the frames of its own
stretch, ``kL/h`` up to ``(k+1)L/h`` (the last stretch: to its end). Every kept frame reads only real
samples of the clip at the same offsets as in the whole-clip run, and the kept ranges tile the
clip's frames without gap or overlap, so the stitched frames are the whole-clip frames (up to the
float rounding of a differently shaped batch); the clip embedding is their mean, as the whole run's.
A stretch whose encoder returns too few frames means its ``context_in_ms`` is too small: an error.
Clips shorter than ``2L`` are run whole (a 10-s DCASE or CWRU clip is never cut at ``L`` = 10 s).

The budget. Pieces (whole clips and stretches) of equal length are batched together as before, at
most ``batch_samples // length`` of them per forward (at least one): a batch of long clips is split,
never a clip. ``libtrad embed`` sets ``L`` = ``--chunk-seconds`` (10 s) and the budget to
``--batch-size`` × ``L``, so a forward holds what a batch of 10-s clips holds, whatever the records'
lengths. Neither changes a clip's result (batches are exact), so neither is part of the cache key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from libtrad.core.errors import LibtradError


@dataclass(frozen=True)
class Piece:
    """Samples ``[start, end)`` of clip ``clip``; its frames ``[keep_from, keep_to)`` are kept
    (``keep_to`` None: to the end; a whole clip keeps all)."""

    clip: int
    start: int
    end: int
    keep_from: int = 0
    keep_to: int | None = None
    whole: bool = True

    @property
    def length(self) -> int:
        return self.end - self.start


def frame_hop_samples(hop_size_in_ms: float, sampling_rate: int) -> int | None:
    """The hop in samples when it is a whole number (None otherwise: such an encoder is not chunked)."""
    hop = hop_size_in_ms * sampling_rate / 1000.0
    return int(round(hop)) if hop >= 1 and abs(hop - round(hop)) < 1e-6 else None


def plan_pieces(lengths: list[int], hop: int | None, context: int | None, chunk_samples: int | None) -> list[Piece]:
    """The pieces to run for clips of ``lengths`` samples: a clip whole, or its stretches (see the module)."""
    pieces = []
    step = (chunk_samples // hop) * hop if hop and context is not None and chunk_samples else 0
    margin = math.ceil(context / hop) * hop if step else 0
    for i, n in enumerate(lengths):
        count = n // step if step else 0
        if count < 2:
            pieces.append(Piece(i, 0, n))
            continue
        for k in range(count):
            start, end = k * step, (k + 1) * step if k < count - 1 else n
            first = max(0, start - margin)
            keep_from = (start - first) // hop
            keep_to = None if k == count - 1 else keep_from + (end - start) // hop
            pieces.append(Piece(i, first, min(n, end + margin), keep_from, keep_to, whole=False))
    return pieces


def kept_frames(piece: Piece, frames, where: str):
    """The frames a piece keeps (``frames``: its (T, D) output), checked to be there."""
    if piece.whole:
        return frames
    needed = piece.keep_to if piece.keep_to is not None else piece.keep_from + 1
    if frames.shape[0] < needed:
        raise LibtradError(
            f"{where}: returned {frames.shape[0]} frames for {piece.length} samples, fewer than the "
            f"{needed} a chunk needs: its context_in_ms is too small to cut long clips into chunks"
        )
    return frames[piece.keep_from : piece.keep_to]


def budget_batches(indices: list[int], length: int, batch_samples: int | None) -> list[list[int]]:
    """Equal-length pieces ``indices`` in forwards of at most ``batch_samples`` samples (one piece at least)."""
    size = len(indices) if not batch_samples else max(1, batch_samples // max(1, length))
    return [indices[i : i + size] for i in range(0, len(indices), size)]
