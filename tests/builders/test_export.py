"""libtrad.builders.export (the generic export driver, through ``libtrad build``): nothing accepted silently, the
card names only what was built, option values recorded as given."""

from __future__ import annotations

import json


# ----------------------------------------------------------------------------- nothing accepted silently
def test_a_config_split_with_no_rows_is_refused(cli, rel, raw, tmp_path):
    for path in (raw / "TR1" / "normal").iterdir():
        path.unlink()
    before = rel.snapshot(raw)
    out = tmp_path / "out"
    result = cli("build", "lib-trad", "--data-dir", raw, "--output", out, "--configs", "tr1", "--on-error", "skip")
    rel.assert_error_line(result, "--configs", "tr1/train", "0 rows")
    assert rel.snapshot(raw) == before and not out.exists()


def test_the_card_usage_names_only_built_configs(cli, raw, tmp_path):
    out = tmp_path / "out"
    assert cli("build", "lib-trad", "--data-dir", raw, "--output", out, "--configs", "tr2_cls").exit_code == 0
    usage = (out / "README.md").read_text().split("## Usage", 1)[1].split("##", 1)[0]
    assert '"tr2_cls", split="validation"' in usage
    assert '"tr1"' not in usage and '"segments"' not in usage


def test_no_output_flag_value_reaches_the_manifest_as_nan(cli, raw, tmp_path, build_lib_trad):
    out = tmp_path / "out"
    assert build_lib_trad(cli, raw, out, "--duration-tolerance", "0.25").exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["validation"]["duration_tolerance_s"] == 0.25
