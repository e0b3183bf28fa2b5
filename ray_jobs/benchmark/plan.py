"""What ``libtrad benchmark`` runs per component: the papers' protocols, written down once.

A *suite* is the set of components of one paper's table and the published tables its leaderboard puts
beside the measured row:

* ``siren`` — ECHO's Table 2 (SIREN), with Table 1's protocol per component: DCASE 2020–2025, the
  ``siren-dcase`` suite with SIREN's memory-bank defaults (its KNN, per year); CWRU (config ``faults``,
  the drive-end channel of its channel policy), IIEE, MAFAULDA by leave-one-out and IICA by its 5 folds
  (the ``fold`` column the builder writes: SIREN's ``StratifiedKFold(5, shuffle, random_state=1)`` made
  explicit), all ``siren-fault`` with SIREN's KNN (k = 5, Euclidean). MAFAULDA fills two columns from two
  embeddings of the same dataset: *sound* from the microphone alone, *vibration* from the six
  accelerometers (SIREN embeds each channel and concatenates them, channel-major, as ``embed``'s
  ``concat``). The other SIREN fault corpora libtrad builds (Paderborn, XJTU-SY, MFPT, SEU, JNU) are not in
  Table 2: they are run (leave-one-out, SIREN's KNN) only when their folder is there or ``--components``
  names them, and keep columns of their own after the paper's.
* ``lib-trad`` — LiB-TRAD's Table 3: the ``lib-trad`` dataset's ``all`` config embedded, every experiment
  scored unsupervised (train on the train split's normal segments, test on the rest; the Mahalanobis
  scorer is the paper's, 1-NN beside it), trained attention auto-encoders attached when given.
* ``all`` — both.

Each component's jobs: one or more *embeddings* (config, channels) and one evaluation per embeddings
folder. The channels are always written out (never left to a default that could change), so the
paper's column a result lands in (:mod:`libtrad.ray_jobs.evaluation.paper_columns`) follows from what
was run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from libtrad.core.errors import ParameterError
from libtrad.ray_jobs.evaluation.paper_columns import ACCELEROMETERS, DCASE_YEARS


@dataclass(frozen=True)
class Job:
    """One embeddings folder of a component and the evaluation run on it."""

    name: str  # folder name under embeddings/ and results/ (the component, or component-variant)
    component: str
    config: str | None  # None: the dataset's default config
    channels: str | None  # --channels text; None: the dataset's channel policy (written out where it matters)
    suite: str  # the evaluate suite
    options: dict = field(default_factory=dict)  # the suite's options (the protocol)


@dataclass(frozen=True)
class Component:
    """A component of a suite: the family it is built by, and its jobs."""

    name: str
    family: str  # the builders' registry entry (siren, lib-trad)
    jobs: tuple[Job, ...]
    paper: bool = True  # a column of the paper's table (else run only when present or asked for)


SIREN_KNN = {"k": 5, "metric": "euclidean"}


def _dcase(year: int) -> Component:
    name = f"dcase{year}"
    return Component(name, "siren", (Job(name, name, None, None, "siren-dcase"),))


def _fault(name: str, protocol: str, config: str | None = None, paper: bool = True) -> Component:
    job = Job(name, name, config, None, "siren-fault", {"protocol": protocol, **SIREN_KNN})
    return Component(name, "siren", (job,), paper)


MAFAULDA = Component(
    "mafaulda",
    "siren",
    (
        Job("mafaulda-sound", "mafaulda", None, "microphone", "siren-fault", {"protocol": "loocv", **SIREN_KNN}),
        Job(
            "mafaulda-vibration",
            "mafaulda",
            None,
            ",".join(ACCELEROMETERS),
            "siren-fault",
            {"protocol": "loocv", **SIREN_KNN},
        ),
    ),
)
SIREN_COMPONENTS: tuple[Component, ...] = (
    *(_dcase(year) for year in DCASE_YEARS),
    _fault("iiee", "loocv"),
    _fault("iica", "kfold"),
    _fault("cwru", "loocv", config="faults"),
    MAFAULDA,
    *(_fault(name, "loocv", paper=False) for name in ("paderborn", "xjtu-sy", "mfpt", "seu", "jnu")),
)
LIB_TRAD_COMPONENTS: tuple[Component, ...] = (
    Component("lib-trad", "lib-trad", (Job("lib-trad", "lib-trad", "all", None, "lib-trad"),)),
)


@dataclass(frozen=True)
class Suite:
    name: str
    components: tuple[Component, ...]
    reference: tuple[str, ...]  # published tables (reference_rows.TABLES)
    diff_against: str  # the published row every measured row is compared with, cell by cell


SUITES = {
    "siren": Suite("siren", SIREN_COMPONENTS, ("echo-table2",), "echo-table2:ECHO Small"),
    "lib-trad": Suite("lib-trad", LIB_TRAD_COMPONENTS, ("lib-trad-table3",), "lib-trad-table3:Proposed"),
    "all": Suite(
        "all",
        SIREN_COMPONENTS + LIB_TRAD_COMPONENTS,
        ("echo-table2", "lib-trad-table3"),
        "echo-table2:ECHO Small",
    ),
}


def suite(name: str) -> Suite:
    if name not in SUITES:
        raise ParameterError("suite", name, f"must be one of {', '.join(SUITES)}")
    return SUITES[name]


def pick_components(chosen: Suite, names: tuple[str, ...] | None, present) -> list[Component]:
    """The components to run, in the suite's order: ``names`` (``--components``; each must be the suite's), else
    the paper's components and any other the inputs hold (``present(name)``)."""
    known = {c.name: c for c in chosen.components}
    if names:
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ParameterError(
                "components", ",".join(unknown), f"not a component of suite {chosen.name}; it has {', '.join(known)}"
            )
        return [c for c in chosen.components if c.name in names]
    return [c for c in chosen.components if c.paper or present(c.name)]
