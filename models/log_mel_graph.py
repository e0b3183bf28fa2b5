"""The log-mel front end as one grouped convolution and three matrix products: what ``libtrad export onnx``
puts in the graph in place of ONNX's ``STFT`` operator.

Why: ONNX Runtime's ``STFT`` kernel took 5.4 ms of one 4-channel 1-s block (its profiler; every other
operator of the auto-encoder's graph 1.6 ms), several times ``torch.stft``, while its convolution and
matrix kernels (MLAS) are as fast as torch's. Written as those, the auto-encoder's whole graph takes 1.5 ms
on that block instead of 6.6 (``bench/bench_onnx.py``), and the graph needs no signal-processing operator at all
(runtimes without ``STFT``/``DFT`` can run it). torch keeps ``torch.stft``; the export is checked against it.

The numbers are :func:`libtrad.models.frontend.log_mel_spectrogram`'s (centred zero padding, periodic Hann,
power 2, the Slaney filterbank, ``power_to_db``). Each frame's DFT is factored Cooley–Tukey style into three
smaller DFTs, ``n_fft = N1·N2·N3`` (:func:`plan` picks the factors with the fewest multiply-adds: 16·8·16
for 2048), sample ``n = m + M·n3`` with ``m = n1 + N1·n2`` (``M = N1·N2``), bin
``k = N3·(N2·k1 + k2) + k3``:

1. frames are never gathered: the padded signal is cut into rows of ``M`` samples, and as the hop is a
   whole number of rows, a frame is ``n_fft / hop`` consecutive hops of rows. The size-``N3`` DFTs over
   ``n3`` for each row offset ``m`` (window and twiddle ``e^{-2πi·m·k3/n_fft}`` folded into the weights) are
   one ``Conv`` over the hops, grouped by ``m``;
2. the size-``N2`` DFTs over ``n2``, per ``n1`` (twiddle ``e^{-2πi·n1·k2/M}`` folded in): one batched ``MatMul``;
3. the size-``N1`` DFTs over ``n1``, only for ``k1 ≤ N1/2`` (a real signal's spectrum is symmetric): one
   ``MatMul`` giving real and imaginary parts, already in bin order;
4. their squares through the mel filterbank (twice, zero beyond Nyquist): one ``MatMul`` summing
   ``re² + im²`` into (clips, n_mels, frames), then dB as in torch.

About 205 000 multiply-adds per 2048-point frame, a twentieth of a direct real DFT's. It applies when the
hop divides ``n_fft`` and both are powers of two with rows of at least 4 samples (both LiB-TRAD models:
2048/512 and 1024/512); otherwise :func:`libtrad.models.onnx_graph.log_mel_module` keeps the ``STFT`` operator.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from libtrad.models.frontend import power_to_db
from libtrad.models.mel_scale import mel_filterbank


def plan(n_fft: int, hop_length: int) -> tuple[int, int, int] | None:
    """``(N1, N2, N3)`` with ``n_fft = N1·N2·N3``, powers of two ≥ 2, ``M = N1·N2`` dividing the hop: the one
    with the fewest multiply-adds per frame (:func:`multiply_adds`); None where the hop does not divide
    ``n_fft`` or no such factors exist (then the graph keeps ONNX ``STFT``)."""
    if n_fft % hop_length or n_fft & (n_fft - 1):
        return None
    best = None
    for rows in (2**e for e in range(2, n_fft.bit_length())):  # M = N1·N2, a row of samples
        if hop_length % rows or n_fft // rows < 2:
            continue
        for n1 in (2**e for e in range(1, rows.bit_length() - 1)):
            factors = (n1, rows // n1, n_fft // rows)
            if best is None or multiply_adds(*factors) < multiply_adds(*best):
                best = factors
    return best


def multiply_adds(n1: int, n2: int, n3: int) -> int:
    """Per frame: stage 1 (real in, every ``k3``), stage 2 (complex), stage 3 (only ``k1 ≤ N1/2``)."""
    return n1 * n2 * 2 * n3 * n3 + n1 * (2 * n2) ** 2 * n3 + (2 * (n1 // 2 + 1)) * 2 * n1 * n2 * n3


def factorable(n_fft: int, hop_length: int) -> bool:
    """Whether :class:`FactoredLogMel` can compute this STFT (see :func:`plan`)."""
    return plan(n_fft, hop_length) is not None


class FactoredLogMel(nn.Module):
    """(clips, samples) -> (clips, n_mels, frames), ``1 + samples // hop`` frames, as the extractor's log-mel."""

    kind = "matmul"

    def __init__(self, sampling_rate: int, n_fft: int, hop_length: int, n_mels: int, top_db: float | None):
        super().__init__()
        factors = plan(n_fft, hop_length)
        if factors is None:
            raise ValueError(f"n_fft {n_fft} and hop {hop_length} have no factored form (see plan())")
        self.n_fft, self.hop, self.top_db = n_fft, hop_length, top_db
        self.n1, self.n2, self.n3 = factors
        self.row = self.n1 * self.n2  # M: samples per row; a hop is rows_per_hop rows, a frame `taps` hops
        self.rows_per_hop, self.taps, self.k1 = hop_length // self.row, n_fft // hop_length, self.n1 // 2 + 1
        self.register_buffer("stage1", torch.from_numpy(self._stage1_weights()))
        self.register_buffer("stage2", torch.from_numpy(self._stage2_weights()))
        self.register_buffer("stage3", torch.from_numpy(self._stage3_weights()))
        bank = mel_filterbank(sampling_rate, n_fft, n_mels)
        padded = np.zeros((n_mels, self.k1 * self.n2 * self.n3))  # bins past Nyquist weigh nothing
        padded[:, : bank.shape[1]] = bank
        # applied to [re²; im²] stacked: the filterbank twice sums them into the power
        self.register_buffer("mel", torch.from_numpy(np.concatenate([padded, padded], axis=1).astype(np.float32)))

    def _stage1_weights(self) -> np.ndarray:
        """Conv weights (M·2·N3, rows_per_hop, taps); group ``g = n1·N2 + n2`` is the row offset
        ``m = n1 + N1·n2``, output ``[re k3 | im k3]``, input row r at tap q (``n3 = q·rows_per_hop + r``):
        ``w[m + M·n3] · e^{-2πi(n3·k3/N3 + m·k3/n_fft)}`` (window and twiddle folded in), float64 then float32."""
        n1 = np.arange(self.n1)[:, None, None, None, None]
        n2 = np.arange(self.n2)[None, :, None, None, None]
        k3 = np.arange(self.n3)[None, None, :, None, None]
        r = np.arange(self.rows_per_hop)[None, None, None, :, None]
        n3 = np.arange(self.taps)[None, None, None, None, :] * self.rows_per_hop + r
        m = n1 + self.n1 * n2
        window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.n_fft) / self.n_fft)  # periodic Hann
        value = window[m + self.row * n3] * np.exp(-2j * np.pi * (n3 * k3 / self.n3 + m * k3 / self.n_fft))
        weights = np.stack([value.real, value.imag], axis=2)  # (N1, N2, re|im, N3, rows_per_hop, taps)
        return weights.reshape(self.row * 2 * self.n3, self.rows_per_hop, self.taps).astype(np.float32)

    def _stage2_weights(self) -> np.ndarray:
        """(N1, 2·N2, 2·N2): per n1, rows ``[re k2 | im k2]``, columns ``(n2, re|im)``:
        ``e^{-2πi(n1·k2/M + n2·k2/N2)}`` times stage 1's complex value."""
        k2, n2 = np.arange(self.n2)[:, None], np.arange(self.n2)[None, :]
        weights = np.zeros((self.n1, 2, self.n2, self.n2, 2))
        for n1 in range(self.n1):
            value = np.exp(-2j * np.pi * (n1 * k2 / self.row + n2 * k2 / self.n2))
            weights[n1, 0, :, :, 0], weights[n1, 0, :, :, 1] = value.real, -value.imag
            weights[n1, 1, :, :, 0], weights[n1, 1, :, :, 1] = value.imag, value.real
        return weights.reshape(self.n1, 2 * self.n2, 2 * self.n2).astype(np.float32)

    def _stage3_weights(self) -> np.ndarray:
        """(2·K1, 2·N1): rows ``[re k1 | im k1]`` (``k1 ≤ N1/2``), columns ``(n1, re|im)``: ``e^{-2πi·n1·k1/N1}``."""
        value = np.exp(-2j * np.pi * np.arange(self.k1)[:, None] * np.arange(self.n1)[None, :] / self.n1)
        weights = np.zeros((2, self.k1, self.n1, 2))
        weights[0, :, :, 0], weights[0, :, :, 1] = value.real, -value.imag
        weights[1, :, :, 0], weights[1, :, :, 1] = value.imag, value.real
        return weights.reshape(2 * self.k1, 2 * self.n1).astype(np.float32)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        clips, samples = waveform.shape
        frames = samples // self.hop + 1
        hops = frames + self.taps - 1  # every hop a frame touches: the centred padding, cut to whole hops
        padded = nn.functional.pad(waveform, (self.n_fft // 2, self.n_fft // 2 - samples % self.hop))
        # (clips, hops·hop) -> (clips, (n1, n2, r), hops): a sample's offset in its hop is r·M + n2·N1 + n1
        rows = padded.reshape(clips, hops, self.hop).transpose(1, 2)
        rows = rows.reshape(clips, self.rows_per_hop, self.n2, self.n1, hops).permute(0, 3, 2, 1, 4)
        rows = rows.reshape(clips, self.row * self.rows_per_hop, hops)
        # the size-N3 DFTs over a row offset's samples of a frame: (clips, (n1, n2, re|im, k3), frames)
        spectrum = nn.functional.conv1d(rows, self.stage1, groups=self.row)
        # the size-N2 DFTs over n2, per n1: (clips, n1, (re|im, k2), k3 · frames)
        spectrum = torch.matmul(self.stage2, spectrum.reshape(clips, self.n1, 2 * self.n2, self.n3 * frames))
        # the size-N1 DFTs over n1: (clips, (re|im, k1), k2 · k3 · frames), bins k = k1·N2·N3 + k2·N3 + k3
        spectrum = torch.matmul(self.stage3, spectrum.reshape(clips, 2 * self.n1, self.n2 * self.n3 * frames))
        squares = (spectrum * spectrum).reshape(clips, 2 * self.k1 * self.n2 * self.n3, frames)
        return power_to_db(torch.matmul(self.mel, squares), top_db=self.top_db)


__all__ = ["FactoredLogMel", "factorable", "multiply_adds", "plan"]
