"""Attaching to ``--address`` never hangs, and errors raised on Ray workers reach the user as themselves.

* An address where nothing listens, or where something that is not Ray listens, fails within
  ``--connect-timeout`` seconds with one line naming the address and what was tried.
* Every command that takes ``--address`` takes ``--connect-timeout``.
* A ``LibtradError`` / ``ParameterError`` / ``OSError`` raised in a Ray task or an actor's ``__init__``
  is the same one ``error:`` line it is in-process (no Ray traceback, no "Failed to deserialize").
"""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray is imported: listeners on loopback

import socket  # noqa: E402
import time  # noqa: E402

import click  # noqa: E402
import pytest  # noqa: E402


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _embed_args(dataset, out, *extra):
    return [
        "embed",
        "--dataset",
        dataset,
        "--config",
        "tr1",
        "--split",
        "test",
        "--encoder",
        "logmel-stats",
        "--output",
        out,
        *extra,
    ]


# ----------------------------------------------------------------------------- attaching is bounded
def test_a_closed_port_fails_at_once_naming_the_address(cli, rel, lib_trad_export, tmp_path):
    address = f"127.0.0.1:{_closed_port()}"
    began = time.monotonic()
    result = cli(*_embed_args(lib_trad_export, tmp_path / "emb", "--address", address, "--connect-timeout", "3"))
    elapsed = time.monotonic() - began
    rel.assert_error_line(result, f"--address '{address}'", "TCP connection", "refused")
    assert elapsed < 15, elapsed
    assert not (tmp_path / "emb").exists() and not (tmp_path / ".emb.lock").exists()


def test_a_port_where_no_ray_answers_fails_within_the_timeout(rel, lib_trad_export, tmp_path):
    """Something listens (the kernel accepts the connection) but never speaks Ray's protocol."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        address = f"127.0.0.1:{server.getsockname()[1]}"
        began = time.monotonic()
        done = rel.subprocess_cli(
            *_embed_args(lib_trad_export, tmp_path / "emb", "--address", address, "--connect-timeout", "3"), timeout=120
        )
        elapsed = time.monotonic() - began
    line = [ln for ln in done.stderr.splitlines() if ln.startswith("error: ")]
    assert done.returncode == 2 and len(line) == 1, done.stderr
    assert (
        f"--address '{address}'" in line[0] and "succeeded, but no Ray head (GCS) answered there within 3 s" in line[0]
    ), line[0]
    assert "Traceback" not in done.stderr
    assert elapsed < 60, elapsed  # the interpreter's start and imports, plus the 3 s


@pytest.mark.parametrize(
    "value, fragment", [("0", "--connect-timeout 0"), ("nan", "--connect-timeout nan"), ("-1", "--connect-timeout -1")]
)
def test_a_bad_connect_timeout_is_refused_by_name(cli, rel, tmp_path, value, fragment):
    rel.assert_error_line(cli(*_embed_args(tmp_path, tmp_path / "emb", "--connect-timeout", value)), fragment)


def _commands(group: click.Group, ctx: click.Context, path: str = "libtrad"):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from _commands(command, click.Context(command, parent=ctx, info_name=name), f"{path} {name}")
        else:
            yield f"{path} {name}", command


def test_every_command_taking_address_takes_connect_timeout():
    from libtrad.cli import main

    taking = []
    for path, command in _commands(main, click.Context(main, info_name="libtrad")):
        options = {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts}
        if "--address" in options:
            taking.append(path)
            assert "--connect-timeout" in options, path
            assert "--ray-logs" in options, path  # Ray's own output: off the screen unless asked
    assert {
        "libtrad embed",
        "libtrad evaluate lib-trad",
        "libtrad evaluate siren-dcase",
        "libtrad evaluate xares-knn",
    } <= set(taking), taking


def test_ray_session_bounds_attaching_from_python_too():
    from libtrad.core.errors import ParameterError
    from libtrad.ray_jobs.cluster import connect_timeout, ray_session

    address = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(ParameterError, match=f"{address}.*limit 2 s"):
        with connect_timeout(2):
            with ray_session(address):
                pytest.fail("attached to a closed port")


# ----------------------------------------------------------------------------- errors from Ray workers
@pytest.fixture(scope="module")
def ray_local():
    from libtrad.ray_jobs.cluster import ray_session

    with ray_session(num_cpus=1) as ray:
        yield ray


def _boom_cli():
    """A tiny command group with the CLI's machinery: its command raises ``--what`` on a Ray worker."""
    from libtrad.core.cli_kit import command, group

    @group()
    def main() -> None:
        """test group"""

    @main.command("boom", cls=type(command()(lambda: None)))
    @click.option("--what", required=True)
    @click.option("--batch-size", type=int, default=3)
    @click.option("--tmp", default="")
    def boom(what, batch_size, tmp):
        from libtrad.ray_jobs.cluster import ray_session

        def raise_it(what, batch_size, tmp):
            from libtrad.core.errors import LibtradError, ParameterError

            if what == "param":
                raise ParameterError("batch_size", batch_size, "is more than the 2 rows there are")
            if what == "plain":
                raise LibtradError(f"{tmp}/shard-0.parquet: has fewer rows than its metadata said")
            if what == "oserror":
                raise OSError(28, "No space left on device", f"{tmp}/unit-0.parquet")
            raise KeyError("a real bug")

        with ray_session() as ray:
            if what.startswith("actor-"):

                class Failing:
                    def __init__(self):
                        raise_it(what[len("actor-") :], batch_size, tmp)

                    def ping(self):
                        return "pong"

                class Worker:  # as libtrad's actors are written (embedding.actors.EmbedActor)
                    def __init__(self):
                        from libtrad.ray_jobs.cluster import built_or_deferred

                        self.inner = built_or_deferred(Failing)

                    def ping(self):
                        return self.inner.ping()

                ray.get(ray.remote(Worker).remote().ping.remote())
            else:
                ray.get(ray.remote(raise_it).remote(what, batch_size, tmp))

    return main


