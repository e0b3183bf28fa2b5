"""SIREN's synthetic stand-ins: one entry point for the registry, dispatching to each family."""

from __future__ import annotations

from pathlib import Path


def synthesize_siren(out: str | Path, *, component: str, scale: float = 1.0, seed: int = 0, progress: bool = True):
    """Write a small synthetic stand-in of one SIREN component, in its publisher's layout, to ``out``."""
    if component.startswith("dcase"):
        from libtrad.builders.dcase.synth import synthesize_dcase

        return synthesize_dcase(out, year=int(component[len("dcase"):]), scale=scale, seed=seed, progress=progress)
    from libtrad.builders.fault.synth import synthesize_fault

    return synthesize_fault(out, component=component, scale=scale, seed=seed, progress=progress)
