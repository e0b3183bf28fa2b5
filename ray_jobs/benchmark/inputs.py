"""Where ``libtrad benchmark`` finds each component's data.

``--data-root DIR``: ``DIR/<component>/`` is either the raw folder as its publisher distributes it (or a
``libtrad synth`` stand-in of it), built into ``OUT/datasets/<component>/`` by the build stage, or a
dataset libtrad already built (its marker says ``dataset``), used as it is. A component without its
folder is *missing*: one line, and a gap in the table. Anything else in DIR that is not a component of
the suite is named in one note and left alone.

``--hub SOURCE``: built datasets only, nothing is built. SOURCE is a local folder holding
``<component>/`` built datasets (e.g. Hub snapshots downloaded beforehand), or a Hub namespace: the
component's dataset is then ``SOURCE/<component>`` on the Hub (``libtrad publish dataset`` under its
component name), read at one resolved commit by ``embed``; one that cannot be resolved is reported as
that component's failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from libtrad.core.console import note
from libtrad.core.errors import ParameterError
from libtrad.folders.marker import marker_kind


@dataclass(frozen=True)
class Found:
    """A component's data: ``raw`` (to build), ``built`` (a local built dataset) or ``hub`` (a Hub id)."""

    component: str
    kind: str
    location: str

    def record(self) -> dict:
        return {"kind": self.kind, "location": self.location}


def check_sources(data_root: str | Path | None, hub: str | None) -> None:
    """Exactly one of ``--data-root`` and ``--hub``; a data root must be a folder."""
    if (data_root is None) == (hub is None):
        raise ParameterError("data_root", data_root, "give exactly one of --data-root DIR and --hub SOURCE")
    if data_root is not None and not Path(data_root).expanduser().is_dir():
        raise ParameterError("data_root", str(data_root), "no such folder")


def find_component(name: str, data_root: str | Path | None, hub: str | None) -> Found | None:
    """``name``'s data, or None where it is missing."""
    if data_root is not None:
        folder = Path(data_root).expanduser().resolve() / name
        if not folder.is_dir():
            return None
        folder = folder.resolve()  # a link to the corpus where it lies: read (and listed) there
        return Found(name, "built" if marker_kind(folder) == "dataset" else "raw", str(folder))
    local = Path(str(hub)).expanduser()
    if local.is_dir():
        folder = local.resolve() / name
        return Found(name, "built", str(folder)) if folder.is_dir() else None
    return Found(name, "hub", f"{str(hub).rstrip('/')}/{name}")


def note_strays(data_root: str | Path | None, names) -> None:
    """One note naming the folders of ``data_root`` that are no component of the suite (left alone)."""
    if data_root is None:
        return
    root = Path(data_root).expanduser()
    strays = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in names)
    if strays:
        note(f"{root}: {', '.join(strays)}: not a component of this suite; not read")
