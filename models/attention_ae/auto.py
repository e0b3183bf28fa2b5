"""``AutoModelForAudioAnomalyDetection``: transformers has no Auto class for anomaly scorers, so
libtrad adds one (same machinery as ``AutoModelForAudioClassification``), letting
``from_pretrained(dir)`` return the scoring head while ``AutoModel`` keeps returning the bare
auto-encoder, as transformers' conventions expect.
"""

from __future__ import annotations

from collections import OrderedDict

from transformers.models.auto.auto_factory import _BaseAutoModelClass, _LazyAutoMapping


class AutoModelForAudioAnomalyDetection(_BaseAutoModelClass):
    _model_mapping = _LazyAutoMapping(OrderedDict(), OrderedDict())


__all__ = ["AutoModelForAudioAnomalyDetection"]
