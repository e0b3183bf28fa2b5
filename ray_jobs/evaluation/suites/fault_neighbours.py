"""The k nearest neighbours of the siren-fault suite, picked exactly as scikit-learn's brute-force search picks them.

One concern: given a block of query rows and the candidate rows they are predicted from, which
k candidates are each query's neighbours, and the class they vote for. Which rows are queries
and candidates, the options and the scores are the suite's
(:mod:`libtrad.ray_jobs.evaluation.suites.siren_fault`, whose docstring states the protocol).

* Distances: ``|x|² - 2 x·y + |y|²`` in float64, added in scikit-learn's order
  (:func:`_squared_distances`), for one block of queries at a time against every candidate
  (the suite sizes the blocks); no n fits: in LOOCV a query's own row is left out of its block.
  For float32 embeddings a float32 product screens the candidates and the few that can be among
  the k nearest are recomputed in float64 (a rigorous rounding bound, :func:`_screen_slack`,
  decides which), so the answer is the float64 one at about half the cost (:func:`_screened_k`).
  On a GPU (``screen``: a torch device) that float32 product, the k-th screen value and the
  candidate selection run there (:func:`_near_torch`; TF32 off, so the bound holds) and only the
  few candidate columns come back; the float64 re-check and every tie rule stay the CPU's own
  numpy code, so the predictions are the CPU path's. float64 embeddings and ``siren_compat``
  stay on the numpy path (nothing to screen; SIREN's z-scores are cheap next to the product).
* Equal distances at the k-th neighbour: rows without such a tie keep their k nearest, as any
  search would; rows with one replay scikit-learn's fixed-size max-heap fed in row order, over
  chunks of 256 rows split between its OpenMP threads (:func:`_sklearn_heap_k`).
* ``siren_compat``: SIREN's own distance (per pseudo-channel z-scored Euclidean distances,
  :func:`_compat_distances`), equal averages by the lower row first.
* ``metric="cosine"``: ``1 - cosine similarity`` in float64 (:func:`cosine_distances`; per
  pseudo-channel with ``siren_compat``), the k smallest with equal distances by the lower row
  first, on the numpy path (no screen, no heap replay: no scikit-learn search to match).
* Vote: the majority class of the k neighbours, equal counts to the smallest class (:func:`vote`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from libtrad.core.errors import ParameterError
from libtrad.ray_jobs.evaluation.suites.similarity import strict_float32, unit_rows

if TYPE_CHECKING:
    from libtrad.ray_jobs.evaluation.suites.siren_fault import FaultOptions, Unit

SKLEARN_CHUNK = 256  # scikit-learn's pairwise_dist_chunk_size default: its rows per chunk
HEAP_EMPTY = float(np.finfo(np.float64).max)  # what scikit-learn fills an empty heap slot with
COMPAT_CHANNELS = 8
COMPAT_USED = 7


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


def _compat_distances(
    queries: np.ndarray, candidates: np.ndarray, own: np.ndarray | None, metric: str = "euclidean"
) -> np.ndarray:
    """SIREN's distance: per pseudo-channel z-scored Euclidean (or cosine) distances, averaged over the first 7."""
    q, c = _channels(queries), _channels(candidates)
    total = np.zeros((q.shape[0], c.shape[0]))
    for ch in range(COMPAT_USED):
        cc = np.ascontiguousarray(c[:, ch], dtype=np.float64)
        if metric == "cosine":
            d = cosine_distances(q[:, ch], cc)
        else:
            d = np.sqrt(_squared_distances(q[:, ch], cc, row_norms(cc)))
        total += _zscore_rows(d, own)
    return total / COMPAT_USED


