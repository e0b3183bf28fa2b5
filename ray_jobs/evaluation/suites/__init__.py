"""Benchmark suites on precomputed embeddings, each a :class:`~.base.Suite` split into plan / run_unit / combine.

Why the split: the Ray runner sends each unit (a small picklable description plus row indices)
to a worker with the shared embedding matrix and gathers the results; ``Suite.evaluate_local`` runs
the same three steps in-process. ``run_unit`` is pure and ``combine`` orders everything by key,
so the numbers do not depend on where or in which order units ran.

Beside the suites (``siren_dcase``, ``siren_fault``, ``mimii``, ``lib_trad``, ``linear_probe``,
``xares_mlp``, ``xares_knn``), the pieces they share: :mod:`.base` (the suite contract),
:mod:`.similarity` (unit rows, memory-bank scores, the certified GPU screens), :mod:`.columns`,
:mod:`.fault_neighbours` (siren-fault's exact k-NN search) and the trained probes' :mod:`.probe_task`,
:mod:`.probes` and :mod:`.probe_results`. No suite imports another suite's private names.
"""
