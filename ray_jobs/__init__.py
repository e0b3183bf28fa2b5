"""Ray jobs and the protocols they run, in three rooms:

* :mod:`libtrad.ray_jobs.embedding` — ``libtrad embed`` / ``check-encoder``: encoders, units, the
  actor pool;
* :mod:`libtrad.ray_jobs.evaluation` — ``libtrad evaluate SUITE`` / ``leaderboard``: suites on
  embeddings, metrics, reports;
* :mod:`libtrad.ray_jobs.lib_trad` — the LiB-TRAD paper's training and evaluation of its models;

and :mod:`libtrad.ray_jobs.cluster`, where every job starts or attaches to Ray. Models themselves
live in ``libtrad.models``.
"""
