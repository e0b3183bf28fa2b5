"""The HEAR model object :func:`libtrad.hear.load_model` returns: a ``torch.nn.Module`` (hearvalidator
and heareval require one) holding a libtrad encoder and the HEAR API's three attributes."""

from __future__ import annotations

import torch

from libtrad.core.errors import LibtradError
from libtrad.hear.embeddings import get_scene_embeddings


class LibtradHearModel(torch.nn.Module):
    """A libtrad encoder behind the HEAR API's model attributes.

    ``.to(device)`` / ``.cuda()`` / ``.cpu()`` move the encoder (:meth:`ClipEncoder.place`: its
    torch modules and where it sends its inputs), which is what hearvalidator calls before it runs
    the model; a dtype other than float32 is refused (libtrad's precision is the encoder's own).
    """

    def __init__(self, encoder, spec):
        super().__init__()
        self.encoder = encoder
        self.spec = spec
        self.sample_rate = int(encoder.sampling_rate)
        self.scene_embedding_size = int(encoder.output_dim)
        self.timestamp_embedding_size = int(encoder.output_dim)

    def to(self, *args, **kwargs):
        device, dtype, _, _ = torch._C._nn._parse_to(*args, **kwargs)
        if dtype is not None and dtype != torch.float32:
            raise LibtradError(f"libtrad.hear: {self.spec.text} runs in float32, not {dtype}")
        if device is not None:
            self.encoder.place(device, self.encoder.precision)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to(torch.device("cuda", device) if isinstance(device, int) else (device or "cuda"))

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    def forward(self, audio):
        """The scene embeddings of ``audio`` (n_sounds, n_samples): what calling the module means here."""
        return get_scene_embeddings(audio, self)

    def extra_repr(self) -> str:
        return f"spec={self.spec.text!r}, sample_rate={self.sample_rate}, embedding_size={self.scene_embedding_size}"
