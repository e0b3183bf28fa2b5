"""SIREN's fault-classification benchmark on precomputed embeddings: KNN (k = 5, Euclidean) by LOOCV or k-fold.

Protocol:

* ``loocv`` (when the rows have no ``fold`` column, or ``protocol="loocv"``): every row is
  predicted from all the others. ``kfold`` (``fold`` column; ``protocol="kfold"``): the rows of
  each fold are predicted from the rows of the other folds (scikit-learn's ``PredefinedSplit``).
* Prediction: majority vote of the k nearest rows (uniform weights), a tie between classes
  going to the smallest label, exactly what ``cross_val_predict(KNeighborsClassifier(5), X, y,
  cv=LeaveOneOut())`` (or the fold split) predicts. It is computed without n fits: one blocked
  distance matrix (queries × all rows, blocks bounded to about 64 MiB). For float32 embeddings
  a float32 product screens the candidates and the few that can be among the k nearest are
  recomputed in float64 (a rigorous rounding bound decides which), so the answer is the float64
  one at about half the cost.
* Equal distances at the k-th neighbour: scikit-learn's brute-force search keeps neighbours in a
  fixed-size max-heap fed in row order, over chunks of 256 rows split between its OpenMP
  threads when it parallelises over the fitted rows (always so for LOOCV's one-row queries);
  which of several equally distant rows survives depends on that heap and on the thread count.
  Rows with such a tie replay that heap exactly (``sklearn_threads``: the thread count to
  replay, default 1 = a single-threaded scikit-learn); rows without one need no replay. The
  ranking value is scikit-learn's ``|x|² - 2 x·y + |y|²`` in float64, so integer-valued
  embeddings tie exactly as they do there. (This is scikit-learn's brute-force search, which its
  ``algorithm="auto"`` uses for more than 15 features, i.e. for any real embedding; its k-d tree,
  used for 15 features or fewer, may pick other rows among equally distant ones.)
* Scores: accuracy; precision, recall and F1 weighted by support and macro (``zero_division=0``);
  per-class scores and the confusion matrix (rows true, columns predicted), over the classes
  that occur. SIREN reports the **weighted** scores; the macro ones are here for imbalanced sets.

``siren_compat=True`` reproduces SIREN's own distance instead (a quirk, off by default): the
embedding of length D is cut into 8 pseudo-channels (8, D/8); per channel the Euclidean
distances from a query to every candidate are z-scored over the candidates (population std;
a constant row becomes 0), the first 7 channels' z-scores are averaged and the k nearest by
that average vote (equal averages: the lower row first).

Class names: ``classes`` (names by label index) if given, else a ``label_name`` column, else the
Hugging Face ``ClassLabel`` names found in the Parquet metadata, else the label numbers.

Results (``results.json``)::

    {"suite": "siren-fault", "protocol": "loocv" | "kfold", "classes": [name, ...],
     "accuracy": v, "precision_weighted": v, "recall_weighted": v, "f1_weighted": v,
     "precision_macro": v, "recall_macro": v, "f1_macro": v,
     "confusion": [[count, ...], ...],
     "predictions": [name, ...],            # rows sorted by ``file``
     "per_class": {name: {"precision": v, "recall": v, "f1": v, "support": n}}}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from libtrad.errors import LibtradError, ParameterError
from libtrad.ray_jobs.evaluation import metrics
from libtrad.ray_jobs.embedding.embeddings_input import require_columns

SUITE = "siren-fault"
REQUIRED_COLUMNS = ("file", "label")
OPTIONAL_COLUMNS = ("fold", "label_name")
PROTOCOLS = ("auto", "loocv", "kfold")
SKLEARN_CHUNK = 256  # scikit-learn's pairwise_dist_chunk_size default: its rows per chunk
BLOCK_BYTES = 64 * 2**20  # one float64 distance block of queries × candidates
HEAP_EMPTY = float(np.finfo(np.float64).max)  # what scikit-learn fills an empty heap slot with
COMPAT_CHANNELS = 8
COMPAT_USED = 7


@dataclass(frozen=True)
class FaultOptions:
    """How rows are predicted; ``classes`` names label indices 0, 1, ... (optional)."""

    protocol: str = "auto"
    k: int = 5
    siren_compat: bool = False
    sklearn_threads: int = 1
    block_rows: int | None = None
    classes: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ParameterError("protocol", self.protocol, f"must be one of {', '.join(PROTOCOLS)}")
        for name in ("k", "sklearn_threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(name, value, "must be a whole number >= 1")
        if self.block_rows is not None and (not isinstance(self.block_rows, int) or self.block_rows < 1):
            raise ParameterError("block_rows", self.block_rows, "must be a whole number >= 1 (or None: automatic)")
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))


@dataclass(frozen=True)
class Unit:
    """Query rows and the rows they are predicted from (positions in the frame)."""

    key: str
    queries: np.ndarray
    candidates: np.ndarray  # sorted; for LOOCV all rows (each query's own row is left out)
    leave_one_out: bool
    fit_queries: int  # rows one scikit-learn fit predicts at once (1 for LOOCV, the fold's size)

    @property
    def rows(self) -> np.ndarray:
        return np.union1d(self.queries, self.candidates)


# ----------------------------------------------------------------------------- columns
def _int_column(df: pd.DataFrame, name: str) -> np.ndarray:
    values = df[name]
    if values.isna().any():
        raise LibtradError(f"column {name!r}: empty in the row file={df.loc[values.isna(), 'file'].iloc[0]!r}")
    try:
        raw = values.to_numpy()
        as_int = raw.astype(np.int64)
        exact = np.array_equal(as_int, raw.astype(np.float64))
    except (TypeError, ValueError):
        exact = False
    if not exact:
        raise LibtradError(f"column {name!r}: expected whole numbers, found {values.dtype}")
    if (as_int < 0).any():
        row = int(np.flatnonzero(as_int < 0)[0])
        raise LibtradError(f"column {name!r}: {as_int[row]} in the row file={df['file'].iloc[row]!r} "
                           "(expected a non-negative index)")
    return as_int


def columns_for(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """The columns :func:`run_unit` reads, as arrays by row position (checked)."""
    require_columns(df, REQUIRED_COLUMNS, SUITE)
    return {"label": _int_column(df, "label")}


def class_names(df: pd.DataFrame, classes=None) -> dict[int, str]:
    """A name for every label index in ``df`` (see the module docstring for the sources, in order)."""
    labels = np.unique(_int_column(df, "label")).tolist()
    if classes is not None:
        if labels[-1] >= len(classes):
            raise ParameterError("classes", list(classes), f"names {len(classes)} classes but the rows have label "
                                 f"{labels[-1]}")
        return {i: str(classes[i]) for i in labels}
    if "label_name" in df.columns:
        return _names_from_column(df)
    hinted = df.attrs.get("label_names")
    if hinted and labels[-1] < len(hinted):
        return {i: str(hinted[i]) for i in labels}
    return {i: str(i) for i in labels}


def _names_from_column(df: pd.DataFrame) -> dict[int, str]:
    pairs = pd.DataFrame({"label": _int_column(df, "label"), "name": df["label_name"].astype(str).to_numpy()})
    per_label = pairs.drop_duplicates().groupby("label")["name"].agg(list)
    for label, names in per_label.items():
        if len(names) > 1:
            raise LibtradError(f"column 'label_name': label {label} has several names ({', '.join(sorted(names))})")
    return {int(label): names[0] for label, names in per_label.items()}


def _protocol(df: pd.DataFrame, options: FaultOptions) -> str:
    if options.protocol == "kfold" and "fold" not in df.columns:
        raise ParameterError("protocol", "kfold", "needs a 'fold' column; these embeddings have none")
    if options.protocol == "auto":
        return "kfold" if "fold" in df.columns else "loocv"
    return options.protocol


def _check_files(df: pd.DataFrame) -> np.ndarray:
    files = df["file"]
    if files.isna().any():
        raise LibtradError(f"column 'file': empty in row {int(np.flatnonzero(files.isna().to_numpy())[0])}")
    files = files.astype(str).to_numpy()
    unique, counts = np.unique(files, return_counts=True)
    if (counts > 1).any():
        raise LibtradError(f"column 'file': {unique[counts > 1][0]!r} appears {counts[counts > 1][0]} times "
                           "(several --embeddings of the same data?)")
    return files


# ----------------------------------------------------------------------------- plan
def block_rows(n_candidates: int, options: FaultOptions) -> int:
    """Queries per distance block: about :data:`BLOCK_BYTES` of float64 distances."""
    return options.block_rows or max(1, BLOCK_BYTES // (8 * max(1, n_candidates)))


def plan(df: pd.DataFrame, options: FaultOptions | None = None) -> list[Unit]:
    """LOOCV: blocks of query rows against all rows; k-fold: one unit per fold."""
    options = options or FaultOptions()
    columns_for(df)
    _check_files(df)
    n = len(df)
    if _protocol(df, options) == "kfold":
        return _fold_units(_int_column(df, "fold"), options)
    if n - 1 < options.k:
        raise LibtradError(f"{n} rows: LOOCV with k={options.k} needs at least {options.k + 1}")
    step = block_rows(n, options)
    everything = np.arange(n)
    return [Unit(f"loocv/{start:07d}", everything[start:start + step], everything, True, 1)
            for start in range(0, n, step)]


def _fold_units(folds: np.ndarray, options: FaultOptions) -> list[Unit]:
    names = np.unique(folds)
    if names.size < 2:
        raise LibtradError(f"column 'fold': one fold only ({names[0]}); k-fold needs at least two")
    units = []
    for fold in names.tolist():
        queries, candidates = np.flatnonzero(folds == fold), np.flatnonzero(folds != fold)
        if candidates.size < options.k:
            raise LibtradError(f"fold {fold}: {candidates.size} rows to learn from, fewer than k={options.k}")
        units.append(Unit(f"fold/{fold}", queries, candidates, False, int(queries.size)))
    return units


# ----------------------------------------------------------------------------- distances
def row_norms(matrix: np.ndarray) -> np.ndarray:
    """Squared row norms in float64, one BLAS dot product per row as scikit-learn computes them."""
    out = np.empty(len(matrix), dtype=np.float64)
    for i, row in enumerate(matrix):
        wide = np.asarray(row, dtype=np.float64)
        out[i] = wide @ wide
    return out


def _squared_distances(queries: np.ndarray, candidates: np.ndarray, cand_norms: np.ndarray) -> np.ndarray:
    """``|x|² - 2 x·y + |y|²`` (clipped at 0) in float64, added in scikit-learn's order."""
    q = np.ascontiguousarray(queries, dtype=np.float64)
    d = q @ np.asarray(candidates, dtype=np.float64).T
    d *= -2.0  # exact (a power of two): the same bits as scikit-learn's GEMM with alpha = -2
    d += row_norms(q)[:, None]
    d += cand_norms[None, :]
    return np.maximum(d, 0.0, out=d)


