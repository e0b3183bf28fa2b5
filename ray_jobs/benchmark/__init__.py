"""``libtrad benchmark``: one command from a folder of corpora to the papers' table — staged (build, embed,
evaluate, report), resumable, on one Ray session (:mod:`libtrad.ray_jobs.benchmark.run`)."""