@pytest.mark.parametrize(
    "what, fragments",
    [
        ("param", ["error: --batch-size 3: is more than the 2 rows there are"]),
        ("plain", ["shard-0.parquet: has fewer rows than its metadata said"]),
        ("oserror", ["unit-0.parquet: No space left on device"]),
        ("actor-param", ["error: --batch-size 3: is more than the 2 rows there are"]),
        ("actor-plain", ["shard-0.parquet: has fewer rows than its metadata said"]),
    ],
)
def test_a_user_error_in_a_ray_task_is_its_own_one_line(ray_local, rel, tmp_path, what, fragments):
    from click.testing import CliRunner

    result = CliRunner().invoke(_boom_cli(), ["boom", "--what", what, "--tmp", str(tmp_path)])
    line = rel.assert_error_line(result, *fragments)
    for ray_text in ("Ray", "ray::", "deserialize", "internal error"):
        assert ray_text not in line, line


def test_a_bug_in_a_ray_task_is_still_an_internal_error(ray_local):
    from click.testing import CliRunner

    result = CliRunner().invoke(_boom_cli(), ["boom", "--what", "bug"])
    assert result.exit_code == 1 and "internal error in libtrad" in result.output, result.output


def test_embed_with_a_model_that_is_not_an_audio_encoder_is_one_line(ray_local, cli, rel, lib_trad_export, tmp_path):
    """The reported case (it ended in Ray's "Failed to deserialize exception"): one line naming the folder."""
    from transformers import BertConfig, BertModel

    model = tmp_path / "bert"
    BertModel(
        BertConfig(
            vocab_size=16,
            hidden_size=8,
            num_hidden_layers=1,
            num_attention_heads=1,
            intermediate_size=8,
            max_position_embeddings=16,
        )
    ).save_pretrained(model)
    result = cli(
        "embed",
        "--dataset",
        lib_trad_export,
        "--config",
        "tr1",
        "--split",
        "test",
        "--encoder",
        f"hf:{model}",
        "--output",
        tmp_path / "emb",
        "--actors",
        "1",
    )
    line = rel.assert_error_line(result, str(model))
    assert "deserialize" not in line and "internal error" not in line, line
