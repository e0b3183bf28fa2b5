"""Configuration of the LiB-TRAD CNN classifier (the paper's supervised baseline)."""

from __future__ import annotations

from transformers import PreTrainedConfig

from libtrad.models.detection import DetectionSection

DEFAULT_ID2LABEL = {0: "normal", 1: "abnormal"}


class LibTradCNNConfig(PreTrainedConfig):
    """Three Conv–BatchNorm–ReLU–MaxPool blocks, global average pooling, one linear abnormal logit.

    The paper does not give channel widths or kernel sizes: ``conv_channels=(16, 32, 64)`` with
    3×3 kernels (padding 1) and 2×2 max-pooling are libtrad's choice, small because LiB-TRAD has
    only a few hundred clips per experiment. Labels are fixed to ``{0: normal, 1: abnormal}``;
    the network has one logit (BCE), exposed to ``pipeline`` as the two-class logits ``[0, z]``
    whose softmax is ``[1 − σ(z), σ(z)]``.
    """

    model_type = "libtrad-cnn"

    num_mel_bins: int = 64
    conv_channels: list[int] | tuple[int, ...] = (16, 32, 64)
    kernel_size: int = 3
    pool_size: int = 2
    detection: dict | None = None  # the calibrated decision (libtrad.models.detection)

    def __post_init__(self, **kwargs):
        self.conv_channels = [int(c) for c in self.conv_channels]
        if len(self.conv_channels) != 3 or min(self.conv_channels) < 1:
            raise ValueError(
                f"conv_channels={self.conv_channels}: the paper's CNN has exactly three blocks of >= 1 channel"
            )
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size={self.kernel_size}: must be an odd number >= 1")
        if self.id2label is None:
            self.id2label = dict(DEFAULT_ID2LABEL)
        if self.label2id is None:
            self.label2id = {v: k for k, v in self.id2label.items()}
        if self.detection is not None:
            DetectionSection.from_dict(self.detection)  # a malformed section fails at load, not at detect
        super().__post_init__(**kwargs)
        if self.num_labels != 2:
            raise ValueError(f"id2label={self.id2label}: the LiB-TRAD CNN is binary (normal/abnormal)")


__all__ = ["LibTradCNNConfig", "DEFAULT_ID2LABEL"]
