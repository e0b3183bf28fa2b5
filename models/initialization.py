"""Weight initialisation shared by the LiB-TRAD models (the paper gives none)."""

from __future__ import annotations

import math

from torch import nn
from transformers import initialization as init


def pytorch_default_init_(module: nn.Module) -> None:
    """PyTorch's own default for Linear/Conv layers (transformers' N(0, 0.02) is meant for transformers)."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        init.kaiming_uniform_(module.weight, a=math.sqrt(5))
        if module.bias is not None:
            bound = 1.0 / math.sqrt(module.weight[0].numel())
            init.uniform_(module.bias, -bound, bound)
