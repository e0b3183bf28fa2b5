"""LiB-TRAD as a ``datasets.GeneratorBasedBuilder``: the generic builder of every libtrad component
(:func:`libtrad.builders.hf_builder.make_builder`) over LiB-TRAD's, so the ``datasets`` path and the export
(:mod:`libtrad.builders.lib_trad.export`) are one path and hold the same rows::

    from libtrad.builders.lib_trad.builder import LibTrad
    builder = LibTrad(config_name="tr1", data_dir="RAW", split_strategy="temporal")
    builder.download_and_prepare(); ds = builder.as_dataset()

The build options (``split_strategy``, ``seed``, ``train_fraction``, ``resample``,
``duration_tolerance_s``) are config fields, checked as ``libtrad build lib-trad`` checks them.
"""

from __future__ import annotations

from libtrad.builders.hf_builder import make_builder
from libtrad.builders.lib_trad.export import LIB_TRAD

LibTrad = make_builder(LIB_TRAD)

__all__ = ["LibTrad"]
