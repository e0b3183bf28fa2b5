"""Row identity as the publisher defines it: a row's key is its path in the dataset, split included;
the leak that matters — one recording on both sides of a split — is found by its content (``sha256``).

The DCASE 2020 tests use the genuine development clip in ``../shared/real/dcase2020/`` (skipped with a
message where it is absent): it is a ``train/`` clip of a temporary DCASE 2020 tree (``dcase2020_tree`` in
``tests/ray_jobs/conftest.py``), and the ``test/`` clip of the same name is another recording made from it
(shifted in time, tilted spectrum), as in the published data, where train/ and test/ reuse names for
different recordings. The rules themselves are
checked on small hand-written Parquet folders.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .test_evaluate import embed_in_process

REAL_CLIP = Path(__file__).resolve().parents[3].parent / "shared" / "real" / "dcase2020" / "normal_id_00_00000000.wav"
NAME = "normal_id_00_00000000.wav"


@pytest.fixture(scope="module")
def dcase2020(tmp_path_factory, dcase2020_tree):
    """{"clean" | "leak": (dataset folder, embeddings folder)}, built and embedded (logmel-stats)."""
    from libtrad.builders.registry import SIREN

    out = {}
    for case in ("clean", "leak"):
        work = tmp_path_factory.mktemp(f"dcase2020-{case}")
        raw = dcase2020_tree(work / "raw", leak=case == "leak")
        SIREN.build(raw, work / "ds", component="dcase2020", progress=False)
        (work / "emb").mkdir()
        out[case] = (work / "ds", embed_in_process(work / "ds", work / "emb"))
    return out


def _rows(folder: Path, columns: list[str]) -> list[dict]:
    return [row for f in sorted(folder.rglob("*.parquet")) for row in pq.read_table(f, columns=columns).to_pylist()]


def test_dcase2020_shared_names_build_embed_and_evaluate_as_two_recordings(dcase2020, tmp_path, cli):
    dataset, embeddings = dcase2020["clean"]
    real_sha = hashlib.sha256(REAL_CLIP.read_bytes()).hexdigest()
    built = {
        (r["audio"]["path"], r["sha256"]) for r in _rows(dataset, ["audio", "sha256"]) if NAME in r["audio"]["path"]
    }
    assert {path for path, _ in built} == {f"dev/fan/train/{NAME}", f"dev/fan/test/{NAME}"}
    assert (f"dev/fan/train/{NAME}", real_sha) in built  # the real clip, its published bytes, its checksum
    assert len({sha for _, sha in built}) == 2
    embedded = [r for r in _rows(embeddings, ["file", "split", "sha256"]) if r["file"] == NAME]
    assert sorted(r["split"] for r in embedded) == ["test", "train"]

    result = cli("evaluate", "siren-dcase", "--embeddings", embeddings, "--output", tmp_path / "res", "--local")
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "res" / "results.json").read_text())
    assert results["year"] == 2020 and "leaked_rows" not in results and "duplicate_rows" not in results
    assert results["counts"]["dev"]["fan/00"] == {"anomaly": 2, "normal": 2, "train": 3, "unlabelled": 0}
    # the test clip is not its train namesake: it does not find itself in the memory bank
    assert results["file_scores"][f"dev/fan/{NAME}"] > 1e-4
    assert 0.0 <= results["sets"]["dev"]["auc"]["fan/00"] <= 1.0


def test_the_same_recording_on_both_sides_is_refused_and_kept_only_on_request(dcase2020, tmp_path, cli, rel):
    _, embeddings = dcase2020["leak"]
    result = cli("evaluate", "siren-dcase", "--embeddings", embeddings, "--output", tmp_path / "res", "--local")
    line = rel.assert_error_line(
        result,
        "1 row(s) hold the same recording (sha256) as a row on another side of the split",
        f"split='test', section=0, file='{NAME}'",
        f"split='train', section=0, file='{NAME}'",
        "--allow-duplicates",
    )
    assert "train/" in line and "test/" in line  # the Parquet files holding each row
    assert not (tmp_path / "res").exists()
    kept = cli(
        "evaluate",
        "siren-dcase",
        "--embeddings",
        embeddings,
        "--output",
        tmp_path / "res",
        "--local",
        "--allow-duplicates",
    )
    assert kept.exit_code == 0, kept.output
    assert "all kept (--allow-duplicates)" in kept.output
    results = json.loads((tmp_path / "res" / "results.json").read_text())
    assert results["leaked_rows"] == 1 and "duplicate_rows" not in results
    assert results["file_scores"][f"dev/fan/{NAME}"] < 1e-6  # why it is refused: the copy finds itself


# ----------------------------------------------------------------------------- the rules, on hand-written folders
def _folder(path: Path, columns: dict, embeddings=None, name: str = "a.parquet") -> Path:
    rows = len(next(iter(columns.values())))
    x = (
        np.random.default_rng(rows).normal(size=(rows, 4)).astype(np.float32)
        if embeddings is None
        else np.asarray(embeddings, np.float32)
    )
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table(
            {
                **columns,
                "label": [0, 1] * (rows // 2) + [0] * (rows % 2),
                "embedding": pa.array(list(x), type=pa.list_(pa.float32())),
            }
        ),
        path / name,
    )
    return path


def _load(folder, **kwargs):
    from libtrad.ray_jobs.embedding.embeddings_input import load_embeddings

    return load_embeddings(folder, ["label"], **kwargs)


def _refused(folder, pattern: str, **kwargs) -> str:
    from libtrad.core.errors import LibtradError

    with pytest.raises(LibtradError, match=pattern) as info:
        _load(folder, **kwargs)
    return str(info.value)


def test_a_path_in_train_and_in_test_is_two_rows_the_same_path_twice_is_one(tmp_path):
    two = _folder(tmp_path / "two", {"split": ["train", "test"], "file": ["x.wav", "x.wav"], "sha256": ["a", "b"]})
    assert len(_load(two)) == 2 and not _load(two).attrs
    twice = _folder(tmp_path / "twice", {"split": ["train", "train"], "file": ["x.wav", "x.wav"], "sha256": ["a", "a"]})
    message = _refused(twice, r"1 row\(s\) repeat the key \(split/file\)")
    assert "split='train', file='x.wav'" in message
    df = _load(twice, allow_duplicates=True)
    assert df.attrs == {"duplicate_rows": 1}  # the repeated path is the key rule's, not counted again as a leak


def test_one_recording_on_both_sides_under_two_names_is_refused(tmp_path):
    folder = _folder(
        tmp_path / "e",
        {
            "split": ["train", "train", "test", "test"],
            "file": ["a.wav", "b.wav", "c.wav", "d.wav"],
            "sha256": ["1", "2", "3", "1"],
        },
    )
    message = _refused(folder, r"1 row\(s\) hold the same recording \(sha256\) as a row on another side")
    assert "split='test', file='d.wav'" in message and "split='train', file='a.wav'" in message
    assert "a.parquet row 3" in message and "a.parquet row 0" in message
    assert _load(folder, allow_duplicates=True).attrs == {"leaked_rows": 1}


def test_rows_all_on_one_side_may_not_hold_a_recording_twice(tmp_path):
    """LOOCV / k-fold folders (one split, or none): every row is tested against the others."""
    files = ["a.mat", "b.mat", "c.mat"]
    for columns in ({"file": files}, {"file": files, "split": ["train"] * 3}):
        folder = _folder(tmp_path / str(len(columns)), {**columns, "sha256": ["1", "2", "1"]})
        message = _refused(
            folder,
            r"1 row\(s\) hold the same recording \(sha256\) as another row, and every row "
            r"here is on one side",
        )
        assert "file='c.mat'" in message and "file='a.mat'" in message


def test_a_recording_twice_on_one_side_of_several_is_kept_with_a_note(tmp_path, capsys):
    folder = _folder(
        tmp_path / "e",
        {"split": ["train", "train", "test"], "file": ["a.wav", "b.wav", "c.wav"], "sha256": ["1", "1", "2"]},
    )
    df = _load(folder)
    assert len(df) == 3 and not df.attrs
    assert "1 row(s) hold the same recording (sha256) as another row on the same side" in capsys.readouterr().err


def test_folds_are_sides(tmp_path):
    folder = _folder(
        tmp_path / "e",
        {"file": ["a.wav", "b.wav", "c.wav", "d.wav"], "fold": [0, 0, 1, 1], "sha256": ["1", "2", "3", "2"]},
    )
    _refused(folder, r"1 row\(s\) hold the same recording \(sha256\) as a row on another side")


def test_rows_of_one_multichannel_file_are_different_recordings(tmp_path):
    """LiB-TRAD's 4-channel files: one row per microphone, one ``sha256`` — the channel is part of the content."""
    columns = {
        "split": ["train", "test", "train", "test"],
        "experiment": ["TR1"] * 4,
        "segment": [0, 0, 1, 2],
        "channel": [1, 2, 1, 1],
        "sha256": ["s0", "s0", "s1", "s2"],
    }
    assert len(_load(_folder(tmp_path / "ok", columns))) == 4  # segment 0: two microphones of one file
    columns["sha256"] = ["s0", "s0", "s1", "s0"]  # segment 2's bytes are segment 0's: channel 1 on both sides
    message = _refused(_folder(tmp_path / "leak", columns), r"1 row\(s\) hold the same recording \(sha256/channel\)")
    assert "segment=2" in message and "segment=0" in message


