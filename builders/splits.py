"""Deterministic, grouped train/test splits derived from stable hashes, not from RNG state.

A unit (a segment, or for the ``paper`` strategy a single channel file) is ranked by
``sha256(f"{seed}:{unit_key}")``: the same data and seed give the same split on every machine
and Python version, and adding a segment never moves the others.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TypeVar

STRATEGIES = ("grouped", "paper", "temporal")
T = TypeVar("T")


def stable_rank(seed: int, key: str) -> str:
    """The hex digest that orders ``key`` under ``seed``."""
    return hashlib.sha256(f"libtrad-split:{seed}:{key}".encode()).hexdigest()


def take_train(
    units: Iterable[T],
    *,
    key: Callable[[T], str],
    time: Callable[[T], tuple],
    strategy: str,
    seed: int,
    train_fraction: float,
) -> set[str]:
    """Keys of the units that go to the training side: ``round(train_fraction * n)`` of them.

    A pool of two or more units always keeps at least one unit on each side, so a small
    experiment never ends up with an evaluation split that lacks a class.

    ``grouped``/``paper`` take the units with the lowest stable hash; ``temporal`` takes the
    earliest ones by ``time`` (deployment-like: train on the past, test on the future).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"split strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train fraction must be between 0 and 1, not {train_fraction}")
    units = list(units)
    order = (lambda u: (time(u), key(u))) if strategy == "temporal" else (lambda u: stable_rank(seed, key(u)))
    ranked = sorted(units, key=order)
    n_train = round(train_fraction * len(ranked))
    if len(ranked) >= 2:
        n_train = min(max(n_train, 1), len(ranked) - 1)
    return {key(u) for u in ranked[:n_train]}


def split_pools(rows: Iterable[T], *, pool: Callable[[T], object], **kwargs) -> set[str]:
    """:func:`take_train` applied to each pool of rows separately (e.g. per experiment and label)."""
    pools: dict[object, list[T]] = defaultdict(list)
    for row in rows:
        pools[pool(row)].append(row)
    train: set[str] = set()
    for members in pools.values():
        train |= take_train(members, **kwargs)
    return train
