"""libtrad.ray_jobs.evaluation.suites.lib_trad_events: venting events from frame embeddings, end to end on the
synthetic stand-in (its annotated onsets/offsets), and the suite's refusals."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

CONFIGS = ("tr1", "normal_charging")
CHARGING_ROWS = 8  # of the stand-in's 84: enough hours to count false alarms, quick to embed
KEPT = ("experiment", "segment", "channel", "label", "event_onset_s", "event_offset_s")


def log_mel_frames(samples: np.ndarray) -> np.ndarray:
    """(T, 32) log-mel frames: what an encoder's B×T×D frames are to the suite (hop 32 ms)."""
    import torch

    from libtrad.models.frontend import log_mel_spectrogram

    return log_mel_spectrogram(torch.from_numpy(samples), n_fft=1024, n_mels=32).numpy().T


@pytest.fixture(scope="module")
def frame_embeddings(lib_trad_export, tmp_path_factory):
    """A Parquet folder with the columns `embed --frames` writes, from the stand-in's export (no Ray needed)."""
    out = tmp_path_factory.mktemp("frames") / "emb"
    out.mkdir()
    for config in CONFIGS:
        for file in sorted((lib_trad_export / "data" / config).glob("*.parquet")):
            split = file.name.split("-")[0]
            rows = pq.read_table(file).to_pylist()[: CHARGING_ROWS if config == "normal_charging" else None]
            frames = [log_mel_frames(sf.read(io.BytesIO(r["audio"]["bytes"]), dtype="float32")[0]) for r in rows]
            columns = {k: [r[k] for r in rows] for k in KEPT}
            columns["label"] = [int(v) for v in columns["label"]]
            columns["split"] = [split] * len(rows)
            columns["embedding"] = [f.mean(0).astype(np.float32).tolist() for f in frames]
            columns["frames"] = [f.astype(np.float32).tolist() for f in frames]
            pq.write_table(pa.table(columns), out / f"{config}-{file.name}")
    return out


def test_lib_trad_events_on_the_stand_in_end_to_end(frame_embeddings, lib_trad_raw, tmp_path, cli):
    result = cli(
        "evaluate",
        "lib-trad-events",
        "--embeddings",
        frame_embeddings,
        "--output",
        tmp_path / "res",
        "--local",
        "--hop-ms",
        "32",
    )
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "res" / "results.json").read_text())
    assert results["suite"] == "lib-trad-events"
    annotations = (lib_trad_raw / "annotations.csv").read_text().splitlines()
    for scorer in ("knn", "mahalanobis"):
        for experiment in ("tr1",):
            m = results["scorers"][scorer]["experiments"][experiment]
            assert 0.0 <= m["event_f1"] <= 1.0 and 0.0 <= m["segment_f1"] <= 1.0
            assert m["counts"]["events"] >= 2 * 4  # two abnormal segments × four microphones, all annotated
            assert m["counts"]["unannotated"] == 0
            assert m["charging_false_alarms_per_hour"] is not None and m["counts"]["charging_hours"] > 0
            assert len(m["params"]["folds"]) == 2
            lat = m["latency"]
            assert lat["detected"] + lat["missed"] == m["counts"]["events"]
    # the annotated events in the examples are the stand-in's own onsets/offsets
    onsets = {round(float(line.split(",")[3]), 3) for line in annotations[1:] if line.split(",")[3]}
    example = results["examples"]["knn"]["tr1"][0]
    assert round(example["events"][0][0], 3) in onsets
    assert (tmp_path / "res" / "events_knn_tr1.png").is_file()
    assert "event F1" in (tmp_path / "res" / "results.md").read_text()
    # the leaderboard: event F1 per scorer and experiment as headline, latency and false alarms in their units
    from libtrad.ray_jobs.evaluation.leaderboard import write_leaderboard

    write_leaderboard([tmp_path / "res"], tmp_path / "board")
    board = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "lib-trad-events knn · TR1 event F1" in board
    knn = results["scorers"]["knn"]["experiments"]["tr1"]
    assert f"{knn['latency']['median_s']:g} s" in board
    assert f"{knn['charging_false_alarms_per_hour']:g} /h" in board


def test_lib_trad_events_refuses_embeddings_without_frames(tmp_path, cli, rel, embeddings_folder):
    rows = 12
    folder = embeddings_folder(
        tmp_path / "lt",
        rows=rows,
        names=("normal", "abnormal"),
        labels=[0] * 8 + [1] * 4,
        extra={"experiment": ["tr1"] * rows, "split": ["train"] * 6 + ["test"] * 6},
    )
    result = cli("evaluate", "lib-trad-events", "--embeddings", folder, "--output", tmp_path / "res", "--local")
    rel.assert_error_line(result, "no column 'frames'", "lib-trad-events", "embed --frames")
    assert not (tmp_path / "res").exists()
