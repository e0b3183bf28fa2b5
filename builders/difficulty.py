"""How hard a synthetic stand-in is: ``--difficulty easy|paper|hard`` and ``--level-db``, for every stand-in.

A stand-in that any feature separates teaches nothing (every score at 100 %, two encoders tied), so
each stand-in renders its anomalies (LiB-TRAD venting, DCASE machine faults, fault signatures) at
an anomaly-to-background level in dB and with a profile of nuisances that one named difficulty
fixes:

* ``easy`` — loud, out-of-band anomalies: every baseline separates them perfectly (the stand-ins
  as they were before difficulties existed, byte for byte);
* ``paper`` (the default) — calibrated by measurement (``bench/calibrate_difficulty.py``) so that
  the baselines land in the papers' ranges on the stand-in instead of at 100 %;
* ``hard`` — anomalies far below the background: the baselines are near chance.

``level_db`` overrides the difficulty's level (keeping its profile), for a sweep. The chosen
difficulty and level are recorded in the synthetic marker, the summary and so in the card.
This module holds the one list of names and the one check of both options; each stand-in holds
its own levels (what a dB means differs between a venting hiss and a bearing defect).
"""

from __future__ import annotations

from libtrad.core.errors import ParameterError
from libtrad.core.options import OptionSpec, check_number

DIFFICULTIES = ("easy", "paper", "hard")
DEFAULT = "paper"
LEVEL_RANGE = (-80.0, 40.0)  # dB; anything beyond is silence or clipping, never a meaningful stand-in


def check_difficulty(difficulty) -> str:
    """``difficulty`` if it is one of :data:`DIFFICULTIES`, else one line naming the option and the names."""
    if difficulty not in DIFFICULTIES:
        raise ParameterError("difficulty", difficulty, f"must be one of {', '.join(DIFFICULTIES)}")
    return difficulty


def resolve_level(difficulty, level_db, levels: dict[str, float]) -> tuple[str, float]:
    """(difficulty, level in dB): ``level_db`` when given (a finite number in :data:`LEVEL_RANGE`), else
    the difficulty's own level from ``levels`` (a stand-in's ``{difficulty: dB}``)."""
    difficulty = check_difficulty(difficulty)
    if level_db is None:
        return difficulty, float(levels[difficulty])
    low, high = LEVEL_RANGE
    return difficulty, float(check_number("level_db", level_db, low=low, high=high))


def synth_options(what: str) -> tuple[OptionSpec, OptionSpec]:
    """The two options of a ``libtrad synth`` command (declared once for the library and the CLI);
    ``what`` says what the level is the level of, for the help."""
    low, high = LEVEL_RANGE
    return (
        OptionSpec(
            "difficulty",
            DEFAULT,
            "easy: every baseline separates the anomalies; paper: calibrated so "
            "the baselines land in the papers' ranges (see the card); hard: near chance.",
            kind=str,
            choices=DIFFICULTIES,
        ),
        OptionSpec(
            "level_db",
            None,
            f"{what} in dB; overrides the difficulty's level (default: the "
            "difficulty's, recorded in the marker and card).",
            low=low,
            high=high,
        ),
    )
