"""LiB-TRAD: the raw layout (``layout``), the ``datasets`` builder (``builder``), the Hub export
(``export``) and the synthetic stand-in (``synth``)."""
