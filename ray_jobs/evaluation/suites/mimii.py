"""MIMII's protocol on precomputed embeddings: a memory bank per machine, AUC per SNR, machine type and ID.

The MIMII paper scores each machine (machine type × model ID) at each SNR separately: one model
fitted on that machine's normal training clips, AUC over its test clips (Hitachi's baseline
writes one AUC per ``<machine>_id_XX_<snr>``). On embeddings, the model is siren-dcase's memory
bank (:mod:`.siren_dcase`, the same code): a test clip's score is ``1 - max`` cosine similarity
to the machine's ``train`` embeddings at the same SNR (options: ``similarity``, ``aggregation``,
``k``, as siren-dcase's). Metrics per SNR × machine × ID: AUC and pAUC (``max_fpr`` 0.1, as DCASE
2020 adds to MIMII's AUC); a one-class group scores 0.0 (SIREN's convention).

Rows: the columns ``libtrad build mimii`` writes (``file``, ``snr_db``, ``machine``,
``machine_id``, ``label`` 0 normal / 1 abnormal) and embed's ``split``. Groups with test rows but
no train rows are refused (the bank is the train split).

Results (``results.json``)::

    {"suite": "mimii",
     "sets": {"min6dB": {"auc": {"fan/id_00": v, ...}, "pauc": {...}, "score": mean AUC, "pauc_mean": v},
              "0dB": {...}, "6dB": {...}},
     "score": mean AUC over every group, "pauc_mean": v,
     "file_scores": {"<file>": s},  # file: the clip's published path, unique
     "options": {"max_fpr": 0.1, ...}, "counts": {"<snr>": {"fan/id_00": {"train", "normal", "abnormal"}}}}

Scores are MIMII's (AUC, the paper's metric), so ``score`` is the mean AUC, not DCASE's mean of
AUC and pAUC. The SNRs are named as the dataset's configs (Hitachi's baseline folder names).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from libtrad.core.errors import LibtradError
from libtrad.ray_jobs.embedding.embeddings_input import require_columns
from libtrad.ray_jobs.evaluation import metrics
from libtrad.ray_jobs.evaluation.report import auc_bars, markdown_table, pct, roc_panels, safe_name, write_text
from libtrad.ray_jobs.evaluation.suites.base import Suite, check_unit_results
from libtrad.ray_jobs.evaluation.suites.columns import int_column, text_column
from libtrad.ray_jobs.evaluation.suites.similarity import (
    cosine_score_bound,
    group_metric,
    memory_scores,
    order_is_certain,
    screen_device,
    screenable,
)
from libtrad.ray_jobs.evaluation.suites.siren_dcase import DcaseOptions

NAME = "mimii"
REQUIRED_COLUMNS = ("file", "snr_db", "machine", "machine_id", "split", "label")
OPTIONAL_COLUMNS = ()
SNR_NAMES = {-6: "min6dB", 0: "0dB", 6: "6dB"}  # libtrad.builders.mimii's configs (builders is not imported here)


@dataclass(frozen=True)
class MimiiOptions:
    """What changes the numbers; each default is siren-dcase's (SIREN's memory bank: cosine 1-NN).

    * ``max_fpr``: the pAUC's FPR limit (0.1, as DCASE).
    * ``similarity``: ``cosine`` or ``euclidean`` (minus the distance); ``aggregation`` over the
      bank: ``max`` (1-NN), ``mean``, ``min`` or ``knn`` with ``k`` neighbours.
    """

    max_fpr: float = 0.1
    similarity: str = "cosine"
    aggregation: str = "max"
    k: int = 1
    device: str = "auto"

    def __post_init__(self):
        self.bank()  # siren-dcase's checks: one line naming the option

    def bank(self) -> DcaseOptions:
        """The memory-bank options as siren-dcase takes them (one bank per machine: no domains, no k-means)."""
        return DcaseOptions(
            max_fpr=self.max_fpr, similarity=self.similarity, aggregation=self.aggregation, k=self.k, device=self.device
        )

    def record(self) -> dict:
        """The ``options`` of results.json (siren-dcase's record without its domain option)."""
        return {k: v for k, v in self.bank().record().items() if k != "official_domain_auc"}


@dataclass(frozen=True)
class Unit:
    """One SNR × machine × ID: its train (bank) and test rows, as positions in the frame."""

    key: str  # "<snr>/<machine>/id_XX"
    snr: str
    machine: str
    machine_id: int
    train: np.ndarray
    test: np.ndarray

    @property
    def group(self) -> str:
        return f"{self.machine}/id_{self.machine_id:02d}"


def snr_name(snr_db: int) -> str:
    return SNR_NAMES.get(int(snr_db), f"{int(snr_db)}dB")


def score_unit(
    unit: Unit, embeddings: np.ndarray, columns: dict[str, np.ndarray], options: MimiiOptions, screen=None
) -> dict:
    """:func:`run_unit` with siren-dcase's similarity screen on ``screen`` (a torch device; None: numpy); with
    ``torch.device("cpu")`` it runs the GPU code path on the CPU (the tests compare the two)."""
    bank_options = options.bank()
    screen = screen if screenable(bank_options) else None
    test, bank = embeddings[unit.test], [embeddings[unit.train]]
    scores = memory_scores(test, bank, bank_options, screen)
    if screen is not None and not order_is_certain(scores, cosine_score_bound(test.shape[1])):
        scores = memory_scores(test, bank, bank_options)  # near-equal scores: the CPU's order decides
    labels = columns["label"][unit.test]
    return {
        "file_scores": {str(f): float(s) for f, s in zip(columns["file"][unit.test], scores)},
        "auc": group_metric("auc", labels, scores, options.max_fpr),
        "pauc": group_metric("pauc", labels, scores, options.max_fpr),
        "counts": {
            "train": int(unit.train.size),
            "normal": int((labels == 0).sum()),
            "abnormal": int((labels == 1).sum()),
        },
    }


def _mean(values: list[float]) -> float | None:
    return metrics.arithmetic_mean(values) if values else None


def markdown(results: dict) -> str:
    """results.md: a table per SNR (AUC and pAUC per machine and ID) and the means."""
    parts = [
        "# MIMII (memory bank on embeddings: AUC per SNR, machine type and ID)",
        "",
        f"Scores in %. pAUC: max FPR {results['options'].get('max_fpr', 0.1)}; a one-class group scores 0. "
        "Score: the mean AUC (the MIMII paper's metric).",
    ]
    for name, entry in results["sets"].items():
        rows = [
            [
                *group.split("/"),
                pct(entry["auc"][group]),
                pct(entry["pauc"][group]),
                results["counts"][name][group]["normal"],
                results["counts"][name][group]["abnormal"],
            ]
            for group in entry["auc"]
        ]
        parts += [
            "",
            f"## {name}",
            "",
            markdown_table(["machine", "ID", "AUC", "pAUC", "test normal", "test abnormal"], rows),
            "",
            f"**{name}: mean AUC {pct(entry['score'])}, mean pAUC {pct(entry['pauc_mean'])}**",
        ]
    parts += [
        "",
        f"**Mean AUC over every SNR and machine: {pct(results['score'])}** (pAUC {pct(results['pauc_mean'])})",
        "",
    ]
    return "\n".join(parts)


def roc_inputs(df: pd.DataFrame, results: dict) -> dict[str, dict]:
    """``{snr: {"machine/id_XX": (labels, scores)}}`` for the ROC panels (scores from results)."""
    columns = SUITE.columns_for(df)
    curves: dict[str, dict] = {}
    for unit in SUITE.plan(df):
        labels = columns["label"][unit.test]
        scores = np.array([results["file_scores"][f] for f in columns["file"][unit.test]])
        curves.setdefault(unit.snr, {})[unit.group] = (labels, scores)
    return curves


# ----------------------------------------------------------------------------- the suite
class MimiiSuite(Suite):
    """MIMII's protocol (the module docstring)."""

    name = NAME
    options = MimiiOptions
    required_columns = REQUIRED_COLUMNS
    data_kind, signature = "MIMII", ("snr_db", "machine_id")
    optional_columns = OPTIONAL_COLUMNS

    def columns_for(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        """The columns :func:`run_unit` reads, as arrays by row position (checked)."""
        require_columns(df, REQUIRED_COLUMNS, NAME)
        labels = int_column(df, "label")
        bad = ~np.isin(labels, (0, 1))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise LibtradError(
                f"column 'label': {labels[row]} in the row file={df['file'].iloc[row]!r} "
                "(expected 0 normal or 1 abnormal)"
            )
        return {
            "file": text_column(df, "file"),
            "machine": text_column(df, "machine"),
            "split": text_column(df, "split"),
            "snr_db": int_column(df, "snr_db"),
            "machine_id": int_column(df, "machine_id"),
            "label": labels,
        }

    def plan(self, df: pd.DataFrame, options: MimiiOptions | None = None) -> list[Unit]:
        """One unit per SNR × machine × ID with test rows; refuses a group without train rows and a repeated file."""
        columns = self.columns_for(df)
        keys = pd.DataFrame({"snr": columns["snr_db"], "machine": columns["machine"], "id": columns["machine_id"]})
        split = columns["split"]
        units = []
        for (snr, machine, machine_id), rows in keys.groupby(["snr", "machine", "id"], sort=True).indices.items():
            test, train = rows[split[rows] == "test"], rows[split[rows] == "train"]
            if test.size == 0:
                continue
            name = snr_name(snr)
            if train.size == 0:
                raise LibtradError(
                    f"{name} {machine} id_{machine_id:02d}: {test.size} test rows but no train rows (the "
                    "memory bank is the machine's train split); add its train embeddings"
                )
            units.append(
                Unit(f"{name}/{machine}/id_{machine_id:02d}", name, str(machine), int(machine_id), train, test)
            )
        if not units:
            raise LibtradError("no rows with split 'test': nothing to evaluate")
        files = columns["file"][np.concatenate([u.test for u in units])]
        names, counts = np.unique(files, return_counts=True)
        if (counts > 1).any():
            raise LibtradError(
                f"test clip {names[counts > 1][0]} appears twice (several --embeddings of the same data?)"
            )
        return sorted(units, key=lambda u: (int(u.snr.replace("min", "-").removesuffix("dB")), u.machine, u.machine_id))

    def run_unit(
        self, unit: Unit, embeddings: np.ndarray, columns: dict[str, np.ndarray], options: MimiiOptions | None = None
    ) -> dict:
        """Scores, AUC and pAUC of one machine at one SNR (siren-dcase's scoring; the GPU screen where it applies)."""

        options = self.defaults(options)
        return score_unit(unit, embeddings, columns, options, screen_device(options.device))

    def combine(self, unit_results: dict[str, dict], df: pd.DataFrame, options: MimiiOptions | None = None) -> dict:
        """The results.json dict from every unit's result (keyed by ``Unit.key``), in a fixed order."""
        options = self.defaults(options)
        units = self.plan(df, options)
        check_unit_results([u.key for u in units], unit_results)
        sets: dict[str, dict] = {}
        counts: dict[str, dict] = {}
        file_scores: dict[str, float] = {}
        for unit in units:
            r = unit_results[unit.key]
            entry = sets.setdefault(unit.snr, {"auc": {}, "pauc": {}})
            entry["auc"][unit.group], entry["pauc"][unit.group] = r["auc"], r["pauc"]
            counts.setdefault(unit.snr, {})[unit.group] = r["counts"]
            file_scores.update(r["file_scores"])
        for entry in sets.values():
            entry.update(score=_mean(list(entry["auc"].values())), pauc_mean=_mean(list(entry["pauc"].values())))
        aucs = [v for e in sets.values() for v in e["auc"].values()]
        paucs = [v for e in sets.values() for v in e["pauc"].values()]
        return {
            "suite": NAME,
            "sets": sets,
            "score": _mean(aucs),
            "pauc_mean": _mean(paucs),
            "file_scores": dict(sorted(file_scores.items())),
            "options": options.record(),
            "counts": counts,
        }

    def write_report(self, results: dict, folder: Path, df: pd.DataFrame, options: MimiiOptions) -> list[Path]:
        """results.md, ``auc_<snr>.png`` (a bar per AUC/pAUC group) and ``roc_<snr>.png`` (one panel per machine)."""
        folder = Path(folder)
        written = [write_text(folder / "results.md", markdown(results))]
        curves = roc_inputs(df, results)
        for name, entry in results["sets"].items():
            written.append(auc_bars(name, entry, folder / f"auc_{safe_name(name)}.png"))
            written.append(roc_panels(name, curves[name], folder / f"roc_{safe_name(name)}.png"))
        return written


SUITE = MimiiSuite()
