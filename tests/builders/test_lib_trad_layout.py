"""libtrad.builders.lib_trad.layout (through ``libtrad build lib-trad``): the raw layout's strays, names,
annotations, channel files and options, each refused by name (or listed with --on-error skip)."""

from __future__ import annotations

import pytest
import soundfile as sf

from libtrad.builders.lib_trad.layout import scan_lib_trad
from libtrad.core.errors import LibtradError

SR = 16_000


FILE = "TR1/normal/seg0000_ch1.wav"


# ------------------------------------------------------------------------ 3. segment consistency
def test_channel_files_with_different_bit_depth_are_rejected(cli, rel, raw, tmp_path, expect_error):
    path = raw / "TR1/normal/seg0001_ch2.wav"
    samples, _ = sf.read(path)
    sf.write(path, samples, SR, subtype="PCM_24")
    expect_error(
        cli,
        rel,
        raw,
        tmp_path,
        "TR1/normal/seg0001_ch",
        "segment TR1/0001",
        "differ in sample format: seg0001_ch1.wav is PCM_16, seg0001_ch2.wav is PCM_24",
    )


def test_length_mismatch_names_the_file_and_both_lengths(cli, rel, raw, tmp_path, expect_error):
    path = raw / "TR1/normal/seg0001_ch3.wav"
    samples, _ = sf.read(path)
    sf.write(path, samples[: 10 * SR - 800], SR, subtype="PCM_16")  # 9.95 s: within the duration tolerance
    expect_error(
        cli,
        rel,
        raw,
        tmp_path,
        "segment TR1/0001",
        "differ in length: seg0001_ch1.wav has 160000 samples, seg0001_ch3.wav has 159200",
    )


# ------------------------------------------------------------------------ 5. layout strays
STRAYS = {
    "misspelled experiment": (
        "TR4/normal",
        "TR4",
        "unexpected folder at the top of the data folder",
        "(not an experiment of LiB-TRAD, which has only TR1, TR2 and TR3)",
    ),
    "lowercase experiment": ("tr1x/normal", "tr1x", "unexpected folder at the top", "(did you mean TR1?)"),
    "stray top-level file": (
        "notes.txt",
        "notes.txt",
        "unexpected file at the top of the data folder",
        "(allowed: TR1/, TR2/",
    ),
    "stray file in TR1": ("TR1/readme.txt", "TR1/readme.txt", "unexpected file in TR1/", "normal/ and abnormal/"),
    "stray folder in TR1": ("TR1/normall/", "TR1/normall", "unexpected folder in TR1/", "normal/ and abnormal/"),
}


@pytest.mark.parametrize("case", list(STRAYS), ids=lambda c: c.replace(" ", "-"))
def test_layout_stray_is_reported_by_name(cli, rel, raw, tmp_path, case, expect_error, make_stray):
    what, name, reason, hint = STRAYS[case]
    make_stray(raw, what)
    expect_error(cli, rel, raw, tmp_path, f": {name}: {reason}", hint)


def test_layout_strays_are_listed_in_the_manifest_with_skip(cli, rel, raw, tmp_path, make_stray, skipped):
    for what, *_ in STRAYS.values():
        make_stray(raw, what)
    with (raw / "annotations.csv").open("a") as f:
        f.write("TR9,0,0.0,,\n")
    before = rel.snapshot(raw)
    rejected = {r["path"]: r["reason"] for r in skipped(cli, raw, tmp_path)}
    assert rel.snapshot(raw) == before
    for _, name, reason, _ in STRAYS.values():
        assert reason in rejected[name], rejected
    line = [p for p in rejected if p.startswith("annotations.csv line")]
    assert len(line) == 1 and "unknown experiment 'TR9'" in rejected[line[0]]
    assert not any(p.startswith("TR4/") or p.startswith("tr1x/") for p in rejected), "strays' insides not walked"


