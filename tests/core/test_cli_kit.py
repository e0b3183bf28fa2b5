"""libtrad.core.cli_kit: every mistake one ``error:`` line naming the flag the user typed, exit 2; an internal
error says so (exit 1) and ``--debug`` shows the traceback."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["synth", "lib-trad", "{tmp}/s", "--scale", "nan"], ["--scale nan", "finite"]),
        (["synth", "lib-trad", "{tmp}/s", "--scale", "inf"], ["--scale inf", "finite"]),
        (["synth", "lib-trad", "{tmp}/s", "--scale", "0"], ["--scale 0", "within"]),
        (["synth", "lib-trad", "{tmp}/s", "--level-db", "-inf"], ["--level-db -inf", "finite", "within [-80, 40]"]),
        (["synth", "lib-trad", "{tmp}/s", "--difficulty", "medium"], ["--difficulty", "easy", "paper", "hard"]),
        (["synth", "siren", "--component", "dcase2021", "{tmp}/s", "--level-db", "nan"], ["--level-db nan", "within"]),
        (["synth", "lib-trad", "{tmp}/s", "--seed", "-1"], ["--seed -1", "within [0, 4294967295]"]),
        (["synth", "lib-trad", "{tmp}/s", "--seed", str(2**32)], ["--seed 4294967296"]),
        (
            ["build", "lib-trad", "--data-dir", "{raw}", "--output", "{tmp}/o", "--duration-tolerance", "nan"],
            ["--duration-tolerance nan"],
        ),
        (
            ["build", "lib-trad", "--data-dir", "{raw}", "--output", "{tmp}/o", "--duration-tolerance", "-0.5"],
            ["--duration-tolerance -0.5"],
        ),
        (
            ["build", "lib-trad", "--data-dir", "{raw}", "--output", "{tmp}/o", "--train-fraction", "1"],
            ["--train-fraction 1"],
        ),
        (["build", "lib-trad", "--data-dir", "{raw}", "--output", "{tmp}/o", "--configs", ","], ["--configs ','"]),
        (
            ["build", "lib-trad", "--data-dir", "{raw}", "--output", "{tmp}/o", "--configs", "tr1,"],
            ["--configs 'tr1,'"],
        ),
        (["train", "cnn", "--dataset", "{tmp}", "--output", "{tmp}/m", "--lr", "nan"], ["--lr nan"]),
        (["train", "cnn", "--dataset", "{tmp}", "--output", "{tmp}/m", "--lr", "inf"], ["--lr inf"]),
        (["train", "cnn", "--dataset", "{tmp}", "--output", "{tmp}/m", "--epochs", "0"], ["--epochs 0"]),
        (["train", "ae", "--dataset", "{tmp}", "--output", "{tmp}/m", "--batch-size", "-3"], ["--batch-size -3"]),
        (["convert", "echo", "{tmp}/ckpt.pth", "{tmp}/o", "--heads", "0"], ["--heads 0"]),
        (["demo", "--workdir", "{tmp}/d", "--scale", "nan"], ["--scale nan"]),
        (
            ["evaluate", "lib-trad", "--model", "{tmp}", "--dataset", "{tmp}", "--experiments", "tr1,,tr2"],
            ["--experiments 'tr1,,tr2'"],
        ),
    ],
)
def test_bad_numbers_and_lists_are_refused_by_name(cli, rel, raw, tmp_path, args, fragments):
    before = rel.snapshot(raw, tmp_path)
    filled = [a.format(tmp=tmp_path, raw=raw) for a in args]
    rel.assert_error_line(cli(*filled), *fragments)
    assert rel.snapshot(raw, tmp_path) == before


# ----------------------------------------------------------------------------- the CLI boundary
def test_an_os_error_is_one_line_naming_the_file(cli, rel, raw, tmp_path, monkeypatch, build_lib_trad):
    import libtrad.builders.export as export

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "out" / "data"))

    monkeypatch.setattr(export, "write_configs", disk_full)
    rel.assert_error_line(build_lib_trad(cli, raw, tmp_path / "out"), "No space left on device", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_out_of_memory_advises_batch_size_only_to_a_command_that_takes_it(cli, rel, raw, tmp_path, monkeypatch):
    import libtrad.builders.export as export
    from libtrad.cli import main
    from libtrad.core.cli_kit import takes_option

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(export, "write_configs", no_memory)
    result = cli("build", "lib-trad", "--data-dir", raw, "--output", tmp_path / "out", "--configs", "tr1")
    line = rel.assert_error_line(result, "out of memory (try fewer files at once)")
    assert "--batch-size" not in line
    assert takes_option(main, ["--debug", "embed", "--dataset", "x"], "--batch-size")
    assert not takes_option(main, ["check-encoder", "hear:m"], "--batch-size")


def test_an_internal_error_says_so_and_debug_shows_the_traceback(cli, raw, tmp_path, monkeypatch, build_lib_trad):
    import libtrad.builders.export as export

    def bug(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(export, "write_configs", bug)
    result = build_lib_trad(cli, raw, tmp_path / "out")
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if "%|" not in line]
    assert (
        len(lines) == 1 and lines[0].startswith("error: internal error in libtrad (KeyError") and "--debug" in lines[0]
    )
    debug = cli("--debug", "build", "lib-trad", "--data-dir", raw, "--output", tmp_path / "out", "--configs", "tr1")
    assert isinstance(debug.exception, KeyError)


def test_a_usage_error_is_one_line(cli, rel):
    rel.assert_error_line(cli("build", "lib-trad", "--no-such-flag"), "--no-such-flag")
    rel.assert_error_line(cli("frobnicate"), "frobnicate")