def cosine_distances(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``1 - cosine similarity`` in float64 (an all-zero row has similarity 0 to every row, as in siren-dcase;
    SIREN adds 1e-10 to each norm instead)."""
    return 1.0 - unit_rows(queries) @ unit_rows(candidates).T


def _channels(matrix: np.ndarray) -> np.ndarray:
    n, width = matrix.shape
    if width % COMPAT_CHANNELS:
        raise ParameterError(
            "siren_compat",
            True,
            f"needs an embedding length divisible by {COMPAT_CHANNELS} (8 pseudo-channels); these have {width}",
        )
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
    return np.partition(dist, k - 1, axis=1)[:, k - 1 : k]


def lowest_index_k(dist: np.ndarray, k: int) -> np.ndarray:
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


# ----------------------------------------------------------------------------- neighbours of a query block
class Candidates:
    """The rows queries are predicted from: as given, their float64 squared norms, float64 on demand."""

    def __init__(self, matrix: np.ndarray):
        self.matrix = np.ascontiguousarray(matrix)
        self.norms = row_norms(self.matrix)
        self._wide = None
        self._on = {}

    def on(self, device):
        """The float32 matrix and float32 norms as tensors on ``device`` (copied once per unit)."""
        key = str(device)
        if key not in self._on:
            import torch

            self._on[key] = (
                torch.from_numpy(self.matrix).to(device),
                torch.from_numpy(self.norms.astype(np.float32)).to(device),
            )
        return self._on[key]

    @property
    def wide(self) -> np.ndarray:
        if self._wide is None:
            self._wide = np.ascontiguousarray(self.matrix, dtype=np.float64)
        return self._wide


def neighbours(
    unit: Unit, query_emb: np.ndarray, candidates: Candidates, queries: np.ndarray, options: FaultOptions, screen=None
) -> np.ndarray:
    """(queries, k) candidate columns of each query's k nearest; ``screen``: a torch device for the
    float32 screen (None: numpy), which changes where the screen runs, never the answer."""
    own = _self_positions(unit, queries)
    if options.siren_compat or options.metric == "cosine":
        if options.siren_compat:
            dist = _compat_distances(query_emb, candidates.matrix, own, options.metric)
        else:
            dist = cosine_distances(query_emb, candidates.matrix)
        if own is not None:
            dist[np.arange(len(queries)), own] = np.inf
        return lowest_index_k(dist, options.k)
    if query_emb.dtype == np.float32 and candidates.matrix.dtype == np.float32:
        return _screened_k(query_emb, candidates, own, options.k, unit, options.sklearn_threads, screen)
    return _exact_k(query_emb, candidates, own, options.k, unit, options.sklearn_threads)


def _exact_k(query_emb, candidates: Candidates, own, k: int, unit: Unit, threads: int) -> np.ndarray:
    dist = _squared_distances(query_emb, candidates.wide, candidates.norms)
    return _sklearn_k(dist, own, k, unit, threads)


# ----------------------------------------------------------------------------- float32 screening
def _screened_k(
    query_emb: np.ndarray, candidates: Candidates, own, k: int, unit: Unit, threads: int, screen=None
) -> np.ndarray:
    """The exact float64 answer, with most of the work done by a float32 matrix product.

    Why: the float64 product is most of the time, and float32 halves it. The float32 distances
    differ from the float64 ones by at most a rigorous bound (:func:`_screen_slack`), so every
    candidate that can be among the k nearest in float64 lies within twice that bound of the
    float32 k-th; only those are recomputed in float64, one row at a time. Rows whose float64
    k-th is tied, or with too many candidates near it, take the plain float64 path.
    """
    q_norms = row_norms(query_emb)
    slack = 2 * _screen_slack(query_emb.shape[1], q_norms, candidates.norms)
    if screen is None:
        near = _near_numpy(query_emb, candidates, q_norms, own, k, slack)
    else:
        near = _near_torch(query_emb, candidates, q_norms, own, k, slack, screen)
    columns = np.zeros((query_emb.shape[0], k), dtype=np.intp)
    fallback = []
    for row, cols in enumerate(near):
        kept = None if cols is None else _exact_among(query_emb[row], q_norms[row], candidates, cols, k)
        if kept is None:
            fallback.append(row)
        else:
            columns[row] = kept
    if fallback:
        rows = np.array(fallback)
        columns[rows] = _exact_k(query_emb[rows], candidates, None if own is None else own[rows], k, unit, threads)
    return columns


def _screen_limit(kth: np.ndarray, slack: np.ndarray) -> np.ndarray:
    """The float32 screen value up to which a candidate may be among the k nearest in float64."""
    limit = kth.astype(np.float64) + slack
    return np.nextafter(limit.astype(np.float32), np.float32(np.inf))


def _near_numpy(query_emb, candidates: Candidates, q_norms, own, k: int, slack):
    """Per query, the candidate columns the float32 screen keeps (numpy)."""
    approx = _approx_distances(query_emb, candidates, q_norms)
    if own is not None:
        approx[np.arange(approx.shape[0]), own] = np.inf
    near = approx <= _screen_limit(_kth_values(approx, k)[:, 0], slack)[:, None]
    return (np.flatnonzero(row) for row in near)


def _near_torch(query_emb, candidates: Candidates, q_norms, own, k: int, slack, device):
    """:func:`_near_numpy` with the float32 product and the selection on ``device`` (torch).

    Only the k-th screen values and the kept columns of rows with at most :data:`SCREEN_MAX` of
    them cross back; a row with more (or fewer than k) is None: the float64 path takes it.
    """
    import torch

    matrix, norms = candidates.on(device)
    with torch.no_grad(), strict_float32(device):
        q = torch.from_numpy(np.ascontiguousarray(query_emb)).to(device)
        approx = q @ matrix.T
        approx *= -2.0
        approx += torch.from_numpy(q_norms.astype(np.float32)).to(device)[:, None]
        approx += norms[None, :]
        if own is not None:
            approx[torch.arange(approx.shape[0], device=device), torch.from_numpy(own).to(device)] = float("inf")
        kth = torch.kthvalue(approx, k, dim=1).values.cpu().numpy()
        limit = torch.from_numpy(_screen_limit(kth, slack)).to(device)
        near = approx <= limit[:, None]
        counts = near.sum(dim=1)
        usable = (counts <= SCREEN_MAX) & (counts >= k)
        rows, cols = torch.nonzero(near & usable[:, None], as_tuple=True)
        rows, cols, usable = rows.cpu().numpy(), cols.cpu().numpy(), usable.cpu().numpy()
    starts = np.searchsorted(rows, np.arange(query_emb.shape[0] + 1))
    return [cols[starts[r] : starts[r + 1]] if usable[r] else None for r in range(query_emb.shape[0])]


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


def _exact_among(
    query: np.ndarray, q_norm: float, candidates: Candidates, columns: np.ndarray, k: int
) -> np.ndarray | None:
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


# ----------------------------------------------------------------------------- vote
def vote(neighbour_codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Majority class per row; equal counts go to the smallest class (scikit-learn's mode)."""
    n_rows = neighbour_codes.shape[0]
    flat = (np.arange(n_rows)[:, None] * n_classes + neighbour_codes).ravel()
    return np.bincount(flat, minlength=n_rows * n_classes).reshape(n_rows, n_classes).argmax(axis=1)
