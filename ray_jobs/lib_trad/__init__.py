"""The LiB-TRAD paper's own protocols on its models: ``libtrad train cnn|ae`` and the checkpoint
half of ``libtrad evaluate lib-trad``.

* :mod:`.data` — clips of a built LiB-TRAD split; :mod:`.training` — the CNN and AE recipes;
* :mod:`.scoring` — anomaly scores per clip; :mod:`.loading` — trained folders back;
* :mod:`.evaluation` — Table 2/3 per experiment; :mod:`.metrics` — AUC and harmonic mean;
* :mod:`.card` — the trained model's card.
"""
