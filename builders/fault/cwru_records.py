"""CWRU's record table: what each published record is (end, fault, size, position, load, its variables),
and which record a file's name and folders point to.

The Bearing Data Center publishes one page per record type saying what each numbered file holds; that
table is :data:`RECORDS`, read from the package data (``data/cwru_records.csv``, :mod:`.tables`), with
:data:`BY_LABEL` the same records by what they are. :func:`fault_record` and :func:`normal_record` turn a
file name (with what its folders say) into the table's record, or a :class:`~.common.BadName` saying
how the path and the table disagree; :mod:`libtrad.builders.fault.cwru` walks the folders with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from libtrad.builders.fault.common import BadName
from libtrad.builders.fault.tables import optional_int, read_table

ENDS = {"DE": "drive-end", "FE": "fan-end"}
TOP = {"DE": "12k_Drive_End_Bearing_Fault_Data", "FE": "12k_Fan_End_Bearing_Fault_Data"}
TABLE = "cwru_records.csv"
POSITIONS = ("3", "6", "12")
# Only ASCII: \d would take other scripts' digits.
NUMBERED = re.compile(r"^(?P<number>[0-9]+)(?:@(?P<position>[0-9]+))?(?:_(?P<load>[0-9]+))?\.mat$", re.ASCII)
LABELLED = re.compile(
    r"^(?P<fault>IR|B|OR)(?P<diameter>[0-9]{3})(?:@(?P<position>[0-9]+))?_(?P<load>[0-9]+)\.mat$", re.ASCII
)
NORMAL = re.compile(r"^(?:(?P<number>[0-9]+)(?:_Normal)?|Normal)(?:_(?P<load>[0-9]+))?\.mat$", re.ASCII)


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


# --------------------------------------------------------------------------- a file's name -> its record
def fault_record(name: str, end: str, fault: str, diameter: int, folder_position: str | None) -> Record | None:
    """The table's record for a fault file, or BadName saying how the path and the table disagree (None: no rule)."""
    m = NUMBERED.match(name) or LABELLED.match(name)
    if m is None:
        return None
    parts = m.groupdict()
    if parts.get("fault") and (parts["fault"], int(parts["diameter"])) != (fault, diameter):
        raise BadName(f"its name says {parts['fault']}{parts['diameter']} but it lies in {fault}/{diameter:03d}/")
    position = parts["position"]
    if position is not None and position not in POSITIONS:
        raise BadName(f"outer-race position @{position} is not one of @3, @6, @12")
    if folder_position and position and folder_position != position:
        raise BadName(f"its name says @{position} but it lies in @{folder_position}/")
    position = folder_position or position
    if position and fault != "OR":
        raise BadName(f"a load-zone position (@{position}) belongs to outer-race (OR/) files only")
    load = _load(parts["load"])
    if parts.get("number") is not None:
        return agreeing_record(int(parts["number"]), (end, fault, diameter, position, load))
    if fault == "OR" and position is None:
        raise BadName("outer-race file without a load-zone position (@3, @6 or @12 in its folder or name)")
    record = BY_LABEL.get((end, fault, diameter, position, load))
    if record is None:
        raise BadName(
            f"the Data Center's record table has no {describe(end, fault, diameter, position, load)} "
            "record (12 kHz data)"
        )
    return record


def normal_record(name: str) -> Record | None:
    m = NORMAL.match(name)
    if m is None:
        return None
    load = _load(m["load"])
    if m["number"] is not None:
        return agreeing_record(int(m["number"]), (None, None, None, None, load))
    if load is None:
        raise BadName("names neither a record number nor a motor load (e.g. 97_Normal_0.mat or Normal_0.mat)")
    return BY_LABEL[(None, None, None, None, load)]


def agreeing_record(number: int, claim: tuple) -> Record:
    """Record ``number`` of the table if the path's claim (end, fault, diameter, position, load) agrees with it;
    a position or load the path does not state is the table's."""
    record = RECORDS.get(number)
    if record is None:
        raise BadName(
            f"record {number} is not in the Data Center's record table of 12 kHz fault and normal-baseline "
            "records (48 kHz drive-end records belong in 48k_Drive_End_Bearing_Fault_Data/, not read)"
        )
    end, fault, diameter, position, load = claim
    table = (record.end, record.fault, record.diameter, record.position, record.load)
    stated = (
        end,
        fault,
        diameter,
        position if position is not None else record.position,
        load if load is not None else record.load,
    )
    if stated != table:
        said = describe(end, fault, diameter, position, load)
        raise BadName(
            f"record {number} is {record.describe()} in the Data Center's record table ({record.place}), "
            f"but its path says {said}"
        )
    return record


def _load(text: str | None) -> int | None:
    if text is None:
        return None
    if int(text) > 3:
        raise BadName(f"motor load {text} hp is not one of 0-3")
    return int(text)
