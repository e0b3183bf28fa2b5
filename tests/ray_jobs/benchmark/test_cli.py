"""``libtrad benchmark``'s mistakes: one ``error:`` line each, before any work (nothing written, no Ray)."""

from __future__ import annotations

import pytest


@pytest.fixture
def root(tmp_path):
    (tmp_path / "data" / "cwru").mkdir(parents=True)
    return tmp_path / "data"


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--hub", "org"], ["give exactly one of --data-root DIR and --hub SOURCE"]),
        (["--from-stage", "report", "--to-stage", "build"], ["--to-stage 'build'", "comes before --from-stage report"]),
        (["--components", "cwru,nope"], ["--components 'nope'", "not a component of suite siren"]),
    ],
)
def test_option_mistakes_are_one_line(cli, rel, root, tmp_path, extra, fragments):
    out = tmp_path / "out"
    result = cli("benchmark", "--encoder", "logmel-stats", "--data-root", root, "--output", out, *extra)
    rel.assert_error_line(result, *fragments)
    assert not out.exists()


def test_a_bad_encoder_and_a_missing_root_are_one_line(cli, rel, root, tmp_path):
    out = tmp_path / "out"
    rel.assert_error_line(cli("benchmark", "--encoder", "nope:x", "--data-root", root, "--output", out), "nope")
    rel.assert_error_line(
        cli("benchmark", "--encoder", "logmel-stats", "--data-root", tmp_path / "absent", "--output", out),
        "no such folder",
    )
    assert not out.exists()


def test_an_output_libtrad_did_not_write_is_never_touched(cli, rel, root, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    before = rel.snapshot(out)
    result = cli("benchmark", "--encoder", "logmel-stats", "--data-root", root, "--output", out)
    rel.assert_error_line(result, str(out), "not a libtrad folder")
    assert rel.snapshot(out) == before
