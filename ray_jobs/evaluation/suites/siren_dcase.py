"""SIREN's DCASE Task 2 benchmark on precomputed embeddings (2020–2025): cosine 1-NN anomaly scores.

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
  over the source and target banks, 2021–2025 [``domain_strategy``], ``kmeans`` N clusters for
  banks above ``kmeans_threshold`` rows [``enable_kmeans_optimization``, ``kmeans_n_clusters``,
  ``kmeans_threshold``]. SIREN applies k-means from 2021 only; here it applies to any year's banks
  (2020: one per machine ID); a 2020 run refuses a domain strategy other than min (one bank).
* Test rows: split ``test`` with label 0 (normal) or 1 (anomaly). Unlabelled test rows (-1)
  get a score in ``file_scores`` and enter no metric.
* Groups: 2020 AUC and pAUC per machine × ID (key ``machine/SS``); 2021 both per machine ×
  section × domain (``machine/SS/domain``); 2022–2025 AUC per machine × section × domain and
  pAUC per machine × section (all its normals and anomalies). pAUC is the McClish-standardised
  partial AUC up to ``max_fpr`` = 0.1, as scikit-learn computes it.
* A domain group holds that domain's normals and that domain's anomalies (SIREN). The
  official DCASE evaluator uses the domain's normals with *all* anomalies of the section:
  ``official_domain_auc=True`` gives that, for every domain-keyed metric.
* A group with only normals or only anomalies scores 0.0 (SIREN's convention: it drags the
  harmonic mean down rather than vanishing).
* Set score: 2020 the arithmetic mean of all the set's AUC and pAUC values; 2021–2025 their
  harmonic mean, each value clipped to machine epsilon first. The year score is the same
  aggregate over the dev and eval values together (not a mean of the two set scores).

Results (``results.json``)::

    {"suite": "siren-dcase", "year": Y,
     "sets": {"dev": {"auc": {KEY: v}, "pauc": {KEY: v}, "score": v}, "eval": {...}},
     "score": v,
     "file_scores": {"<set>/<machine>/<file>": s},
     "options": {"official_domain_auc": bool, "max_fpr": 0.1, ...},  # + memory-bank options off SIREN's default
     "counts": {"<set>": {"machine/SS": {"train": n, "normal": n, "anomaly": n, "unlabelled": n}}}}

Device (``device``: auto | cpu | cuda | cuda:N, :mod:`libtrad.core.devices`; not a comparability
option): on the CPU the scores are computed as above. On CUDA a float32 product on the GPU
screens each test row's bank and only the candidates within a rigorous rounding bound of its
maximum are recomputed in float64 there (:func:`screened_cosine_scores`; for cosine 1-NN without
k-means and a min or max domain strategy; other options score on the CPU): the nearest bank row is
the CPU's, and its score differs from the CPU's only in the last bits (a float64 sum in another
order, at most :func:`cosine_score_bound`). A metric depends only on the order of the scores, so
a section whose scores come closer to each other than twice that bound (ties, duplicates) is
scored again on the CPU (:func:`order_is_certain`): AUC, pAUC and the set scores are the CPU's.

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

from libtrad.core.errors import LibtradError, ParameterError
from libtrad.ray_jobs.evaluation import metrics
from libtrad.ray_jobs.embedding.embeddings_input import require_columns

SUITE = "siren-dcase"
REQUIRED_COLUMNS = ("file", "machine", "section", "year", "set", "split", "label")
OPTIONAL_COLUMNS = ("domain",)  # needed from 2021 on, where the groups are per domain
SET_ORDER = ("dev", "eval")
LABELS = (-1, 0, 1)


SIMILARITIES = ("cosine", "euclidean")
AGGREGATIONS = ("max", "mean", "min", "knn")
DOMAIN_STRATEGIES = ("min", "max", "mean")
KMEANS_SEED = 42  # SIREN's KMeans(random_state=42)
KMEANS_INIT_RUNS = 1  # k-means++ runs; scikit-learn's n_init="auto" for k-means++ (what SIREN gets from a current one)


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
    * ``domain_strategy`` (SIREN ``domain_strategy``, 2021–2025): how the scores against the source
      and the target bank combine: ``min`` (default), ``max`` or ``mean``.
    * ``kmeans`` (SIREN ``enable_kmeans_optimization`` + ``kmeans_n_clusters``; None = off, SIREN's
      default; SIREN's value when on is 16): a bank with more than ``kmeans_threshold`` rows
      (SIREN ``kmeans_threshold``, default 100) is replaced by the centres of ``min(kmeans, rows)``
      k-means clusters (:func:`reduce_bank`).
    """

    official_domain_auc: bool = False
    max_fpr: float = 0.1
    similarity: str = "cosine"
    aggregation: str = "max"
    k: int = 1
    domain_strategy: str = "min"
    kmeans: int | None = None
    kmeans_threshold: int = 100
    device: str = "auto"

    def __post_init__(self):
        from libtrad.core.devices import parse_device

        parse_device(self.device)
        if not isinstance(self.official_domain_auc, bool):
            raise ParameterError("official_domain_auc", self.official_domain_auc, "must be true or false")
        if isinstance(self.max_fpr, bool) or not isinstance(self.max_fpr, (int, float)) or not 0 < self.max_fpr <= 1:
            raise ParameterError("max_fpr", self.max_fpr, "must be a number in (0, 1]")
        for name, accepted in (("similarity", SIMILARITIES), ("aggregation", AGGREGATIONS),
                               ("domain_strategy", DOMAIN_STRATEGIES)):
            if getattr(self, name) not in accepted:
                raise ParameterError(name, getattr(self, name), f"must be one of {', '.join(accepted)}")
        for name, low in (("k", 1), ("kmeans_threshold", 0)):
            _whole(name, getattr(self, name), low)
        if self.kmeans is not None:
            _whole("kmeans", self.kmeans, 1)
        if self.k != 1 and self.aggregation != "knn":
            raise ParameterError("k", self.k, f"is read only by aggregation 'knn' (this run aggregates by "
                                 f"{self.aggregation!r}); give --aggregation knn or leave k at 1")
        if self.kmeans_threshold != 100 and self.kmeans is None:
            raise ParameterError("kmeans_threshold", self.kmeans_threshold, "is read only with kmeans "
                                 "(--kmeans N clusters); give one or leave the threshold at 100")

    @property
    def siren_default_scores(self) -> bool:
        """Whether the scores are SIREN's default ones (cosine 1-NN, min over domains, no k-means)."""
        return (self.similarity, self.aggregation, self.domain_strategy, self.kmeans) == ("cosine", "max", "min", None)

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
def _int_column(df: pd.DataFrame, name: str) -> np.ndarray:
    values = df[name]
    if values.isna().any():
        raise LibtradError(f"column {name!r}: empty in the row file={df.loc[values.isna(), 'file'].iloc[0]!r}")
    try:
        as_int = values.to_numpy().astype(np.int64)
    except (TypeError, ValueError):
        raise LibtradError(f"column {name!r}: expected integers, found {values.dtype}") from None
    if not np.array_equal(as_int, values.to_numpy().astype(np.float64)):
        raise LibtradError(f"column {name!r}: expected integers, found non-integer values")
    return as_int


