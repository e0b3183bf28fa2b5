"""Benchmark suites on precomputed embeddings, each split into plan / run_unit / combine.

Why the split: the Ray runner sends each unit (a small picklable description plus row indices)
to a worker with the shared embedding matrix and gathers the results; ``evaluate_local`` runs
the same three steps in-process. ``run_unit`` is pure and ``combine`` orders everything by key,
so the numbers do not depend on where or in which order units ran.
"""
