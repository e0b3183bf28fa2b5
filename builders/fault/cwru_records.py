"""CWRU's record table: what each published record is (end, fault, size, position, load, its variables).

The Bearing Data Center publishes one page per record type saying what each numbered file holds; that
table is :data:`RECORDS`, read from the package data (``data/cwru_records.csv``, :mod:`.tables`), with
:data:`BY_LABEL` the same records by what they are. :mod:`libtrad.builders.fault.cwru` reads files by it.
"""

from __future__ import annotations

from dataclasses import dataclass

from libtrad.builders.fault.tables import optional_int, read_table

ENDS = {"DE": "drive-end", "FE": "fan-end"}
TOP = {"DE": "12k_Drive_End_Bearing_Fault_Data", "FE": "12k_Fan_End_Bearing_Fault_Data"}
TABLE = "cwru_records.csv"


@dataclass(frozen=True)
class Record:
    """One row of the Data Center's record table (``data/cwru_records.csv``)."""

    number: int
    end: str | None  # DE, FE; None for the normal baseline
    fault: str | None  # IR, B, OR; None for the normal baseline
    diameter: int | None  # mils
    position: str | None  # "3", "6", "12": outer race only
    load: int  # hp
    approx_rpm: int
    variable: str  # the prefix of the file's variables: X105, X056 (record 3001) ...
    channels: tuple[str, ...]  # what the published file holds
    rpm_value: bool  # whether it holds <variable>RPM
    checked: str  # "file": read from a copy of the published file; "documentation": pages and loaders only
    note: str

    @property
    def config(self) -> str:
        return "normal" if self.fault is None else "faults"

    @property
    def label(self) -> str:
        if self.fault is None:
            return "normal"
        return f"{self.end}_{self.fault}" + (f"@{self.position}" if self.position else "")

    @property
    def place(self) -> str:
        """Its folder in the numbered tree (the ``CWRU-dataset`` arrangement puts drive-end OR 014 @6 files, named
        ``197@6_0.mat``, in ``OR/014/`` itself: a position in the name does for the ``@`` folder)."""
        if self.fault is None:
            return "Normal/"
        return f"{TOP[self.end]}/{self.fault}/{self.diameter:03d}/" + (f"@{self.position}/" if self.position else "")

    def describe(self) -> str:
        return describe(self.end, self.fault, self.diameter, self.position, self.load)


def describe(end: str | None, fault: str | None, diameter: int | None, position: str | None, load: int | None) -> str:
    """What a record is, or what a path says it is: "drive-end OR 021 @6 at 0 hp", "normal baseline at 2 hp"."""
    what = (
        "normal baseline"
        if fault is None
        else f"{ENDS[end]} {fault} {diameter:03d}" + (f" @{position}" if position else "")
    )
    return what + (f" at {load} hp" if load is not None else "")


def _records() -> dict[int, Record]:
    records = {}
    for row in read_table(TABLE):
        normal = row["fault"] == "normal"
        record = Record(
            int(row["record"]),
            row["end"] or None,
            None if normal else row["fault"],
            optional_int(row["diameter_mils"]),
            row["position"] or None,
            int(row["load_hp"]),
            int(row["approx_rpm"]),
            row["variable"],
            tuple(row["channels"].split()),
            row["rpm_value"] == "yes",
            row["checked"],
            row["note"],
        )
        records[record.number] = record
    return records


RECORDS: dict[int, Record] = _records()
BY_LABEL: dict[tuple, Record] = {(r.end, r.fault, r.diameter, r.position, r.load): r for r in RECORDS.values()}