def _text_column(df: pd.DataFrame, name: str, *, allow_empty: bool = False) -> np.ndarray:
    values = df[name]
    empty = values.isna().to_numpy()
    if empty.any() and not allow_empty:
        raise LibtradError(f"column {name!r}: empty in the row file={df['file'].iloc[int(np.flatnonzero(empty)[0])]!r}")
    return np.array([None if e else str(v) for v, e in zip(values.to_numpy(), empty)], dtype=object)


def _year(df: pd.DataFrame) -> int:
    years = sorted(set(_int_column(df, "year").tolist()))
    if len(years) != 1:
        raise LibtradError(f"column 'year': the embeddings mix {len(years)} DCASE years "
                           f"({', '.join(map(str, years))}); evaluate one year at a time")
    if not 2020 <= years[0] <= 2025:
        raise LibtradError(f"column 'year': {years[0]} is not a DCASE Task 2 year this suite knows (2020-2025)")
    return years[0]


def columns_for(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """The columns :func:`run_unit` reads, as arrays by row position (checked)."""
    require_columns(df, REQUIRED_COLUMNS, SUITE)
    labels = _int_column(df, "label")
    bad = ~np.isin(labels, LABELS)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise LibtradError(f"column 'label': {labels[row]} in the row file={df['file'].iloc[row]!r} "
                           "(expected 0 normal, 1 anomaly or -1 unlabelled)")
    domain = _text_column(df, "domain", allow_empty=True) if "domain" in df.columns else np.full(len(df), None, object)
    return {"file": _text_column(df, "file"), "machine": _text_column(df, "machine"), "set": _text_column(df, "set"),
            "split": _text_column(df, "split"), "section": _int_column(df, "section"), "label": labels,
            "domain": domain}


def _check_domains(year: int, columns: dict[str, np.ndarray], test: np.ndarray) -> None:
    """From 2021 every labelled test row needs its domain (the groups are per domain)."""
    if year == 2020:
        return
    labelled = test[columns["label"][test] >= 0]
    missing = labelled[[d is None for d in columns["domain"][labelled]]]
    if missing.size:
        raise LibtradError(f"column 'domain': empty for the labelled test row file={columns['file'][missing[0]]!r} "
                           f"(DCASE {year} scores each domain; a 'domain' column with source/target is needed)")


# ----------------------------------------------------------------------------- plan
def plan(df: pd.DataFrame, options: DcaseOptions | None = None) -> list[Unit]:
    """One unit per set × machine × section with test rows; refuses mixed years and empty banks."""
    options = options or DcaseOptions()
    columns = columns_for(df)
    year = _year(df)
    if year == 2020 and options.domain_strategy != "min":
        raise ParameterError("domain_strategy", options.domain_strategy, "DCASE 2020 has one memory bank per "
                             "machine ID (no source/target domains to combine); leave it at min")
    split = columns["split"]
    keys = pd.DataFrame({"set": columns["set"], "machine": columns["machine"], "section": columns["section"]})
    units = []
    for (set_, machine, section), rows in keys.groupby(["set", "machine", "section"], sort=True).indices.items():
        test, train = rows[split[rows] == "test"], rows[split[rows] == "train"]
        if test.size == 0:
            continue
        if train.size == 0:
            raise LibtradError(f"set {set_}, machine {machine}, section {section:02d}: {test.size} test rows but no "
                               "train rows (the memory bank is the train split); add its train embeddings")
        _check_domains(year, columns, test)
        units.append(Unit(f"{set_}/{machine}/{section:02d}", year, str(set_), str(machine), int(section), train, test))
    if not units:
        raise LibtradError("no rows with split 'test': nothing to evaluate")
    _check_unique_files(units, columns)
    return sorted(units, key=lambda u: (_set_rank(u.set), u.machine, u.section))


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
def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in float64 (an all-zero row stays zero)."""
    x = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


COMBINE = {"min": np.min, "max": np.max, "mean": np.mean}  # domain_strategy -> over the per-bank scores


def cosine_scores(test: np.ndarray, banks: list[np.ndarray], screen=None, combine: str = "min") -> np.ndarray:
    """``min over banks of (1 - max cosine similarity to the bank)`` per test row (float64).

    ``combine``: the domain strategy over the banks (``min``, SIREN's default; ``max``; ``mean``).
    ``screen``: a torch device for :func:`screened_cosine_scores` (None: numpy, the reference).
    """
    if screen is not None:
        return screened_cosine_scores(test, banks, screen, combine)
    t = _unit_rows(test)
    per_bank = [1.0 - (t @ _unit_rows(bank).T).max(axis=1) for bank in banks if len(bank)]
    return COMBINE[combine](per_bank, axis=0)


BLOCK_ELEMENTS = 2**23  # float64 values of one block of similarities (or of Euclidean differences): 64 MiB


def similarities(test: np.ndarray, bank: np.ndarray, similarity: str) -> np.ndarray:
    """(test rows, bank rows) float64 similarities: cosine, or minus the Euclidean distance (SIREN's).

    The distance is the norm of the difference itself (not ``|x|² - 2x·y + |y|²``, which loses
    the small distances to cancellation), over blocks of test rows of bounded size.
    """
    if similarity == "cosine":
        return _unit_rows(test) @ _unit_rows(bank).T
    t, b = np.asarray(test, dtype=np.float64), np.asarray(bank, dtype=np.float64)
    out = np.empty((len(t), len(b)))
    step = max(1, BLOCK_ELEMENTS // max(1, b.size))
    for start in range(0, len(t), step):
        out[start:start + step] = -np.linalg.norm(t[start:start + step, None, :] - b[None, :, :], axis=2)
    return out


def aggregate(sims: np.ndarray, aggregation: str, k: int) -> np.ndarray:
    """Per test row, ``1 - (max | mean | min) similarity``, or for ``knn`` the mean of ``1 - s`` over its
    ``min(k, bank rows)`` largest similarities (SIREN's ``_aggregate_similarities_batch``)."""
    if aggregation == "max":
        return 1.0 - sims.max(axis=1)
    if aggregation == "mean":
        return 1.0 - sims.mean(axis=1)
    if aggregation == "min":
        return 1.0 - sims.min(axis=1)
    k = min(k, sims.shape[1])
    if k == 1:
        return 1.0 - sims.max(axis=1)
    top = -np.partition(-sims, k - 1, axis=1)[:, :k]
    return (1.0 - top).mean(axis=1)


def reduce_bank(bank: np.ndarray, options: DcaseOptions) -> np.ndarray:
    """The bank, or with ``kmeans`` on and more than ``kmeans_threshold`` rows, its k-means centres (float64):
    ``min(kmeans, distinct rows)`` of them (SIREN: ``min(kmeans, rows)``; equal where rows are distinct).

    scikit-learn's KMeans (k-means++, ``random_state`` 42 as SIREN, one k-means++ run as its
    ``n_init="auto"``) on the float64 rows, with one BLAS/OpenMP thread so the centres do not
    depend on the machine's core count: the same bank gives the same centres, bit for bit.
    """
    if options.kmeans is None or len(bank) <= options.kmeans_threshold:
        return bank
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    rows = np.asarray(bank, dtype=np.float64)
    distinct = len(np.unique(rows, axis=0))  # more clusters than distinct rows would leave some empty
    with threadpool_limits(1):
        model = KMeans(n_clusters=min(options.kmeans, distinct), random_state=KMEANS_SEED,
                       n_init=KMEANS_INIT_RUNS).fit(rows)
    return model.cluster_centers_


def _screenable(options: DcaseOptions) -> bool:
    """Whether the GPU screen computes these scores: cosine 1-NN, no k-means, min or max over domains
    (the screen's bound covers a maximum and a choice between banks, not a mean)."""
    return (options.similarity, options.aggregation, options.kmeans) == ("cosine", "max", None) \
        and options.domain_strategy in ("min", "max")


def memory_scores(test: np.ndarray, banks: list[np.ndarray], options: DcaseOptions, screen=None) -> np.ndarray:
    """Each test row's anomaly score against the section's banks (one per domain), float64.

    SIREN's default (cosine, max, min over domains, no k-means) is :func:`cosine_scores` itself;
    otherwise each bank is reduced (:func:`reduce_bank`), scored (:func:`similarities`,
    :func:`aggregate`) and the per-bank scores combined by ``domain_strategy``.
    """
    if _screenable(options):
        return cosine_scores(test, banks, screen, options.domain_strategy)
    per_bank = [aggregate(similarities(test, reduce_bank(bank, options), options.similarity), options.aggregation,
                          options.k) for bank in banks if len(bank)]
    return COMBINE[options.domain_strategy](per_bank, axis=0)


def _gamma(n: int, u: float) -> float:
    """The classic bound on the relative error of an n-term float sum of products, in any order."""
    return n * u / (1 - n * u)


U32, U64 = float(np.finfo(np.float32).eps) / 2, float(np.finfo(np.float64).eps) / 2
PAIR_ELEMENTS = 2**24  # float64 values per chunk of the exact re-check (128 MiB on the device)


def cosine_score_bound(dim: int) -> float:
    """How far a score of :func:`screened_cosine_scores` may lie from :func:`cosine_scores`' one.

    Both compute the same unit rows (bit for bit) and a float64 dot product of length ``dim``
    of them, each within ``γ·|t||b| <= γ·(1 + 2 dim u)`` of the exact one; ``1 - s`` rounds once more each.
    """
    return 1.01 * (2 * _gamma(dim, U64) * (1 + 2 * dim * U64) + 4 * U64)


def screened_cosine_scores(test: np.ndarray, banks: list[np.ndarray], device, combine: str = "min") -> np.ndarray:
    """:func:`cosine_scores` by a float32 screen on ``device`` and a float64 re-check of its candidates.

    Why: the product of test rows and bank rows is the whole cost; float32 on a GPU is many
    times float64's speed. The float32 similarity of the float32-rounded unit rows lies within
    ``e = γ32·(1+u32)² + 2u32 + u32²`` (+ the float64 value's own ``γ64``) of the CPU's float64 one,
    so every bank row the CPU could take as the maximum lies within ``2e + 2γ64`` of the float32
    maximum; those are recomputed in float64 on the device, and the largest is the score.
    """
    import torch

    from libtrad.ray_jobs.evaluation.suites.fault_neighbours import strict_float32

    t = _unit_rows(test)
    dim = t.shape[1]
    tol = 1.01 * (2 * (_gamma(dim, U32) * (1 + U32) ** 2 + 2 * U32 + U32 ** 2) + 2 * _gamma(dim, U64) * 1.01)
    per_bank = []
    with torch.no_grad(), strict_float32(device):
        t64 = torch.from_numpy(t).to(device)
        t32 = t64.float()
        for bank in banks:
            if not len(bank):
                continue
            b64 = torch.from_numpy(_unit_rows(bank)).to(device)
            approx = t32 @ b64.float().T
            top = approx.max(dim=1).values.double()
            floor = torch.nextafter((top - tol).float(), torch.tensor(-float("inf"), device=device))
            rows, cols = torch.nonzero(approx >= floor[:, None], as_tuple=True)
            best = torch.full((t.shape[0],), -float("inf"), dtype=torch.float64, device=device)
            step = max(1, PAIR_ELEMENTS // dim)
            for start in range(0, rows.numel(), step):
                r, c = rows[start:start + step], cols[start:start + step]
                best.scatter_reduce_(0, r, (t64[r] * b64[c]).sum(dim=1), reduce="amax")
            per_bank.append(1.0 - best.cpu().numpy())
    return COMBINE[combine](per_bank, axis=0)


def order_is_certain(scores: np.ndarray, bound: float | np.ndarray) -> bool:
    """Whether scores each within ``bound`` of another computation's keep that one's order and ties.

    True when every two scores lie more than their two bounds apart: then any metric of ranks
    (AUC, pAUC) is the same for both computations. Equal scores are never certain.
    """
    values = np.asarray(scores, dtype=np.float64)
    bounds = np.broadcast_to(np.asarray(bound, dtype=np.float64), values.shape)
    order = np.argsort(values, kind="stable")
    v, b = values[order], bounds[order]
    return bool(np.all(np.diff(v) > b[1:] + b[:-1]))


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


def _metric(kind: str, labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    """AUC or pAUC; 0.0 for a one-class group (SIREN)."""
    if labels.size == 0 or labels.min() == labels.max():
        return 0.0
    return metrics.roc_auc(labels, scores) if kind == "auc" else metrics.partial_auc(labels, scores, max_fpr)


def run_unit(unit: Unit, embeddings: np.ndarray, columns: dict[str, np.ndarray],
             options: DcaseOptions | None = None) -> dict:
    """Scores and metrics of one section; ``embeddings``/``columns`` are indexed by row position."""
    options = options or DcaseOptions()
    from libtrad.ray_jobs.evaluation.suites.siren_fault import screen_device

    return score_unit(unit, embeddings, columns, options, screen_device(options.device))


def score_unit(unit: Unit, embeddings: np.ndarray, columns: dict[str, np.ndarray], options: DcaseOptions,
               screen=None) -> dict:
    """:func:`run_unit` with the similarity screen on ``screen`` (a torch device; None: numpy); with
    ``torch.device("cpu")`` it runs the GPU code path on the CPU (tests compare the two)."""
    train_domains = columns["domain"][unit.train]
    banks = [embeddings[unit.train[_equals(train_domains, d)]] for d in sorted(set(train_domains), key=str)]
    screen = screen if _screenable(options) else None  # other options: the numpy path only
    scores = memory_scores(embeddings[unit.test], banks, options, screen)
    if screen is not None and not order_is_certain(scores, cosine_score_bound(embeddings.shape[1])):
        scores = memory_scores(embeddings[unit.test], banks, options)  # near-equal scores: the CPU's order decides
    labels, domains = columns["label"][unit.test], columns["domain"][unit.test]
    section = f"{unit.machine}/{unit.section:02d}"
    result = {"file_scores": {f"{unit.set}/{unit.machine}/{f}": float(s)
                              for f, s in zip(columns["file"][unit.test], scores)}}
    for kind, groups in group_masks(unit.year, labels, domains, options.official_domain_auc).items():
        result[kind] = {section + suffix: _metric(kind, labels[m], scores[m], options.max_fpr)
                        for suffix, m in groups.items() if m.any()}
    result["counts"] = {"train": int(unit.train.size), "normal": int((labels == 0).sum()),
                        "anomaly": int((labels == 1).sum()), "unlabelled": int((labels < 0).sum())}
    return result


# ----------------------------------------------------------------------------- combine
def _aggregate(year: int, values: list[float]) -> float | None:
    if not values:
        return None
    return metrics.arithmetic_mean(values) if year == 2020 else metrics.harmonic_mean(values)


def _sorted(d: dict) -> dict:
    return {k: d[k] for k in sorted(d)}


def _check_results(units: list[Unit], unit_results: dict[str, dict]) -> None:
    expected = {u.key for u in units}
    missing, extra = sorted(expected - set(unit_results)), sorted(set(unit_results) - expected)
    if missing or extra:
        raise LibtradError(f"unit results do not match the plan (missing: {', '.join(missing) or 'none'}; "
                           f"unexpected: {', '.join(extra) or 'none'})")


def combine(unit_results: dict[str, dict], df: pd.DataFrame, options: DcaseOptions | None = None) -> dict:
    """The results.json dict from every unit's result (keyed by ``Unit.key``), in a fixed order."""
    options = options or DcaseOptions()
    units = plan(df, options)
    _check_results(units, unit_results)
    year = units[0].year
    sets: dict[str, dict] = {}
    counts: dict[str, dict] = {}
    file_scores: dict[str, float] = {}
    for unit in units:
        r = unit_results[unit.key]
        entry = sets.setdefault(unit.set, {"auc": {}, "pauc": {}})
        entry["auc"].update(r["auc"])
        entry["pauc"].update(r["pauc"])
        counts.setdefault(unit.set, {})[f"{unit.machine}/{unit.section:02d}"] = r["counts"]
        file_scores.update(r["file_scores"])
    pooled = []
    for entry in sets.values():
        values = _set_values(entry)
        entry.update(auc=_sorted(entry["auc"]), pauc=_sorted(entry["pauc"]), score=_aggregate(year, values))
        pooled += values
    return {"suite": SUITE, "year": year, "sets": sets, "score": _aggregate(year, pooled),
            "file_scores": _sorted(file_scores),
            "options": options.record(),
            "counts": {s: _sorted(c) for s, c in counts.items()}}


def _set_values(entry: dict) -> list[float]:
    """A set's AUC values then its pAUC values, each in key order (a fixed summation order)."""
    return [entry["auc"][k] for k in sorted(entry["auc"])] + [entry["pauc"][k] for k in sorted(entry["pauc"])]


def evaluate_local(df: pd.DataFrame, options: DcaseOptions | None = None) -> dict:
    """plan → every unit in this process → combine (the runner's ``local`` path)."""
    import sys

    from libtrad.ray_jobs.evaluation.runner import run_suite

    return run_suite(sys.modules[__name__], df, options or DcaseOptions(), local=True, progress=False).results


# ----------------------------------------------------------------------------- for the report
def roc_inputs(df: pd.DataFrame, results: dict, options: DcaseOptions | None = None) -> dict[str, dict]:
    """``{set: {AUC key: (labels, scores)}}`` of each AUC group, for ROC plots (scores from results)."""
    options = options or DcaseOptions()
    columns = columns_for(df)
    curves: dict[str, dict] = {}
    for unit in plan(df, options):
        labels, domains = columns["label"][unit.test], columns["domain"][unit.test]
        scores = np.array([results["file_scores"][f"{unit.set}/{unit.machine}/{f}"]
                           for f in columns["file"][unit.test]])
        groups = group_masks(unit.year, labels, domains, options.official_domain_auc)["auc"]
        for suffix, mask in ((s, m) for s, m in groups.items() if m.any()):
            curves.setdefault(unit.set, {})[f"{unit.machine}/{unit.section:02d}{suffix}"] = (labels[mask], scores[mask])
    return curves


def write_report(results: dict, folder: Path, df: pd.DataFrame, options: DcaseOptions) -> list[Path]:
    """results.md and the ROC/AUC figures (:func:`libtrad.ray_jobs.evaluation.report.write_dcase_report`)."""
    from libtrad.ray_jobs.evaluation.report import write_dcase_report

    return write_dcase_report(results, folder, roc_inputs(df, results, options))
