"""The DCASE submission folder's names and rows, and what ``libtrad verify`` finds wrong in one."""

from __future__ import annotations

import csv
import io

import pytest

from libtrad.folders.outputs import write_marker
from libtrad.folders.submission import NAME, file_name, rows_text
from libtrad.folders.verify import verify_folder


@pytest.mark.parametrize(
    "rule, domain, want",
    [
        ("id", None, "anomaly_score_fan_id_02.csv"),
        ("domain_files", "target", "anomaly_score_fan_section_02_target_test.csv"),
        ("section", None, "anomaly_score_fan_section_02_test.csv"),
    ],
)
def test_names_follow_each_years_evaluator(rule, domain, want):
    assert file_name("anomaly_score", rule, "fan", 2, domain) == want
    assert NAME.fullmatch(want)


def test_rows_have_no_header_unix_line_ends_and_floats_that_read_back_exactly():
    value = 0.1 + 0.2  # 0.30000000000000004: repr keeps every bit
    text = rows_text([("section_00_0000.wav", value), ("section_00_0001.wav", 1.5)])
    assert text == "section_00_0000.wav,0.30000000000000004\nsection_00_0001.wav,1.5\n"
    assert float(next(csv.reader(io.StringIO(text)))[1]) == value


def folder(tmp_path, files: dict[str, str]):
    root = tmp_path / "sub"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    write_marker(root, "submission")
    return root


GOOD = {
    "anomaly_score_fan_section_00_test.csv": "a.wav,0.5\nb.wav,0.25\n",
    "decision_result_fan_section_00_test.csv": "a.wav,1\nb.wav,0\n",
    "dev/anomaly_score_fan_id_01.csv": "x.wav,1e-3\n",
}


def test_a_good_folder_verifies(tmp_path):
    report = verify_folder(folder(tmp_path, GOOD))
    assert report.ok and report.kind == "submission", report.problems
    assert any("3 submission file(s)" in c for c in report.checked)


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"notes.txt": "hi\n"}, "not a DCASE submission file name"),
        ({"anomaly_score_fan_section_00_test.csv": "file,score\na.wav,0.5\n"}, "not a finite number"),
        ({"anomaly_score_fan_section_00_test.csv": "b.wav,0.5\na.wav,0.25\n"}, "not in file-name order"),
        ({"decision_result_fan_section_00_test.csv": "a.wav,1\nc.wav,0\n"}, "lists other clips"),
        ({"anomaly_score_pump_section_00_test.csv": "a.wav,0.5\n"}, "no decision_result_pump_section_00_test.csv"),
        ({"anomaly_score_fan_section_00_test.csv": "a.wav;0.5\n"}, "expected <file>,<value>"),
    ],
)
def test_verify_names_what_is_wrong(tmp_path, change, problem):
    report = verify_folder(folder(tmp_path, {**GOOD, **change}))
    assert not report.ok and any(problem in p for p in report.problems), report.problems
