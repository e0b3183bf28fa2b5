"""LiB-TRAD's venting events in time, from an encoder's frame embeddings: event F1, latency, false alarms per hour.

Input: the embeddings **with frames** (``libtrad embed --frames``: the X-ARES contract's B×T×D per clip) of a
LiB-TRAD anomaly config (``--config all`` or ``tr1``/``tr2``/``tr3``, train and test splits), optionally with
those of ``normal_charging`` (``--embeddings`` twice): columns ``experiment``, ``split``, ``label``,
``frames`` and, where present, ``segment``, ``event_onset_s``, ``event_offset_s`` (the annotations the export
carries, seconds within the 10-s segment).

Per experiment, two frame scorers are fitted on the frames of its ``train`` rows (normal audio only) — at most
``max_train_frames`` of them, evenly strided — and score every frame of its ``test`` rows:

* ``knn`` — 1 − the highest cosine similarity to a training frame (the ``lib-trad`` suite's scorer, per
  frame; similarities in float32);
* ``mahalanobis`` — the Mahalanobis distance to the training frames (ridge 1e-6, float64).

The frames become :class:`~libtrad.models.events.FrameScores` with ``hop_ms`` (0: the 10-s segment over the
frame count, as the contract's ``T ≈ duration / hop``; pass the encoder's ``hop_size_in_ms`` from
``embeddings.json`` to be exact), then events, with the post-processing chosen by 2-fold cross-fitting over
segments (:mod:`libtrad.ray_jobs.evaluation.event_tuning`); rows of other experiments than the tested ones
(the normal-charging sets) give ``charging_false_alarms_per_hour``. Each row (one microphone of one segment,
as the paper treats the array) is one recording; an abnormal row without annotated onset/offset is counted
apart (``counts.unannotated``), never guessed. ``results.json``::

    {"suite": "lib-trad-events", "protocol": "frames",
     "scorers": {"knn": {"experiments": {"tr1": {"event_f1", "event_f1_50ms", "segment_f1", "latency": {...},
                 "false_alarms_per_hour", "charging_false_alarms_per_hour", "params": {...}, "counts": {...}}}}},
     "examples": {"knn": {"tr1": [{"key", "hop_s", "start_s", "scores", "events", "detected", ...}]}}}

The report: the table of :mod:`libtrad.ray_jobs.evaluation.event_report` and one PNG of scores over time per
scorer and experiment (``events_<scorer>_<experiment>.png``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from libtrad.core.errors import LibtradError, ParameterError
from libtrad.models.events import FrameScores
from libtrad.ray_jobs.embedding.embeddings_input import require_columns
from libtrad.ray_jobs.evaluation import event_report
from libtrad.ray_jobs.evaluation.event_tuning import Recording, annotated_events, evaluate_recordings
from libtrad.ray_jobs.evaluation.suites.base import Suite, check_subset, check_unit_results
from libtrad.ray_jobs.evaluation.suites.similarity import unit_rows

NAME = "lib-trad-events"
REQUIRED_COLUMNS = ("experiment", "split", "label")
OPTIONAL_COLUMNS = ("frames", "segment", "channel", "event_onset_s", "event_offset_s")  # frames: checked with a hint
SCORERS = ("knn", "mahalanobis")
EXPERIMENTS = ("tr1", "tr2", "tr3")
SEGMENT_SECONDS = 10.0


@dataclass(frozen=True)
class LibTradEventsOptions:
    """Which frame scorers to run, the frame hop (0: segment length / frames) and the training-frame cap."""

    scorers: tuple[str, ...] = SCORERS
    hop_ms: float = 0.0
    max_train_frames: int = 20_000

    def __post_init__(self):
        check_subset("scorers", self.scorers, SCORERS)
        if not (np.isfinite(self.hop_ms) and self.hop_ms >= 0):
            raise ParameterError("hop_ms", self.hop_ms, "must be a number of milliseconds >= 0 (0: derive it)")
        if self.max_train_frames < 2:
            raise ParameterError("max_train_frames", self.max_train_frames, "must be at least 2")


@dataclass(frozen=True)
class Unit:
    key: str  # "<scorer>/<experiment>"
    scorer: str
    experiment: str
    train: np.ndarray
    test: np.ndarray
    charging: np.ndarray


def _frames(cell, where: str) -> np.ndarray:
    try:
        frames = np.stack([np.asarray(f, dtype=np.float64) for f in cell])
    except (TypeError, ValueError):
        raise LibtradError(f"{where}: its frames are not a T×D list of equal-length frames") from None
    if frames.ndim != 2 or len(frames) == 0 or not np.isfinite(frames).all():
        raise LibtradError(f"{where}: its frames must be a non-empty T×D array of finite numbers")
    return frames


def frame_scorer(scorer: str, train: np.ndarray):
    """A function scoring (T, D) frames against the normal training frames ``train`` (N, D), float64 (T,).

    ``knn`` normalises the bank once and takes the similarities in float32 (a frame score feeds a threshold,
    not a ranking of near-ties, and frame banks are large); ``mahalanobis`` is float64 throughout."""
    if scorer == "knn":
        bank = unit_rows(train).astype(np.float32).T
        return lambda frames: 1.0 - (unit_rows(frames).astype(np.float32) @ bank).max(axis=1).astype(np.float64)
    from libtrad.models.mahalanobis import MahalanobisScorer

    fitted = MahalanobisScorer.fit_embeddings(train)
    return fitted.score


def _recordings(unit: Unit, rows: np.ndarray, columns: dict, score, hop_ms: float) -> tuple[list[Recording], int]:
    out, unannotated = [], 0
    for i in rows:
        events = annotated_events(columns["label"][i], columns["event_onset_s"][i], columns["event_offset_s"][i])
        if events is None:
            unannotated += 1
            continue
        frames = _frames(columns["frames"][i], f"row {i}")
        hop_s = hop_ms / 1000.0 if hop_ms > 0 else SEGMENT_SECONDS / len(frames)
        experiment, segment, channel = columns["experiment"][i], columns["segment"][i], columns["channel"][i]
        group = f"{experiment}/{segment if segment is not None else i}"
        key = f"{group}/ch{channel}" if channel is not None else f"{group}/row{i}"
        out.append(Recording(key, group, FrameScores(score(frames), hop_s, 0.0, (str(channel),)), events))
    return out, unannotated


def score_unit(unit: Unit, columns: dict, options: LibTradEventsOptions) -> dict:
    """One scorer on one experiment: fit on the train frames, score the test (and charging) rows, evaluate."""
    train = np.concatenate([_frames(columns["frames"][i], f"row {i}") for i in unit.train])
    if len(train) > options.max_train_frames:
        train = train[np.linspace(0, len(train) - 1, options.max_train_frames).astype(int)]
    score = frame_scorer(unit.scorer, train)
    test, unannotated = _recordings(unit, unit.test, columns, score, options.hop_ms)
    charging, _ = _recordings(unit, unit.charging, columns, score, options.hop_ms)
    try:
        result = evaluate_recordings(test, charging)
    except ValueError as exc:
        raise LibtradError(f"{NAME}: experiment {unit.experiment}: {exc}") from None
    result["counts"].update({"unannotated": unannotated, "train_frames": int(len(train))})
    return {"metrics": result, "examples": event_report.examples(test, result)}


class LibTradEventsSuite(Suite):
    """Venting events from frame embeddings (the module docstring)."""

    name = NAME
    options = LibTradEventsOptions
    required_columns = REQUIRED_COLUMNS
    optional_columns = OPTIONAL_COLUMNS

    def columns_for(self, df: pd.DataFrame) -> dict:
        require_columns(df, REQUIRED_COLUMNS, NAME)
        if "frames" not in df.columns:
            raise LibtradError(
                f"no column 'frames' in the embeddings: {NAME} scores every frame (embed with libtrad embed --frames)"
            )
        labels = pd.to_numeric(df["label"], errors="coerce")
        if labels.isna().any() or not labels.isin([0, 1]).all():
            raise LibtradError("column label: LiB-TRAD's events need labels 0 (normal) / 1 (abnormal)")

        def optional(name, cast):
            if name not in df.columns:
                return np.array([None] * len(df), dtype=object)
            return np.array([None if pd.isna(v) else cast(v) for v in df[name]], dtype=object)

        return {
            "experiment": df["experiment"].astype(str).str.lower().to_numpy(),
            "split": df["split"].astype(str).to_numpy(),
            "label": labels.astype(np.int64).to_numpy(),
            "frames": df["frames"].to_numpy(),
            "segment": optional("segment", int),
            "channel": optional("channel", int),
            "event_onset_s": optional("event_onset_s", float),
            "event_offset_s": optional("event_offset_s", float),
        }

    def plan(self, df: pd.DataFrame, options: LibTradEventsOptions | None = None) -> list[Unit]:
        options = self.defaults(options)
        columns = self.columns_for(df)
        experiment, split = columns["experiment"], columns["split"]
        tested = [e for e in EXPERIMENTS if ((experiment == e) & (split == "test")).any()]
        if not tested:
            raise LibtradError(
                f"{NAME}: no test rows of tr1, tr2 or tr3: embed a LiB-TRAD anomaly config with --frames "
                "and its train and test splits"
            )
        charging = np.flatnonzero(~np.isin(experiment, EXPERIMENTS))
        units = []
        for e in tested:
            train = np.flatnonzero((experiment == e) & (split == "train") & (columns["label"] == 0))
            if len(train) < 1:
                raise LibtradError(f"{NAME}: experiment {e}: no normal train rows to fit the frame scorers on")
            test = np.flatnonzero((experiment == e) & (split == "test"))
            units += [Unit(f"{s}/{e}", s, e, train, test, charging) for s in options.scorers]
        return units

    def run_unit(self, unit: Unit, embeddings, columns: dict, options=None) -> dict:
        return score_unit(unit, columns, self.defaults(options))

    def combine(self, unit_results: dict, df: pd.DataFrame, options=None) -> dict:
        options = self.defaults(options)
        units = self.plan(df, options)
        check_unit_results([u.key for u in units], unit_results)
        scorers: dict = {}
        examples: dict = {}
        for unit in sorted(units, key=lambda u: u.key):
            result = unit_results[unit.key]
            scorers.setdefault(unit.scorer, {"experiments": {}})["experiments"][unit.experiment] = result["metrics"]
            examples.setdefault(unit.scorer, {})[unit.experiment] = result["examples"]
        return {
            "suite": NAME,
            "protocol": "frames",
            "scorers": scorers,
            "examples": examples,
            "options": {
                "scorers": list(options.scorers),
                "hop_ms": options.hop_ms,
                "max_train_frames": options.max_train_frames,
            },
        }

    def write_report(self, results: dict, folder: Path, df=None, options=None) -> list[Path]:
        folder = Path(folder)
        text = event_report.markdown(
            results["scorers"],
            "LiB-TRAD venting events (frame embeddings)",
            "Frame scorers fitted on normal train frames.",
        )
        (folder / "results.md").write_text(text, encoding="utf-8")
        return [folder / "results.md", *event_report.write_plots(results.get("examples", {}), folder)]


SUITE = LibTradEventsSuite()
