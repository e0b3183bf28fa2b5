"""Decision thresholds for siren-dcase: one per machine × section, from its training clips' scores.

The DCASE challenge (2021 on) asks for a decision per test clip beside its anomaly score. The
official baseline (nttcslab's ``dcase2023_task2_baseline_ae``; the 2021/2022 baselines alike) fits a
gamma distribution to the anomaly scores of the training clips — ``scipy.stats.gamma.fit(scores)``,
shape, location and scale all free (maximum likelihood, scipy's default optimiser) — and takes its
90th percentile, ``scipy.stats.gamma.ppf(0.9, a, loc, scale)``; a clip is anomalous (1) when its
score is *strictly above* the threshold. One threshold per machine × section (2022 on: the same
for both domains, as the task requires; 2021 and 2020 fit per section too).

Rules (``--threshold``, :func:`parse_threshold`):

* ``gamma`` or ``gamma:Q`` — the baseline's: the ``Q`` quantile (default 0.9) of the fitted gamma.
* ``percentile:P`` — the ``P``-th percentile (0 < P < 100) of the training scores, NumPy's linear
  interpolation.
* ``fpr:F`` — a target false-positive rate on the training clips (all normal): the smallest
  training score with at most a fraction ``F`` of the training scores strictly above it, so the
  training clips flagged anomalous are at most ``F``.

**Training scores.** A memory bank scores its own rows 0 (each is its own nearest neighbour), so a
training clip is scored *leave-one-out*: against its section's banks without itself (its own bank
minus its row, the other domain's bank whole), with the run's similarity, aggregation, ``k`` and
domain strategy, in float64 on the CPU. With ``kmeans`` a large bank is its k-means centres, which
are no training clip: the training clips are scored against them as they stand.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from libtrad.core.errors import LibtradError, ParameterError
from libtrad.ray_jobs.evaluation.suites.similarity import COMBINE, reduce_bank, similarities

KINDS = ("gamma", "percentile", "fpr")
DEFAULT = "gamma:0.9"


@dataclass(frozen=True)
class ThresholdRule:
    """A parsed ``--threshold``: its kind and value, and the text results.json records."""

    kind: str
    value: float

    @property
    def text(self) -> str:
        return f"{self.kind}:{self.value:g}"


def parse_threshold(text: str) -> ThresholdRule:
    """``gamma[:Q]`` | ``percentile:P`` | ``fpr:F`` -> the rule, or one ParameterError naming what is wrong."""
    if not isinstance(text, str):
        raise ParameterError("threshold", text, "must be text such as gamma:0.9, percentile:90 or fpr:0.1")
    kind, _, raw = text.strip().partition(":")
    if kind not in KINDS:
        raise ParameterError("threshold", text, f"must start with one of {', '.join(KINDS)} (e.g. gamma:0.9)")
    if kind == "gamma" and not raw:
        raw = "0.9"
    try:
        value = float(raw)
    except ValueError:
        raise ParameterError("threshold", text, f"{kind} needs a number after the colon (e.g. {kind}:0.9)") from None
    high = 100.0 if kind == "percentile" else 1.0
    if not (np.isfinite(value) and 0 < value < high):
        raise ParameterError("threshold", text, f"the {kind} value must lie strictly between 0 and {high:g}")
    return ThresholdRule(kind, value)


def fit_threshold(rule: ThresholdRule, train_scores: np.ndarray, where: str) -> dict:
    """``{"threshold": t, "train_clips": n}`` (+ ``gamma``: the fitted a, loc, scale) from the training scores."""
    s = np.asarray(train_scores, dtype=np.float64)
    if s.size < 2 or not np.isfinite(s).all():
        raise LibtradError(
            f"{where}: {s.size} finite training score(s); a decision threshold needs at least 2 training clips"
        )
    out: dict = {"train_clips": int(s.size)}
    if rule.kind == "percentile":
        out["threshold"] = float(np.percentile(s, rule.value))
    elif rule.kind == "fpr":
        ordered = np.sort(s)
        above = s.size - np.searchsorted(ordered, ordered, side="right")  # training scores strictly above each
        out["threshold"] = float(ordered[np.flatnonzero(above <= rule.value * s.size)[0]])
    else:
        out.update(_gamma(s, rule.value, where))
    return out


def _gamma(s: np.ndarray, q: float, where: str) -> dict:
    from scipy import stats

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            a, loc, scale = stats.gamma.fit(s)
            threshold = float(stats.gamma.ppf(q, a, loc=loc, scale=scale))
        except (stats.FitError, ValueError, FloatingPointError):
            threshold = float("nan")
    if not np.isfinite(threshold) or np.ptp(s) == 0:
        raise LibtradError(
            f"{where}: the gamma fit to its {s.size} training scores failed (all equal or degenerate); "
            "give --threshold percentile:90 or fpr:0.1"
        )
    return {"threshold": threshold, "gamma": {"a": float(a), "loc": float(loc), "scale": float(scale)}}


def try_fit(rule: ThresholdRule, train_scores: np.ndarray, where: str) -> dict:
    """:func:`fit_threshold`, or ``{"threshold": None, "train_clips": n, "problem": why}`` where no threshold can
    be fitted (too few clips, a failed gamma fit): the section then gets no decisions (results.md lists it), the
    AUCs are unaffected, and ``--submission`` refuses it by name."""
    try:
        return fit_threshold(rule, train_scores, where)
    except LibtradError as exc:
        return {"threshold": None, "train_clips": int(np.size(train_scores)), "problem": str(exc)}


def decide(scores: np.ndarray, threshold: float) -> np.ndarray:
    """1 where a score lies strictly above the threshold (the baseline's ``score > threshold``), else 0."""
    return (np.asarray(scores, dtype=np.float64) > threshold).astype(np.int64)


# ----------------------------------------------------------------------------- leave-one-out scores
def leave_one_out_scores(train: np.ndarray, bank_of: np.ndarray, options) -> np.ndarray:
    """Each training row's score against its section's banks without itself (module docstring).

    ``bank_of``: each training row's bank (its domain); the banks are the rows of each value, in
    sorted order as :func:`~libtrad.ray_jobs.evaluation.suites.siren_dcase.score_unit` builds them.
    """
    names = sorted(set(bank_of.tolist()), key=str)
    per_bank = []
    for name in names:
        rows = np.flatnonzero(np.array([b == name for b in bank_of], dtype=bool))
        own = train[rows]
        bank = reduce_bank(own, options)
        sims = similarities(train, bank, options.similarity)
        if bank is own:  # not reduced to k-means centres: each row of this bank leaves itself out
            sims[rows, np.arange(len(rows))] = np.nan
        per_bank.append(_masked_aggregate(sims, options.aggregation, options.k))
    stacked = np.vstack(per_bank)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a row alone in its bank: NaN there, the others decide
        combined = _nan_combine(stacked, options.domain_strategy)
    return combined


def _nan_combine(stacked: np.ndarray, strategy: str) -> np.ndarray:
    nan_version = {"min": np.nanmin, "max": np.nanmax, "mean": np.nanmean}
    if strategy not in COMBINE:
        raise ParameterError("domain_strategy", strategy, f"must be one of {', '.join(COMBINE)}")
    return nan_version[strategy](stacked, axis=0)


def _masked_aggregate(sims: np.ndarray, aggregation: str, k: int) -> np.ndarray:
    """:func:`~libtrad.ray_jobs.evaluation.suites.similarity.aggregate` over the non-NaN similarities of each row
    (NaN where a row has none left)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if aggregation == "max":
            return 1.0 - np.nanmax(sims, axis=1)
        if aggregation == "mean":
            return 1.0 - np.nanmean(sims, axis=1)
        if aggregation == "min":
            return 1.0 - np.nanmin(sims, axis=1)
    filled = np.where(np.isnan(sims), -np.inf, sims)
    available = np.sum(~np.isnan(sims), axis=1)
    top = -np.sort(-filled, axis=1)
    out = np.full(len(sims), np.nan)
    for i, n in enumerate(available):
        if n:
            out[i] = float(np.mean(1.0 - top[i, : min(k, n)]))
    return out
