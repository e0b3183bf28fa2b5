"""SIREN's DCASE Task 2 benchmark on precomputed embeddings (2020–2026): cosine 1-NN anomaly scores.

Protocol (SIREN's, on a folder of one year's rows):

* Memory bank: the ``train`` embeddings of each set × machine × section (2020: the machine ID),
  one bank per domain. A test clip's score is ``1 - max cosine similarity`` to a bank (1-NN),
  the minimum over the source and target banks (2020: one bank). That minimum equals
  ``1 - max`` similarity over the section's whole train set, which is how it is computed.
  Similarities, scores and metrics are float64 (embeddings are stored as float32); an
  all-zero embedding has similarity 0 to everything (SIREN adds 1e-10 to every norm instead).
* Memory-bank options (:class:`DcaseOptions`; SIREN's ``memory_bank`` config names in brackets,
  defaults SIREN's): ``similarity`` cosine | euclidean [``similarity_type``], ``aggregation``
  max | mean | min | knn with ``k`` [``aggregation``, ``k``], ``domain_strategy`` min | max | mean
  over the source and target banks, 2021–2026 [``domain_strategy``], ``kmeans`` N clusters for
  banks above ``kmeans_threshold`` rows [``enable_kmeans_optimization``, ``kmeans_n_clusters``,
  ``kmeans_threshold``]. SIREN applies k-means from 2021 only; here it applies to any year's banks
  (2020: one per machine ID); a 2020 run refuses a domain strategy other than min (one bank).
* Test rows: split ``test`` with label 0 (normal) or 1 (anomaly). Unlabelled test rows (-1)
  get a score in ``file_scores`` and enter no metric.
* Groups: 2020 AUC and pAUC per machine × ID (key ``machine/SS``); 2021 both per machine ×
  section × domain (``machine/SS/domain``); 2022–2026 AUC per machine × section × domain and
  pAUC per machine × section (all its normals and anomalies). pAUC is the McClish-standardised
  partial AUC up to ``max_fpr`` = 0.1, as scikit-learn computes it. SIREN stops at 2025; 2026 (two
  channels, the same first-shot domain-generalisation task) is scored by the 2022–2025 rules, an assumption
  until the 2026 evaluator is published.
* A domain group holds that domain's normals and that domain's anomalies (SIREN). The
  official DCASE evaluator uses the domain's normals with *all* anomalies of the section:
  ``official_domain_auc=True`` gives that, for every domain-keyed metric.
* A group with only normals or only anomalies scores 0.0 (SIREN's convention: it drags the
  harmonic mean down rather than vanishing).
* Set score: 2020 the arithmetic mean of all the set's AUC and pAUC values; 2021–2026 their
  harmonic mean, each value clipped to machine epsilon first. The year score is the same
  aggregate over the dev and eval values together (not a mean of the two set scores).

The DCASE challenge's own numbers, beside SIREN's: a decision threshold per set × machine × section
from its training clips' leave-one-out scores (``threshold``, :mod:`.dcase_threshold`), each test
clip's decision, precision/recall/F1 per section and domain, and the official DCASE score of each
set by the year's evaluator's rule with its jackknife CI (:mod:`.dcase_official`). ``--submission``
writes the challenge's files from these results (:mod:`.dcase_submission`).

Results (``results.json``)::

    {"suite": "siren-dcase", "year": Y,
     "sets": {"dev": {"auc": {KEY: v}, "pauc": {KEY: v}, "score": v,
                      "decisions": {KEY: {"tp", "fp", "fn", "tn", "precision", "recall", "f1"}},
                      "official": {"rule", "score", "rows", "ci", "missing"?}}, "eval": {...}},
     "score": v, "official": {"set", "rule", "score", "ci95"},
     "file_scores": {"<set>/<machine>/<file>": s}, "file_decisions": {"<set>/<machine>/<file>": 0|1},
     "decisions": {"rule": "gamma:0.9", "sections": {"<set>/<machine>/<SS>": {"threshold", "train_clips",
                   "gamma"?, "problem"?, "files": [[file, domain], ...]}}},
     "options": {"official_domain_auc": bool, "max_fpr": 0.1, ...},  # + memory-bank options off SIREN's default
     "counts": {"<set>": {"machine/SS": {"train": n, "normal": n, "anomaly": n, "unlabelled": n}}}}

Device (``device``: auto | cpu | cuda | cuda:N, :mod:`libtrad.core.devices`; not a comparability
option): on the CPU the scores are computed as above. On CUDA a float32 product on the GPU
screens each test row's bank and only the candidates within a rigorous rounding bound of its
maximum are recomputed in float64 there
(:func:`~libtrad.ray_jobs.evaluation.suites.similarity.screened_cosine_scores`; for cosine 1-NN without
k-means and a min or max domain strategy; other options score on the CPU): the nearest bank row is
the CPU's, and its score differs from the CPU's only in the last bits (a float64 sum in another
order, at most :func:`~libtrad.ray_jobs.evaluation.suites.similarity.cosine_score_bound`). A metric depends only on
the order of the scores, so
a section whose scores come closer to each other than twice that bound (ties, duplicates) is
scored again on the CPU (:func:`~libtrad.ray_jobs.evaluation.suites.similarity.order_is_certain`): AUC, pAUC and the
set scores are the CPU's.

``sets`` holds every set with test rows, in the order dev, eval, then others by name; a
``score`` is null when no labelled test row exists (e.g. an unlabelled evaluation set).
``options`` records what changes the numbers; ``counts`` shows which groups are one-class.
Every dict is sorted by key, so the file is byte-identical whatever order units ran in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from libtrad.core.devices import parse_device
from libtrad.core.errors import LibtradError, ParameterError
from libtrad.ray_jobs.embedding.embeddings_input import require_columns
from libtrad.ray_jobs.evaluation import metrics
from libtrad.ray_jobs.evaluation.report import write_dcase_report
from libtrad.ray_jobs.evaluation.suites.base import Suite, check_unit_results
from libtrad.ray_jobs.evaluation.suites.columns import int_column, text_column
from libtrad.ray_jobs.evaluation.suites.dcase_official import (
    decision_table,
    official_inputs,
    set_official,
    year_official,
)
from libtrad.ray_jobs.evaluation.suites.dcase_threshold import (
    decide,
    leave_one_out_scores,
    parse_threshold,
    try_fit,
)
from libtrad.ray_jobs.evaluation.suites.similarity import (
    cosine_score_bound,
    group_metric,
    memory_scores,
    order_is_certain,
    screen_device,
    screenable,
)

NAME = "siren-dcase"
REQUIRED_COLUMNS = ("file", "machine", "section", "year", "set", "split", "label")
OPTIONAL_COLUMNS = ("domain",)  # needed from 2021 on, where the groups are per domain
SET_ORDER = ("dev", "eval")
LABELS = (-1, 0, 1)


SIMILARITIES = ("cosine", "euclidean")
AGGREGATIONS = ("max", "mean", "min", "knn")
DOMAIN_STRATEGIES = ("min", "max", "mean")


@dataclass(frozen=True)
class DcaseOptions:
    """What changes the numbers; every default is SIREN's published protocol (its ``memory_bank`` config).

    * ``official_domain_auc`` / ``max_fpr``: the domain-AUC variant and the pAUC's FPR limit
      (SIREN's ``evaluation.max_fpr`` = 0.1).
    * ``similarity`` (SIREN ``similarity_type``): ``cosine`` (default) or ``euclidean``, whose
      similarity is minus the Euclidean distance (so a score is ``1 + distance``, as in SIREN).
    * ``aggregation`` (SIREN ``aggregation``) over one memory bank: a test clip's score is
      ``1 - max`` (default: 1-NN), ``1 - mean`` or ``1 - min`` of its similarities to the bank, or
      ``knn``: the mean of ``1 - s`` over its ``k`` most similar bank rows (``k`` capped at the
      bank's size; k = 1 is ``max``). ``k`` (SIREN ``k``, default 1) is read only by ``knn``.
    * ``domain_strategy`` (SIREN ``domain_strategy``, 2021–2026): how the scores against the source
      and the target bank combine: ``min`` (default), ``max`` or ``mean``.
    * ``kmeans`` (SIREN ``enable_kmeans_optimization`` + ``kmeans_n_clusters``; None = off, SIREN's
      default; SIREN's value when on is 16): a bank with more than ``kmeans_threshold`` rows
      (SIREN ``kmeans_threshold``, default 100) is replaced by the centres of ``min(kmeans, rows)``
      k-means clusters (:func:`~libtrad.ray_jobs.evaluation.suites.similarity.reduce_bank`).
    * ``threshold`` (the DCASE baseline's): the decision rule, ``gamma[:Q]`` | ``percentile:P`` | ``fpr:F``
      (:func:`~.dcase_threshold.parse_threshold`); recorded in ``decisions``, not in ``options`` (it
      changes no AUC, so results with other thresholds stay comparable).
    """

    official_domain_auc: bool = False
    max_fpr: float = 0.1
    similarity: str = "cosine"
    aggregation: str = "max"
    k: int = 1
    domain_strategy: str = "min"
    kmeans: int | None = None
    kmeans_threshold: int = 100
    threshold: str = "gamma:0.9"
    device: str = "auto"

    def __post_init__(self):
        parse_device(self.device)
        parse_threshold(self.threshold)
        if not isinstance(self.official_domain_auc, bool):
            raise ParameterError("official_domain_auc", self.official_domain_auc, "must be true or false")
        if isinstance(self.max_fpr, bool) or not isinstance(self.max_fpr, (int, float)) or not 0 < self.max_fpr <= 1:
            raise ParameterError("max_fpr", self.max_fpr, "must be a number in (0, 1]")
        for name, accepted in (
            ("similarity", SIMILARITIES),
            ("aggregation", AGGREGATIONS),
            ("domain_strategy", DOMAIN_STRATEGIES),
        ):
            if getattr(self, name) not in accepted:
                raise ParameterError(name, getattr(self, name), f"must be one of {', '.join(accepted)}")
        for name, low in (("k", 1), ("kmeans_threshold", 0)):
            _whole(name, getattr(self, name), low)
        if self.kmeans is not None:
            _whole("kmeans", self.kmeans, 1)
        if self.k != 1 and self.aggregation != "knn":
            raise ParameterError(
                "k",
                self.k,
                f"is read only by aggregation 'knn' (this run aggregates by "
                f"{self.aggregation!r}); give --aggregation knn or leave k at 1",
            )
        if self.kmeans_threshold != 100 and self.kmeans is None:
            raise ParameterError(
                "kmeans_threshold",
                self.kmeans_threshold,
                "is read only with kmeans (--kmeans N clusters); give one or leave the threshold at 100",
            )

    def record(self) -> dict:
        """The ``options`` of results.json: what changes the numbers (not ``device``).

        ``official_domain_auc`` and ``max_fpr`` always; a memory-bank option only where it leaves
        SIREN's default (``k`` whenever ``aggregation`` is knn, ``kmeans_threshold`` whenever k-means
        is on), so a default run records what it always has and stays comparable, in the
        leaderboard, with results written before these options existed; any other value is a
        different option there, and the leaderboard refuses to rank the two side by side.
        """
        out = {"official_domain_auc": self.official_domain_auc, "max_fpr": float(self.max_fpr)}
        defaults = DcaseOptions()
        for name in ("similarity", "aggregation", "domain_strategy"):
            if getattr(self, name) != getattr(defaults, name):
                out[name] = getattr(self, name)
        if self.aggregation == "knn":
            out["k"] = int(self.k)
        if self.kmeans is not None:
            out.update(kmeans=int(self.kmeans), kmeans_threshold=int(self.kmeans_threshold))
        return out


def _whole(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ParameterError(name, value, f"must be a whole number >= {low}")


@dataclass(frozen=True)
class Unit:
    """One set × machine × section: its train (bank) and test rows, as positions in the frame."""

    key: str  # "<set>/<machine>/<SS>"
    year: int
    set: str
    machine: str
    section: int
    train: np.ndarray
    test: np.ndarray

    @property
    def rows(self) -> np.ndarray:
        """Every row the unit reads."""
        return np.concatenate([self.train, self.test])


# ----------------------------------------------------------------------------- checks
def _year(df: pd.DataFrame) -> int:
    years = sorted(set(int_column(df, "year").tolist()))
    if len(years) != 1:
        raise LibtradError(
            f"column 'year': the embeddings mix {len(years)} DCASE years "
            f"({', '.join(map(str, years))}); evaluate one year at a time"
        )
    if not 2020 <= years[0] <= 2026:
        raise LibtradError(f"column 'year': {years[0]} is not a DCASE Task 2 year this suite knows (2020-2026)")
    return years[0]


def _check_domains(year: int, columns: dict[str, np.ndarray], test: np.ndarray) -> None:
    """From 2021 every labelled test row needs its domain (the groups are per domain)."""
    if year == 2020:
        return
    labelled = test[columns["label"][test] >= 0]
    missing = labelled[[d is None for d in columns["domain"][labelled]]]
    if missing.size:
        raise LibtradError(
            f"column 'domain': empty for the labelled test row file={columns['file'][missing[0]]!r} "
            f"(DCASE {year} scores each domain; a 'domain' column with source/target is needed)"
        )


# ----------------------------------------------------------------------------- plan
def _check_unique_files(units: list[Unit], columns: dict[str, np.ndarray]) -> None:
    seen: set[str] = set()
    for unit in units:
        for name in columns["file"][unit.test]:
            key = f"{unit.set}/{unit.machine}/{name}"
            if key in seen:
                raise LibtradError(f"test clip {key} appears twice (several --embeddings of the same data?)")
            seen.add(key)


def _set_rank(name: str) -> tuple[int, str]:
    return (SET_ORDER.index(name) if name in SET_ORDER else len(SET_ORDER), name)


# ----------------------------------------------------------------------------- scoring
def group_masks(year: int, labels: np.ndarray, domains: np.ndarray, official: bool) -> dict[str, dict[str, np.ndarray]]:
    """The rows of each AUC and pAUC group of one section: ``{"auc": {suffix: mask}, "pauc": {...}}``.

    ``suffix`` is "" for the whole section, "/<domain>" for a domain group; rows are the
    section's test rows, masks select labelled ones.
    """
    labelled = labels >= 0
    whole = {"": labelled}
    if year == 2020:
        return {"auc": whole, "pauc": whole}
    names = sorted({d for d, ok in zip(domains, labelled) if ok})
    in_domain = {d: labelled & _equals(domains, d) for d in names}
    anomalies = labelled & (labels == 1)
    per_domain = {f"/{d}": (m & (labels == 0)) | anomalies if official else m for d, m in in_domain.items()}
    return {"auc": per_domain, "pauc": per_domain if year == 2021 else whole}


def _equals(values: np.ndarray, value) -> np.ndarray:
    """Elementwise ``values == value`` for an object array that may hold None."""
    return np.array([v == value for v in values], dtype=bool)


def score_unit(
    unit: Unit, embeddings: np.ndarray, columns: dict[str, np.ndarray], options: DcaseOptions, screen=None
) -> dict:
    """:func:`run_unit` with the similarity screen on ``screen`` (a torch device; None: numpy); with
    ``torch.device("cpu")`` it runs the GPU code path on the CPU (tests compare the two)."""
    train_domains = columns["domain"][unit.train]
    banks = [embeddings[unit.train[_equals(train_domains, d)]] for d in sorted(set(train_domains), key=str)]
    screen = screen if screenable(options) else None  # other options: the numpy path only
    scores = memory_scores(embeddings[unit.test], banks, options, screen)
    if screen is not None and not order_is_certain(scores, cosine_score_bound(embeddings.shape[1])):
        scores = memory_scores(embeddings[unit.test], banks, options)  # near-equal scores: the CPU's order decides
    labels, domains = columns["label"][unit.test], columns["domain"][unit.test]
    section = f"{unit.machine}/{unit.section:02d}"
    fit = try_fit(
        parse_threshold(options.threshold),
        leave_one_out_scores(embeddings[unit.train], train_domains, options),
        f"set {unit.set}, machine {unit.machine}, section {unit.section:02d}",
    )
    files = columns["file"][unit.test]
    decisions = decide(scores, fit["threshold"]) if fit["threshold"] is not None else np.full(len(files), -1)
    result = {
        "file_scores": {f"{unit.set}/{unit.machine}/{f}": float(s) for f, s in zip(files, scores)},
        "file_decisions": {f"{unit.set}/{unit.machine}/{f}": int(d) for f, d in zip(files, decisions) if d >= 0},
        "threshold": {**fit, "files": sorted([str(f), d] for f, d in zip(files, domains))},
    }
    for kind, groups in group_masks(unit.year, labels, domains, options.official_domain_auc).items():
        result[kind] = {
            section + suffix: group_metric(kind, labels[m], scores[m], options.max_fpr)
            for suffix, m in groups.items()
            if m.any()
        }
    result["counts"] = {
        "train": int(unit.train.size),
        "normal": int((labels == 0).sum()),
        "anomaly": int((labels == 1).sum()),
        "unlabelled": int((labels < 0).sum()),
    }
    return result


# ----------------------------------------------------------------------------- combine
def _aggregate(year: int, values: list[float]) -> float | None:
    if not values:
        return None
    return metrics.arithmetic_mean(values) if year == 2020 else metrics.harmonic_mean(values)


def _sorted(d: dict) -> dict:
    return {k: d[k] for k in sorted(d)}


def _set_values(entry: dict) -> list[float]:
    """A set's AUC values then its pAUC values, each in key order (a fixed summation order)."""
    return [entry["auc"][k] for k in sorted(entry["auc"])] + [entry["pauc"][k] for k in sorted(entry["pauc"])]


# ----------------------------------------------------------------------------- for the report
def roc_inputs(df: pd.DataFrame, results: dict, options: DcaseOptions | None = None) -> dict[str, dict]:
    """``{set: {AUC key: (labels, scores)}}`` of each AUC group, for ROC plots (scores from results)."""
    options = options or DcaseOptions()
    columns = SUITE.columns_for(df)
    curves: dict[str, dict] = {}
    for unit in SUITE.plan(df, options):
        labels, domains = columns["label"][unit.test], columns["domain"][unit.test]
        scores = np.array(
            [results["file_scores"][f"{unit.set}/{unit.machine}/{f}"] for f in columns["file"][unit.test]]
        )
        groups = group_masks(unit.year, labels, domains, options.official_domain_auc)["auc"]
        for suffix, mask in ((s, m) for s, m in groups.items() if m.any()):
            curves.setdefault(unit.set, {})[f"{unit.machine}/{unit.section:02d}{suffix}"] = (labels[mask], scores[mask])
    return curves


# ----------------------------------------------------------------------------- the suite
class DcaseSuite(Suite):
    """SIREN's DCASE Task 2 protocol (the module docstring)."""

    name = NAME
    options = DcaseOptions
    required_columns = REQUIRED_COLUMNS
    data_kind, signature = "DCASE", ("machine", "section", "year", "set")
    optional_columns = OPTIONAL_COLUMNS

    def columns_for(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        """The columns :func:`run_unit` reads, as arrays by row position (checked)."""
        require_columns(df, REQUIRED_COLUMNS, NAME)
        labels = int_column(df, "label")
        bad = ~np.isin(labels, LABELS)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise LibtradError(
                f"column 'label': {labels[row]} in the row file={df['file'].iloc[row]!r} "
                "(expected 0 normal, 1 anomaly or -1 unlabelled)"
            )
        domain = (
            text_column(df, "domain", allow_empty=True) if "domain" in df.columns else np.full(len(df), None, object)
        )
        return {
            "file": text_column(df, "file"),
            "machine": text_column(df, "machine"),
            "set": text_column(df, "set"),
            "split": text_column(df, "split"),
            "section": int_column(df, "section"),
            "label": labels,
            "domain": domain,
        }

    def plan(self, df: pd.DataFrame, options: DcaseOptions | None = None) -> list[Unit]:
        """One unit per set × machine × section with test rows; refuses mixed years and empty banks."""
        options = self.defaults(options)
        columns = self.columns_for(df)
        year = _year(df)
        if year == 2020 and options.domain_strategy != "min":
            raise ParameterError(
                "domain_strategy",
                options.domain_strategy,
                "DCASE 2020 has one memory bank per machine ID (no source/target domains to combine); leave it at min",
            )
        split = columns["split"]
        keys = pd.DataFrame({"set": columns["set"], "machine": columns["machine"], "section": columns["section"]})
        units = []
        for (set_, machine, section), rows in keys.groupby(["set", "machine", "section"], sort=True).indices.items():
            test, train = rows[split[rows] == "test"], rows[split[rows] == "train"]
            if test.size == 0:
                continue
            if train.size == 0:
                raise LibtradError(
                    f"set {set_}, machine {machine}, section {section:02d}: {test.size} test rows but no "
                    "train rows (the memory bank is the train split); add its train embeddings"
                )
            _check_domains(year, columns, test)
            units.append(
                Unit(f"{set_}/{machine}/{section:02d}", year, str(set_), str(machine), int(section), train, test)
            )
        if not units:
            raise LibtradError("no rows with split 'test': nothing to evaluate")
        _check_unique_files(units, columns)
        return sorted(units, key=lambda u: (_set_rank(u.set), u.machine, u.section))

    def run_unit(
        self, unit: Unit, embeddings: np.ndarray, columns: dict[str, np.ndarray], options: DcaseOptions | None = None
    ) -> dict:
        """Scores and metrics of one section; ``embeddings``/``columns`` are indexed by row position."""
        options = self.defaults(options)

        return score_unit(unit, embeddings, columns, options, screen_device(options.device))

    def combine(self, unit_results: dict[str, dict], df: pd.DataFrame, options: DcaseOptions | None = None) -> dict:
        """The results.json dict from every unit's result (keyed by ``Unit.key``), in a fixed order."""
        options = self.defaults(options)
        units = self.plan(df, options)
        check_unit_results([u.key for u in units], unit_results)
        year = units[0].year
        sets: dict[str, dict] = {}
        counts: dict[str, dict] = {}
        file_scores: dict[str, float] = {}
        file_decisions: dict[str, int] = {}
        thresholds: dict[str, dict] = {}
        for unit in units:
            r = unit_results[unit.key]
            entry = sets.setdefault(unit.set, {"auc": {}, "pauc": {}})
            entry["auc"].update(r["auc"])
            entry["pauc"].update(r["pauc"])
            counts.setdefault(unit.set, {})[f"{unit.machine}/{unit.section:02d}"] = r["counts"]
            file_scores.update(r["file_scores"])
            file_decisions.update(r["file_decisions"])
            thresholds[unit.key] = r["threshold"]
        pooled = []
        official = official_inputs(units, self.columns_for(df), file_scores, file_decisions)
        for name, entry in sets.items():
            values = _set_values(entry)
            entry.update(auc=_sorted(entry["auc"]), pauc=_sorted(entry["pauc"]), score=_aggregate(year, values))
            entry.update(decisions=decision_table(official[name]), official=set_official(year, official[name]))
            pooled += values
        return {
            "suite": NAME,
            "year": year,
            "sets": sets,
            "score": _aggregate(year, pooled),
            "official": year_official(sets),
            "file_scores": _sorted(file_scores),
            "file_decisions": _sorted(file_decisions),
            "decisions": {"rule": parse_threshold(options.threshold).text, "sections": _sorted(thresholds)},
            "options": options.record(),
            "counts": {s: _sorted(c) for s, c in counts.items()},
        }

    def write_report(self, results: dict, folder: Path, df: pd.DataFrame, options: DcaseOptions) -> list[Path]:
        """results.md and the ROC/AUC figures (:func:`libtrad.ray_jobs.evaluation.report.write_dcase_report`)."""
        return write_dcase_report(results, folder, roc_inputs(df, results, options))


SUITE = DcaseSuite()