def test_without_sha256_identical_embeddings_stand_for_the_recording(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    x[3] = x[0]
    columns = {"split": ["train", "train", "test", "test"], "file": ["a.wav", "b.wav", "a.wav", "c.wav"]}
    message = _refused(
        _folder(tmp_path / "e", columns, x),
        r"1 row\(s\) hold the same recording \(identical embeddings: no sha256 column to compare\)",
    )
    assert "file='c.wav'" in message
    x[3] += 1e-3
    assert len(_load(_folder(tmp_path / "ok", columns, x))) == 4  # train and test a.wav: two recordings, two rows


def test_a_folder_given_twice_counts_its_rows_once_as_duplicates(tmp_path):
    folder = _folder(tmp_path / "e", {"split": ["train", "test"], "file": ["x.wav", "x.wav"], "sha256": ["a", "b"]})
    message = _refused([folder, folder], r"2 row\(s\) repeat the key \(split/file\)")
    assert "give each folder once" in message
    assert _load([folder, folder], allow_duplicates=True).attrs == {"duplicate_rows": 2}


def test_a_split_alone_is_no_path_but_a_sha256_alone_is_a_recording(tmp_path):
    """Rows with only group columns (a split, no file) are keyed by their embedding; their sha256 still counts."""
    split = {"split": ["train", "train", "test"]}
    assert len(_load(_folder(tmp_path / "split", split))) == 3
    message = _refused(
        _folder(tmp_path / "sha", {**split, "sha256": ["1", "2", "1"]}),
        r"1 row\(s\) hold the same recording \(sha256\) as a row on another side",
    )
    assert "row 2 (" in message and "row 0 (" in message
