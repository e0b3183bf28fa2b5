"""The MIMII paper's evaluation split: per SNR × machine type × machine ID, every anomalous clip and
as many normal clips are tested, every other normal clip trains.

The paper (Purohit et al. 2019) trains an autoencoder per machine on normal sounds only and tests
it on the anomalous segments plus as many normal segments, AUC per machine type, ID and SNR.
Hitachi's baseline code (``mimii_baseline/baseline.py``, ``dataset_generator``) is the published
form of that split: within ``<snr>/<machine>/id_XX/`` the normal files sorted by name, the first N
(N = the number of anomalous files) go to the test side with every anomalous file, the rest train.
Two strategies:

* ``baseline`` (the default): exactly that, so the rows are those behind the baseline's AUCs.
* ``random``: which N normal clips are tested is drawn with a seed instead: the N with the lowest
  stable hash of (machine, ID, file name) and the seed (:func:`libtrad.builders.splits.stable_rank`,
  not an RNG: the same on every machine). The hash leaves the SNR out, so a recording lands on the
  same side at -6, 0 and 6 dB (MIMII mixes one machine recording with factory noise at each SNR).

Every group keeps at least one normal clip for training: a group with no more normal clips than
anomalous ones tests all but one of them. Only a cut-down folder does that: the Zenodo record
gives each model 5000 to 10000 s of normal and about 1000 s of anomalous sound. A group without
anomalous clips trains on all of its normal ones.
"""

from __future__ import annotations

from collections import defaultdict

from libtrad.builders.mimii.layout import Clip
from libtrad.builders.splits import stable_rank

STRATEGIES = ("baseline", "random")
SPLITS = ("train", "test")


def assign_splits(clips: list[Clip], strategy: str = "baseline", seed: int = 0) -> dict[str, str]:
    """``{clip.file: "train" | "test"}`` for every clip, per the strategy above."""
    if strategy not in STRATEGIES:
        raise ValueError(f"MIMII split strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    groups: dict[tuple, dict[str, list[Clip]]] = defaultdict(lambda: {"normal": [], "abnormal": []})
    for clip in clips:
        groups[clip.group][clip.label].append(clip)
    out: dict[str, str] = {}
    for members in groups.values():
        normals, anomalies = members["normal"], members["abnormal"]
        if strategy == "baseline":
            ranked = sorted(normals, key=lambda c: c.name)
        else:
            ranked = sorted(
                normals, key=lambda c: (stable_rank(seed, f"{c.machine}/id_{c.machine_id:02d}/{c.name}"), c.name)
            )
        tested = min(len(anomalies), max(len(normals) - 1, 0))
        out.update({c.file: "test" for c in (*ranked[:tested], *anomalies)})
        out.update({c.file: "train" for c in ranked[tested:]})
    return out