def test_stray_file_in_normal_charging_is_reported_when_built(cli, rel, raw, tmp_path, build_lib_trad):
    (raw / "normal_charging/NC3.wav").write_bytes((raw / FILE).read_bytes())
    # Not part of a tr1 build: not reported.
    result = build_lib_trad(cli, raw, tmp_path / "tr1-only")
    assert result.exit_code == 0, result.output
    before = rel.snapshot(raw)
    result = cli("build", "lib-trad", "--data-dir", raw, "--output", tmp_path / "out", "--configs", "normal_charging")
    rel.assert_error_line(result, "normal_charging/NC3.wav", "unexpected file in normal_charging/")
    assert rel.snapshot(raw) == before


def test_annotation_of_an_unknown_experiment_is_rejected(cli, rel, raw, tmp_path, expect_error):
    with (raw / "annotations.csv").open("a") as f:
        f.write("TR4,3,30.0,,\n")
    lines = (raw / "annotations.csv").read_text().splitlines()
    expect_error(cli, rel, raw, tmp_path, f"annotations.csv line {len(lines)}", "unknown experiment 'TR4'")


# ------------------------------------------------------------------------ 6. names
@pytest.mark.parametrize(
    "name, reason",
    [
        ("seg\u0660\u0660\u0660\u0661_ch1.wav", "file name has non-ASCII digits"),
        ("seg0001_ch\u0661.wav", "file name has non-ASCII digits"),
        ("seg99999999999_ch1.wav", "segment number 99999999999 is too large (at most 2147483647)"),
        ("seg2147483648.wav", "segment number 2147483648 is too large"),
        ("seg0001_ch4294967297.wav", "channel number 4294967297 is too large"),
        ("\u017feg0001_ch1.wav", "file name is not segNNNN_chC.wav"),
    ],
)
def test_bad_numbers_in_names_are_rejected(cli, rel, raw, tmp_path, name, reason, expect_error):
    (raw / "TR1/normal" / name).write_bytes((raw / FILE).read_bytes())
    expect_error(cli, rel, raw, tmp_path, f"TR1/normal/{name}", reason)


# ------------------------------------------------------------------------ 7. metadata files
def test_annotations_not_utf8_names_the_file_and_line(cli, rel, raw, tmp_path, expect_error):
    with (raw / "annotations.csv").open("ab") as f:
        f.write(b"TR1,1,10.0,caf\xe9,\n")
    lines = (raw / "annotations.csv").read_bytes().count(b"\n")
    expect_error(cli, rel, raw, tmp_path, "annotations.csv", f"not UTF-8 text (line {lines}")


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"{not json", "not valid JSON (line 1 column 2"),
        (b"[1, 2]", "must hold a JSON object, not list"),
        (b'{"note": "caf\xe9"}', "not UTF-8 text (line 1"),
        (b'{"scale": NaN}', "NaN is not valid JSON"),
    ],
)
def test_broken_synthetic_marker_names_the_file(cli, rel, raw, tmp_path, content, reason, expect_error):
    (raw / "SYNTHETIC.json").write_bytes(content)
    expect_error(cli, rel, raw, tmp_path, "SYNTHETIC.json", reason)


# ------------------------------------------------------------------------ 8. duration tolerance
@pytest.mark.parametrize("value", ["nan", "inf", "-0.5"])
def test_bad_duration_tolerance(cli, rel, raw, tmp_path, value, expect_error):
    # The CLI may refuse it at its boundary; the scan refuses it too (for Python callers).
    expect_error(cli, rel, raw, tmp_path, "--duration-tolerance", value, extra=("--duration-tolerance", value))
    assert not (tmp_path / "out").exists()
    with pytest.raises(LibtradError, match=r"duration_tolerance_s=\S+: must be (a finite number|within \[0, inf\])"):
        scan_lib_trad(raw, ("TR1",), duration_tolerance_s=float(value), progress=False)
