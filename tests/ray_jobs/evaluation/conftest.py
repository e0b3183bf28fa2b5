"""One local Ray for every evaluation test that runs units as Ray tasks (started on first use).

The suites keep a session a caller already started (``ray_session``), so each Ray-vs-local check
here pays Ray's start once for the package instead of once per command.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package")
def ray_local():
    from libtrad.ray_jobs.cluster import ray_session

    with ray_session(num_cpus=2) as ray:
        yield ray
