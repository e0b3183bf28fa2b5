"""Evaluation on embeddings: ``libtrad evaluate SUITE`` and ``libtrad leaderboard``.

* :mod:`.evaluate` — the driver and the suite registry (:data:`~.evaluate.SUITES`).
* :mod:`.runner` — a suite's units as Ray tasks or in-process, identical results.
* :mod:`.suites` — one module per suite (plan / columns_for / run_unit / combine / write_report).
* :mod:`.metrics` — AUC, pAUC, harmonic means, classification scores (float64, scikit-learn-checked).
* :mod:`.report`, :mod:`.probe_report` — results.md and the PNGs.
* :mod:`.leaderboard` — encoders × suites from several results folders.
"""