def _self_positions(unit: Unit, queries: np.ndarray) -> np.ndarray | None:
    """Each query's own column among the candidates (LOOCV), else None."""
    return np.searchsorted(unit.candidates, queries) if unit.leave_one_out else None


def _compat_distances(queries: np.ndarray, candidates: np.ndarray, own: np.ndarray | None) -> np.ndarray:
    """SIREN's distance: per pseudo-channel z-scored Euclidean distances, averaged over the first 7."""
    q, c = _channels(queries), _channels(candidates)
    total = np.zeros((q.shape[0], c.shape[0]))
    for ch in range(COMPAT_USED):
        cc = np.ascontiguousarray(c[:, ch], dtype=np.float64)
        d = np.sqrt(_squared_distances(q[:, ch], cc, row_norms(cc)))
        total += _zscore_rows(d, own)
    return total / COMPAT_USED


def _channels(matrix: np.ndarray) -> np.ndarray:
    n, width = matrix.shape
    if width % COMPAT_CHANNELS:
        raise ParameterError("siren_compat", True, f"needs an embedding length divisible by {COMPAT_CHANNELS} "
                             f"(8 pseudo-channels); these have {width}")
    return np.asarray(matrix).reshape(n, COMPAT_CHANNELS, width // COMPAT_CHANNELS)


def _zscore_rows(d: np.ndarray, own: np.ndarray | None) -> np.ndarray:
    """Each row z-scored over its candidates, the query's own column left out (LOOCV)."""
    valid = np.ones(d.shape, dtype=bool)
    if own is not None:
        valid[np.arange(d.shape[0]), own] = False
    count = valid.sum(axis=1, keepdims=True)
    mean = np.where(valid, d, 0.0).sum(axis=1, keepdims=True) / count
    std = np.sqrt(np.where(valid, (d - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / count)
    return np.divide(d - mean, std, out=np.zeros_like(d), where=std > 0)


# ----------------------------------------------------------------------------- neighbour selection
def _kth_values(dist: np.ndarray, k: int) -> np.ndarray:
    return np.partition(dist, k - 1, axis=1)[:, k - 1:k]


def _lowest_index_k(dist: np.ndarray, k: int) -> np.ndarray:
    """(rows, k) columns of the k smallest values, equal values by lower column first."""
    kth = _kth_values(dist, k)
    below = dist < kth
    ties = dist == kth
    take = below | (ties & (np.cumsum(ties, axis=1) <= k - below.sum(axis=1, keepdims=True)))
    return np.nonzero(take)[1].reshape(dist.shape[0], k)


def _heap_replace(vals: np.ndarray, idxs: np.ndarray, rows: np.ndarray, value: np.ndarray, index: np.ndarray) -> None:
    """Put (value, index) at the root of these rows' max-heaps and sift it down.

    The child taken is the larger one (the left on equal values), and the value moves down
    only while it is strictly smaller: scikit-learn's heap, whose tie outcomes this must match.
    """
    k = vals.shape[1]
    pos = np.zeros(rows.size, dtype=np.intp)
    live = np.arange(rows.size)
    while live.size:
        r, node, v = rows[live], pos[live], value[live]
        left, right = 2 * node + 1, 2 * node + 2
        left_v = np.where(left < k, vals[r, np.minimum(left, k - 1)], -np.inf)
        right_v = np.where(right < k, vals[r, np.minimum(right, k - 1)], -np.inf)
        child = np.where(right_v > left_v, right, left)
        moves = np.maximum(left_v, right_v) > v
        r, node, child = r[moves], node[moves], child[moves]
        vals[r, node], idxs[r, node] = vals[r, child], idxs[r, child]
        pos[live[moves]] = child
        live = live[moves]
    vals[rows, pos], idxs[rows, pos] = value, index


def _heap_feed(vals: np.ndarray, idxs: np.ndarray, values_t: np.ndarray, indices_t: np.ndarray) -> None:
    """Push column after column (``values_t[j]`` holds column j for every row) into the heaps."""
    for value, index in zip(values_t, indices_t):
        rows = np.flatnonzero(value < vals[:, 0])  # pushing a value >= the root changes nothing
        if rows.size:
            _heap_replace(vals, idxs, rows, value[rows], index[rows])


def _thread_ranges(n_fit: int, threads: int) -> list[tuple[int, int]]:
    """The fitted rows each scikit-learn thread scans: 256-row chunks split as OpenMP's static schedule."""
    size = min(n_fit, SKLEARN_CHUNK)
    n_chunks = -(-n_fit // size)
    used = min(n_chunks, threads)
    per, extra = divmod(n_chunks, used)
    ranges, first = [], 0
    for t in range(used):
        count = per + (t < extra)
        ranges.append((first * size, min((first + count) * size, n_fit)))
        first += count
    return ranges


def _parallel_on_fit_rows(n_queries: int, n_fit: int, threads: int) -> bool:
    """scikit-learn's 'auto' strategy: split the fitted rows between threads (else the queries)."""
    return not (n_fit < n_queries or 4 * SKLEARN_CHUNK * threads < n_queries)


def _sklearn_heap_k(dist_fit: np.ndarray, k: int, threads: int, split_fit_rows: bool) -> np.ndarray:
    """(rows, k) fitted-row positions scikit-learn's heap search keeps (rows are queries)."""
    n_rows, n_fit = dist_fit.shape
    vals = np.full((n_rows, k), HEAP_EMPTY)
    idxs = np.zeros((n_rows, k), dtype=np.intp)
    if not split_fit_rows:
        _heap_feed(vals, idxs, np.ascontiguousarray(dist_fit.T), _positions(n_rows, 0, n_fit))
        return idxs
    for start, stop in _thread_ranges(n_fit, threads):
        t_vals, t_idxs = np.full((n_rows, k), HEAP_EMPTY), np.full((n_rows, k), -1, dtype=np.intp)
        _heap_feed(t_vals, t_idxs, np.ascontiguousarray(dist_fit[:, start:stop].T), _positions(n_rows, start, stop))
        _heap_feed(vals, idxs, np.ascontiguousarray(t_vals.T), np.ascontiguousarray(t_idxs.T))
    return idxs


def _positions(n_rows: int, start: int, stop: int) -> np.ndarray:
    return np.broadcast_to(np.arange(start, stop)[:, None], (stop - start, n_rows))


def _sklearn_k(dist: np.ndarray, own: np.ndarray | None, k: int, unit: Unit, threads: int) -> np.ndarray:
    """(rows, k) candidate columns of each query's k nearest, chosen as scikit-learn chooses them."""
    if own is not None:
        dist[np.arange(dist.shape[0]), own] = np.inf
    within = dist <= _kth_values(dist, k)
    clear = within.sum(axis=1) == k  # no tie at the k-th: any search keeps these same k rows
    if clear.all():
        return np.nonzero(within)[1].reshape(-1, k)
    columns = np.zeros((dist.shape[0], k), dtype=np.intp)
    columns[clear] = np.nonzero(within[clear])[1].reshape(-1, k)
    tied = np.flatnonzero(~clear)
    fit_cols = _fit_columns(dist.shape[1], own[tied] if own is not None else None, tied.size)
    dist_fit = np.take_along_axis(dist[tied], fit_cols, axis=1)
    split = _parallel_on_fit_rows(unit.fit_queries, dist_fit.shape[1], threads)
    kept = _sklearn_heap_k(dist_fit, k, threads, split)
    columns[tied] = np.take_along_axis(fit_cols, kept, axis=1)
    return columns


def _fit_columns(n_candidates: int, own: np.ndarray | None, n_rows: int) -> np.ndarray:
    """Per query, the candidate columns of its fitted rows in order (LOOCV leaves its own out)."""
    if own is None:
        return np.broadcast_to(np.arange(n_candidates), (n_rows, n_candidates))
    t = np.arange(n_candidates - 1)[None, :]
    return t + (t >= own[:, None])


# ----------------------------------------------------------------------------- run / combine
def run_unit(unit: Unit, embeddings: np.ndarray, columns: dict[str, np.ndarray],
             options: FaultOptions | None = None) -> dict:
    """Predicted label of each query row: ``{"rows": [...], "predictions": [...]}`` (label values)."""
    options = options or FaultOptions()
    labels = columns["label"]
    classes = np.unique(labels)
    cand_codes = np.searchsorted(classes, labels[unit.candidates])
    candidates = Candidates(embeddings[unit.candidates])
    step = block_rows(unit.candidates.size, options)
    predictions = []
    for start in range(0, unit.queries.size, step):
        queries = unit.queries[start:start + step]
        neighbours = _neighbours(unit, embeddings[queries], candidates, queries, options)
        predictions.append(_vote(cand_codes[neighbours], classes.size))
    return {"rows": unit.queries.tolist(), "predictions": classes[np.concatenate(predictions)].tolist()}


class Candidates:
    """The rows queries are predicted from: as given, their float64 squared norms, float64 on demand."""

    def __init__(self, matrix: np.ndarray):
        self.matrix = np.ascontiguousarray(matrix)
        self.norms = row_norms(self.matrix)
        self._wide = None

    @property
    def wide(self) -> np.ndarray:
        if self._wide is None:
            self._wide = np.ascontiguousarray(self.matrix, dtype=np.float64)
        return self._wide


def _neighbours(unit: Unit, query_emb: np.ndarray, candidates: Candidates, queries: np.ndarray,
                options: FaultOptions) -> np.ndarray:
    own = _self_positions(unit, queries)
    if options.siren_compat:
        dist = _compat_distances(query_emb, candidates.matrix, own)
        if own is not None:
            dist[np.arange(len(queries)), own] = np.inf
        return _lowest_index_k(dist, options.k)
    if query_emb.dtype == np.float32 and candidates.matrix.dtype == np.float32:
        return _screened_k(query_emb, candidates, own, options.k, unit, options.sklearn_threads)
    return _exact_k(query_emb, candidates, own, options.k, unit, options.sklearn_threads)


def _exact_k(query_emb, candidates: Candidates, own, k: int, unit: Unit, threads: int) -> np.ndarray:
    dist = _squared_distances(query_emb, candidates.wide, candidates.norms)
    return _sklearn_k(dist, own, k, unit, threads)


# ----------------------------------------------------------------------------- float32 screening
def _screened_k(query_emb: np.ndarray, candidates: Candidates, own, k: int, unit: Unit, threads: int) -> np.ndarray:
    """The exact float64 answer, with most of the work done by a float32 matrix product.

    Why: the float64 product is most of the time, and float32 halves it. The float32 distances
    differ from the float64 ones by at most a rigorous bound (:func:`_screen_slack`), so every
    candidate that can be among the k nearest in float64 lies within twice that bound of the
    float32 k-th; only those are recomputed in float64, one row at a time. Rows whose float64
    k-th is tied, or with too many candidates near it, take the plain float64 path.
    """
    q_norms = row_norms(query_emb)
    approx = _approx_distances(query_emb, candidates, q_norms)
    if own is not None:
        approx[np.arange(approx.shape[0]), own] = np.inf
    limit = _kth_values(approx, k)[:, 0].astype(np.float64) + 2 * _screen_slack(query_emb.shape[1], q_norms,
                                                                                 candidates.norms)
    near = approx <= np.nextafter(limit.astype(np.float32), np.float32(np.inf))[:, None]
    columns = np.zeros((approx.shape[0], k), dtype=np.intp)
    fallback = []
    for row in range(approx.shape[0]):
        kept = _exact_among(query_emb[row], q_norms[row], candidates, np.flatnonzero(near[row]), k)
        if kept is None:
            fallback.append(row)
        else:
            columns[row] = kept
    if fallback:
        rows = np.array(fallback)
        columns[rows] = _exact_k(query_emb[rows], candidates, None if own is None else own[rows], k, unit, threads)
    return columns


def _approx_distances(query_emb: np.ndarray, candidates: Candidates, q_norms: np.ndarray) -> np.ndarray:
    d = query_emb @ candidates.matrix.T  # float32 product
    d *= -2.0
    d += q_norms.astype(np.float32)[:, None]
    d += candidates.norms.astype(np.float32)[None, :]
    return d


def _screen_slack(dim: int, q_norms: np.ndarray, c_norms: np.ndarray) -> np.ndarray:
    """Per query, a bound on |float32 screen distance - float64 distance| over all candidates.

    A dot product of length ``dim`` summed in any order errs by at most ``γ·Σ|x_k y_k| <=
    γ·|x||y|`` with ``γ = dim·u / (1 - dim·u)`` (u the unit roundoff), in float32 for the screen
    and in float64 for the exact value; the distance holds it twice (-2x·y). The float32 sums
    and norm roundings add at most a few roundoffs of ``|x|² + |y|² + 2|x||y|``.
    """
    def gamma(u: float) -> float:
        return dim * u / (1 - dim * u)

    u32, u64 = np.finfo(np.float32).eps / 2, np.finfo(np.float64).eps / 2
    x, y_max = np.sqrt(q_norms), np.sqrt(c_norms.max())
    cross = x * y_max
    return 1.01 * (2 * (gamma(u32) + gamma(u64)) * cross + (6 * u32 + 8 * u64) * (q_norms + c_norms.max() + 2 * cross))


SCREEN_MAX = 512  # candidates per query recomputed one by one; more -> the plain float64 path


def _exact_among(query: np.ndarray, q_norm: float, candidates: Candidates, columns: np.ndarray,
                 k: int) -> np.ndarray | None:
    """The k columns nearest in float64 among the screened ones; None on a tie at the k-th or too many."""
    if columns.size > SCREEN_MAX or columns.size < k:
        return None
    block = np.ascontiguousarray(candidates.matrix[columns], dtype=np.float64)
    d = block @ np.asarray(query, dtype=np.float64)
    d *= -2.0
    d += q_norm
    d += candidates.norms[columns]
    np.maximum(d, 0.0, out=d)
    inside = d <= np.partition(d, k - 1)[k - 1]
    return columns[inside] if inside.sum() == k else None


def _vote(neighbour_codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Majority class per row; equal counts go to the smallest class (scikit-learn's mode)."""
    n_rows = neighbour_codes.shape[0]
    flat = (np.arange(n_rows)[:, None] * n_classes + neighbour_codes).ravel()
    return np.bincount(flat, minlength=n_rows * n_classes).reshape(n_rows, n_classes).argmax(axis=1)


def _gather(units: list[Unit], unit_results: dict[str, dict], n: int) -> np.ndarray:
    expected = {u.key for u in units}
    missing, extra = sorted(expected - set(unit_results)), sorted(set(unit_results) - expected)
    if missing or extra:
        raise LibtradError(f"unit results do not match the plan (missing: {', '.join(missing) or 'none'}; "
                           f"unexpected: {', '.join(extra) or 'none'})")
    predicted = np.full(n, -1, dtype=np.int64)
    for unit in units:
        r = unit_results[unit.key]
        if not np.array_equal(np.asarray(r["rows"]), unit.queries):
            raise LibtradError(f"unit {unit.key}: its result is for other rows than the plan's")
        predicted[unit.queries] = r["predictions"]
    return predicted


def combine(unit_results: dict[str, dict], df: pd.DataFrame, options: FaultOptions | None = None) -> dict:
    """The results.json dict from every unit's result (keyed by ``Unit.key``)."""
    options = options or FaultOptions()
    units = plan(df, options)
    truth = columns_for(df)["label"]
    predicted = _gather(units, unit_results, len(df))
    present = np.unique(truth)
    names = class_names(df, options.classes)
    scores = metrics.classification_scores(truth, predicted, labels=present)
    per = scores["per_class"]
    order = np.argsort(_check_files(df), kind="stable")
    return {
        "suite": SUITE, "protocol": _protocol(df, options), "classes": [names[int(c)] for c in present],
        **{key: scores[key] for key in ("accuracy", "precision_weighted", "recall_weighted", "f1_weighted",
                                        "precision_macro", "recall_macro", "f1_macro")},
        "confusion": scores["confusion"].tolist(),
        "predictions": [names[int(p)] for p in predicted[order]],
        "per_class": {names[int(c)]: {"precision": float(per["precision"][i]), "recall": float(per["recall"][i]),
                                      "f1": float(per["f1"][i]), "support": int(per["support"][i])}
                      for i, c in enumerate(present)},
    }


def evaluate_local(df: pd.DataFrame, options: FaultOptions | None = None) -> dict:
    """plan → every unit in this process → combine (the runner's ``local`` path)."""
    import sys

    from libtrad.ray_jobs.evaluation.runner import run_suite

    return run_suite(sys.modules[__name__], df, options or FaultOptions(), local=True, progress=False).results


def write_report(results: dict, folder: Path, df=None, options=None) -> list[Path]:
    """results.md and the confusion figure (:func:`libtrad.ray_jobs.evaluation.report.write_fault_report`)."""
    from libtrad.ray_jobs.evaluation.report import write_fault_report

    return write_fault_report(results, folder)
