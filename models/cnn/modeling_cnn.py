"""LiB-TRAD CNN: three Conv–BatchNorm–ReLU–MaxPool blocks, AdaptiveAvgPool, Linear → abnormal logit."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.utils import ModelOutput

from libtrad.models.cnn.configuration_cnn import LibTradCNNConfig
from libtrad.models.detection import DetectsEvents
from libtrad.models.initialization import pytorch_default_init_
from libtrad.models.weights import CheckedWeights


@dataclass
class LibTradCNNClassifierOutput(ModelOutput):
    """``logits`` (batch, 2) = ``[0, z]`` (softmax gives P(normal), P(abnormal)); ``abnormal_logit`` = z;
    ``scores`` (batch,) = σ(z) = P(abnormal), the anomaly score every libtrad anomaly model returns."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    abnormal_logit: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None
    scores: torch.Tensor | None = None  # last: the tuple positions of the other fields are unchanged


class LibTradCNNPreTrainedModel(CheckedWeights, PreTrainedModel):
    config_class = LibTradCNNConfig
    base_model_prefix = "cnn"
    main_input_name = "input_features"

    @torch.no_grad()
    def _init_weights(self, module):
        """PyTorch's own default initialisation (the paper gives none)."""
        pytorch_default_init_(module)
        if isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)


class ConvBlock(nn.Sequential):
    """Conv2d → BatchNorm2d → ReLU → MaxPool2d."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, pool_size: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.MaxPool2d(pool_size),
        )


class LibTradCNNModel(LibTradCNNPreTrainedModel):
    """The convolutional trunk: (batch, n_mels, frames) log-mel -> pooled (batch, channels) embedding."""

    def __init__(self, config: LibTradCNNConfig):
        super().__init__(config)
        widths = [1, *config.conv_channels]
        self.blocks = nn.Sequential(
            *(ConvBlock(i, o, config.kernel_size, config.pool_size) for i, o in zip(widths[:-1], widths[1:]))
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.post_init()

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ):
        """``attention_mask`` is accepted for pipeline compatibility and ignored: LiB-TRAD clips are equal-length."""
        if input_features.ndim == 3:
            input_features = input_features.unsqueeze(1)
        hidden = self.blocks(input_features)
        pooled = self.pool(hidden).flatten(1)
        out = BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled)
        return out if return_dict is not False else out.to_tuple()


class LibTradCNNForAudioClassification(DetectsEvents, LibTradCNNPreTrainedModel):
    """CNN trunk + Linear → one abnormal logit, trained with BCE. ``labels``: 0 normal, 1 abnormal."""

    def __init__(self, config: LibTradCNNConfig):
        super().__init__(config)
        self.cnn = LibTradCNNModel(config)
        self.classifier = nn.Linear(config.conv_channels[-1], 1)
        self.post_init()

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> LibTradCNNClassifierOutput | tuple:
        pooled = self.cnn(input_features).pooler_output
        abnormal_logit = self.classifier(pooled).squeeze(-1)
        logits = torch.stack([torch.zeros_like(abnormal_logit), abnormal_logit], dim=-1)
        loss = None
        if labels is not None:
            loss = nn.functional.binary_cross_entropy_with_logits(abnormal_logit, labels.to(abnormal_logit.dtype))
        out = LibTradCNNClassifierOutput(
            loss=loss,
            logits=logits,
            abnormal_logit=abnormal_logit,
            pooler_output=pooled,
            scores=torch.sigmoid(abnormal_logit),
        )
        return out if return_dict is not False else out.to_tuple()


__all__ = ["LibTradCNNPreTrainedModel", "LibTradCNNModel", "LibTradCNNForAudioClassification"]
