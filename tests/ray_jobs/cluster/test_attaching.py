"""Attaching to a cluster with Ray's token authentication on, and losing the driver's own node.

One two-node Ray on loopback (``ray.cluster_utils.Cluster``) started with ``RAY_AUTH_MODE=token``:

* a wrong token, or none, is one ``error:`` line saying the cluster refused the token, in Ray's words —
  at once, not after ``--connect-timeout`` — and nothing is created (no lock, no ``.OUT.resume-*``);
* Ray's output while attaching stays off the screen; ``--ray-logs`` shows it;
* last (it ends the cluster's head): the raylet of the driver's own node dies mid-embed — one libtrad
  line (Ray would end the driver from its core, leaving the lock), the lock released.

Marked ``serial``: placement timing depends on load.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray is imported: listeners on loopback

import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402

import pytest  # noqa: E402

from libtrad.ray_jobs.cluster import attaching  # noqa: E402

pytestmark = pytest.mark.serial

TOKEN = "libtrad-test-token-" + "7" * 24  # a test cluster's own token, never a real one


# The cluster runs in a child interpreter: Ray reads RAY_AUTH_MODE/RAY_AUTH_TOKEN once per process, and this
# one may have used Ray already. It prints its address, kills the head's raylet on "kill_raylet", ends on EOF.
CLUSTER = """
import sys
from libtrad.ray_jobs.cluster import loopback_only
loopback_only()
from ray.cluster_utils import Cluster
c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
c.add_node(num_cpus=1)
c.wait_for_nodes()
print(c.address, flush=True)
for line in sys.stdin:
    if line.strip() == "kill_raylet":
        c.head_node.kill_raylet()
        print("killed", flush=True)
c.shutdown()
"""
AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN}


@pytest.fixture(scope="module")
def token_cluster():
    env = {**os.environ, **AUTH, "LIBTRAD_TEST_UNIT_SECONDS": "0.5"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    address = proc.stdout.readline().strip()
    assert address, "the token cluster did not start"
    yield types.SimpleNamespace(address=address, proc=proc)
    proc.stdin.close()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.parametrize(
    "env", [{**AUTH, "RAY_AUTH_TOKEN": "another-token-" + "1" * 24}, {"RAY_AUTH_MODE": "", "RAY_AUTH_TOKEN": ""}]
)
def test_a_refused_token_is_said_at_once_and_nothing_is_created(driver, token_cluster, lib_trad_export, tmp_path, env):
    out = tmp_path / "emb"
    began = time.monotonic()
    code, text, _ = driver.finish(driver.start_embed(token_cluster, lib_trad_export, out, **env), 60)
    line = driver.one_error_line(text)
    assert code == 2, text
    assert f"--address '{token_cluster.address}'" in line and "refused the token" in line, line
    assert "Authentication token is missing or incorrect" in line and "RAY_AUTH_TOKEN" in line, line
    assert "no Ray head (GCS) answered" not in line and TOKEN not in text
    assert "gcs_client.cc" not in text  # Ray's own retry lines stay off the screen
    assert time.monotonic() - began < 25  # Ray alone retries ~20 s, then says only "Failed to connect"
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "the failed attach left something behind"


def test_ray_logs_shows_rays_own_words(driver, token_cluster, lib_trad_export, tmp_path):
    proc = driver.start_embed(
        token_cluster, lib_trad_export, tmp_path / "emb", "--ray-logs", **{**AUTH, "RAY_AUTH_TOKEN": "x" * 32}
    )
    code, text, _ = driver.finish(proc, 60)
    assert code == 2 and "refused the token" in driver.one_error_line(text)
    assert "gcs_client.cc" in text and "InvalidAuthToken" in text, text


def test_the_drivers_own_raylet_dying_mid_embed_ends_in_one_line(driver, token_cluster, lib_trad_export, tmp_path):
    """Last: the head's raylet (the driver's node) is killed; its actors and object store go with it."""
    out = tmp_path / "emb"
    proc = driver.start_embed(token_cluster, lib_trad_export, out, **AUTH)
    driver.when_staged(out, 2, proc)
    token_cluster.proc.stdin.write("kill_raylet\n")
    token_cluster.proc.stdin.flush()
    assert token_cluster.proc.stdout.readline().strip() == "killed"
    code, text, seconds = driver.finish(proc, 60)
    line = driver.one_error_line(text)
    assert code == 2, text
    driver.assert_no_ray_noise(text)
    assert "lost the node this driver runs on: the raylet of this driver's node (127.0.0.1:" in line, line
    assert "units are saved: run the same libtrad embed command again" in line, line
    assert seconds < 20, seconds
    assert not (tmp_path / ".emb.lock").exists()


# ----------------------------------------------------------------------------- reading what Ray said
RAY_REFUSAL = (
    "[2026-12-07 20:53:18,827 W 7897 7897] gcs_client.cc:210: Failed to get cluster ID from GCS server: "
    "Unauthenticated: RPC error: InvalidAuthToken: Authentication token is missing or incorrect\n"
)


def test_what_ray_said_is_read_from_its_log_lines():
    assert attaching.token_refusal(RAY_REFUSAL * 3) == "Authentication token is missing or incorrect"
    assert attaching.token_refusal("[2026 W 1 1] gcs_client.cc:1: Failed to connect\n") is None
    assert attaching.ray_said("noise\n[2026-12-07 20:53:18,827 E 1 2] core_worker.cc:9: it broke\n") == "it broke"
    assert attaching.ray_said("no log line here\n") is None


def test_an_attach_error_says_a_refused_token_as_such():
    error = attaching._attach_error("127.0.0.1:6379", RAY_REFUSAL, "cannot attach")
    assert "the cluster at 127.0.0.1:6379 refused the token (Ray said: Authentication token is missing" in str(error)
    error = attaching._attach_error("127.0.0.1:6379", "[2026 W 1 1] x.cc:1: busy\n", "cannot attach")
    assert str(error).endswith("cannot attach; Ray said: busy")
