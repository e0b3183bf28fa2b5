"""Similarity scoring the suites share: unit rows, memory-bank scores and the certified GPU screen.

siren-dcase and mimii score test clips against memory banks (:func:`memory_scores`; SIREN's default
is cosine 1-NN, :func:`cosine_scores`), lib-trad's and X-ARES's kNN and siren-fault's neighbour search
(:mod:`.fault_neighbours`) use the same unit rows and float32 screens. Every screen on a GPU is
certified against the float64 CPU reference: :func:`screened_cosine_scores` recomputes in float64
every candidate within a rigorous rounding bound of the float32 maximum, :func:`order_is_certain`
says when the scores' order (all a rank metric sees) is the CPU's, and :func:`strict_float32` keeps
TF32 off while a screen runs. :func:`screen_device` is where a unit resolves its ``device``.

Memory-bank options (``similarity``, ``aggregation``, ``k``, ``domain_strategy``, ``kmeans``,
``kmeans_threshold``) are read from any options object that has them: siren-dcase's
:class:`~libtrad.ray_jobs.evaluation.suites.siren_dcase.DcaseOptions` (mimii builds one).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from libtrad.core.devices import parse_device, resolve_device
from libtrad.ray_jobs.evaluation import metrics

KMEANS_SEED = 42  # SIREN's KMeans(random_state=42)
KMEANS_INIT_RUNS = 1  # k-means++ runs; scikit-learn's n_init="auto" for k-means++ (what SIREN gets from a current one)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
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
    t = unit_rows(test)
    per_bank = [1.0 - (t @ unit_rows(bank).T).max(axis=1) for bank in banks if len(bank)]
    return COMBINE[combine](per_bank, axis=0)


BLOCK_ELEMENTS = 2**23  # float64 values of one block of similarities (or of Euclidean differences): 64 MiB


def similarities(test: np.ndarray, bank: np.ndarray, similarity: str) -> np.ndarray:
    """(test rows, bank rows) float64 similarities: cosine, or minus the Euclidean distance (SIREN's).

    The distance is the norm of the difference itself (not ``|x|² - 2x·y + |y|²``, which loses
    the small distances to cancellation), over blocks of test rows of bounded size.
    """
    if similarity == "cosine":
        return unit_rows(test) @ unit_rows(bank).T
    t, b = np.asarray(test, dtype=np.float64), np.asarray(bank, dtype=np.float64)
    out = np.empty((len(t), len(b)))
    step = max(1, BLOCK_ELEMENTS // max(1, b.size))
    for start in range(0, len(t), step):
        out[start : start + step] = -np.linalg.norm(t[start : start + step, None, :] - b[None, :, :], axis=2)
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


def reduce_bank(bank: np.ndarray, options) -> np.ndarray:
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
        model = KMeans(n_clusters=min(options.kmeans, distinct), random_state=KMEANS_SEED, n_init=KMEANS_INIT_RUNS).fit(
            rows
        )
    return model.cluster_centers_


def screenable(options) -> bool:
    """Whether the GPU screen computes these scores: cosine 1-NN, no k-means, min or max over domains
    (the screen's bound covers a maximum and a choice between banks, not a mean)."""
    return (options.similarity, options.aggregation, options.kmeans) == (
        "cosine",
        "max",
        None,
    ) and options.domain_strategy in ("min", "max")


def memory_scores(test: np.ndarray, banks: list[np.ndarray], options, screen=None) -> np.ndarray:
    """Each test row's anomaly score against the section's banks (one per domain), float64.

    SIREN's default (cosine, max, min over domains, no k-means) is :func:`cosine_scores` itself;
    otherwise each bank is reduced (:func:`reduce_bank`), scored (:func:`similarities`,
    :func:`aggregate`) and the per-bank scores combined by ``domain_strategy``.
    """
    if screenable(options):
        return cosine_scores(test, banks, screen, options.domain_strategy)
    per_bank = [
        aggregate(similarities(test, reduce_bank(bank, options), options.similarity), options.aggregation, options.k)
        for bank in banks
        if len(bank)
    ]
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

    t = unit_rows(test)
    dim = t.shape[1]
    tol = 1.01 * (2 * (_gamma(dim, U32) * (1 + U32) ** 2 + 2 * U32 + U32**2) + 2 * _gamma(dim, U64) * 1.01)
    per_bank = []
    with torch.no_grad(), strict_float32(device):
        t64 = torch.from_numpy(t).to(device)
        t32 = t64.float()
        for bank in banks:
            if not len(bank):
                continue
            b64 = torch.from_numpy(unit_rows(bank)).to(device)
            approx = t32 @ b64.float().T
            top = approx.max(dim=1).values.double()
            floor = torch.nextafter((top - tol).float(), torch.tensor(-float("inf"), device=device))
            rows, cols = torch.nonzero(approx >= floor[:, None], as_tuple=True)
            best = torch.full((t.shape[0],), -float("inf"), dtype=torch.float64, device=device)
            step = max(1, PAIR_ELEMENTS // dim)
            for start in range(0, rows.numel(), step):
                r, c = rows[start : start + step], cols[start : start + step]
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


def group_metric(kind: str, labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    """AUC or pAUC; 0.0 for a one-class group (SIREN)."""
    if labels.size == 0 or labels.min() == labels.max():
        return 0.0
    return metrics.roc_auc(labels, scores) if kind == "auc" else metrics.partial_auc(labels, scores, max_fpr)


@contextmanager
def strict_float32(device):
    """float32 products in full float32 on ``device``: TF32 (10-bit mantissa) would break the rounding
    bounds the screens rely on, so it is off here whatever the process set, and restored after."""
    import torch

    if getattr(device, "type", str(device)) != "cuda":
        yield
        return
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def screen_device(device: str):
    """The torch device the float32 screens run on for ``device``: None (numpy) on the CPU.

    Resolved here, where the unit runs (a Ray task on its node, with the GPU Ray gave it); a
    ``cuda`` the node lacks is the error :func:`libtrad.core.devices.resolve_device` names.
    """
    if parse_device(device).kind == "cpu":
        return None  # no torch import for an explicit CPU run
    resolved = resolve_device(device)
    return resolved if resolved.type == "cuda" else None
