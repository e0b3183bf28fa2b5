"""SIREN's synthetic stand-ins (one entry point for the registry, dispatching to each family), and the
channel policy of its mono WAV corpora (DCASE, IIEE, IICA)."""

from __future__ import annotations

from pathlib import Path

from libtrad.core.channels import ChannelPolicy

MONO_WAV = ChannelPolicy(
    names=("mono",),
    reason=(
        "mono WAV files (checked when built); SIREN loads WAV files with torchaudio and would average a "
        "multichannel file to mono (siren/core/base_extractor.py)"
    ),
)


def synthesize_siren(
    out: str | Path,
    *,
    component: str,
    scale: float = 1.0,
    seed: int = 0,
    difficulty: str = "paper",
    level_db: float | None = None,
    progress: bool = True,
):
    """Write a small synthetic stand-in of one SIREN component, in its publisher's layout, to ``out``
    (``difficulty`` / ``level_db``: :mod:`libtrad.builders.difficulty`)."""
    how = {"scale": scale, "seed": seed, "difficulty": difficulty, "level_db": level_db, "progress": progress}
    if component.startswith("dcase"):
        from libtrad.builders.dcase.synth import synthesize_dcase

        return synthesize_dcase(out, year=int(component[len("dcase") :]), **how)
    from libtrad.builders.fault.synth import synthesize_fault

    return synthesize_fault(out, component=component, **how)
