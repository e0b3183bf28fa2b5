"""The DCASE Task 2 evaluation ground truth: parsing the lists, and which list a build uses.

A list (``eval_data_list_YYYY_converted.csv``) has no header; a one-field row names a machine
type and the rows after it are ``test_file,reference_file,label`` (1 = anomaly: SIREN's converted
form), or ``test_file,reference_file`` with a labelled reference name (the organisers' own
``eval_data_list_YYYY.csv`` in their baseline repository: the label is the name's). The test file
is the published (unlabelled) name of an evaluation test clip; the reference file is the same
clip named with its label, domain and attributes, in a form that changes from year to year
(2025: ``section_00_target_0001.wav``). 2024 and 2025 use CRLF line endings.

Precedence: the ``eval_list`` build option, then the list in the user's evaluation folder,
then the copy shipped with libtrad (``data/*.csv.gz``), so evaluation sets are labelled even
when the folder lacks the CSV. DCASE 2026's ground truth was not published when this was written:
libtrad ships none, so its evaluation test clips are labelled only by a list in the folder or given
with ``--eval-list`` (read in 2025's format; either reference form is accepted). Every list is
checked the same way; a malformed one stops the build with one line naming the file, the line and what is wrong.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from libtrad.builders.audio_io import safe_text
from libtrad.builders.dcase.layout import EVAL_LIST_NAME, parse_eval_test_name, parse_reference
from libtrad.builders.dcase.years import SPECS
from libtrad.builders.scan import read_text_file
from libtrad.core.errors import LibtradError

DATA_DIR = Path(__file__).resolve().parent / "data"
LABELS = ("normal", "anomaly")  # list label 0 / 1, and the ClassLabel order of the exports
TOTALS = {
    2020: (7103, 4544),
    2021: (8635, 4329),
    2022: (4200, 2100),
    2023: (1400, 629),
    2024: (1800, 900),
    2025: (1600, 800),
}  # (rows, anomalies) of the published lists, checked by the tests; DCASE 2026: none shipped until published


@dataclass(frozen=True)
class Truth:
    """One evaluation test clip's ground truth."""

    machine: str
    file: str
    reference: str
    label: int  # 0 normal, 1 anomaly
    section: int
    domain: str | None
    attributes: str | None


@dataclass(frozen=True)
class GroundTruth:
    """A parsed list and where it came from (for the manifest and the card)."""

    year: int
    origin: str  # "eval_list option", "data folder", "libtrad package"
    path: str  # shown in the manifest: relative to the data folder, absolute, or the package resource
    sha256: str  # of the CSV bytes (for the package copy: of the decompressed CSV)
    size: int
    rows: dict[tuple[str, str], Truth]

    def get(self, machine: str, file: str) -> Truth | None:
        return self.rows.get((machine, file))

    @property
    def anomalies(self) -> int:
        return sum(t.label for t in self.rows.values())


def packaged_path(year: int) -> Path:
    return DATA_DIR / f"{EVAL_LIST_NAME.format(year=year)}.gz"


def packaged_available(year: int) -> bool:
    """Whether libtrad ships ``year``'s list (every year whose ground truth was published: :data:`TOTALS`)."""
    return year in TOTALS and packaged_path(year).is_file()


def packaged_bytes(year: int) -> bytes:
    """The shipped list's CSV bytes (decompressed)."""
    path = packaged_path(year)
    try:
        return gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:  # a broken installation, not a user mistake
        raise RuntimeError(f"libtrad's packaged DCASE {year} ground truth {path} is unreadable ({exc})") from None


def load_packaged(year: int) -> GroundTruth:
    data = packaged_bytes(year)
    where = f"libtrad/builders/dcase/data/{packaged_path(year).name}"
    rows = parse_eval_list(data.decode("utf-8"), year, where)
    return GroundTruth(year, "libtrad package", where, hashlib.sha256(data).hexdigest(), len(data), rows)


def load_file(path: Path, year: int, origin: str, shown: str) -> GroundTruth:
    """A list file given by the user (option or data folder); ``shown`` names it in messages."""
    text = read_text_file(path)
    if text is None:
        raise LibtradError(f"{safe_text(shown)}: no such file")
    data = path.read_bytes()
    rows = parse_eval_list(text, year, shown)
    return GroundTruth(year, origin, shown, hashlib.sha256(data).hexdigest(), len(data), rows)


def parse_eval_list(text: str, year: int, where: str) -> dict[tuple[str, str], Truth]:
    """{(machine, test file): Truth} of one list, or a LibtradError naming ``where`` and the line."""
    machines = SPECS[year].eval_machines
    rows: dict[tuple[str, str], Truth] = {}
    machine: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        fields = [f.strip() for f in line.split(",")]

        def fail(problem: str) -> LibtradError:
            return LibtradError(f"{safe_text(where)} line {number}: {problem}")  # noqa: B023

        if fields == [""]:
            continue
        if len(fields) == 1:
            if fields[0] not in machines:
                raise fail(
                    f"{safe_text(fields[0])!r} is not a DCASE {year} evaluation machine type ({', '.join(machines)})"
                )
            machine = fields[0]
            continue
        if len(fields) not in (2, 3):
            raise fail(
                f"expected a machine type, test_file,reference_file,label or test_file,reference_file; found "
                f"{len(fields)} fields"
            )
        if machine is None:
            raise fail("a clip row before any machine-type row")
        truth = _truth(year, machine, *fields, fail=fail)
        if (machine, truth.file) in rows:
            raise fail(f"{machine}/{truth.file} is listed twice")
        rows[(machine, truth.file)] = truth
    if not rows:
        raise LibtradError(f"{safe_text(where)}: holds no test_file,reference_file,label rows")
    return rows


def _truth(year: int, machine: str, test_file: str, reference: str, label: str | None = None, *, fail) -> Truth:
    """One row's ground truth; ``label`` None: the organisers' two-column form, the label read from the
    (then necessarily labelled) reference name."""
    clip = parse_eval_test_name(year, test_file)
    if clip is None:
        raise fail(f"{safe_text(test_file)!r} is not a DCASE {year} evaluation test file name")
    ref = parse_reference(year, reference)
    if ref is None:
        raise fail(f"{safe_text(reference)!r} is not a reference name of DCASE {year}")
    if label is None:
        if ref.label is None:
            raise fail(
                f"{safe_text(reference)!r} names no label, and the row gives none (test_file,reference_file,label)"
            )
        label = str(LABELS.index(ref.label))
    if label not in ("0", "1"):
        raise fail(f"label {safe_text(label)!r} is not 0 (normal) or 1 (anomaly)")
    value = int(label)
    if ref.label is not None and ref.label != LABELS[value]:
        raise fail(f"label {label} contradicts the reference name {reference}")
    if ref.section != clip.section:
        raise fail(f"{test_file} and {reference} name different sections")
    if clip.domain is not None and ref.domain != clip.domain:
        raise fail(f"{test_file} and {reference} name different domains")
    if ref.split not in (None, "test"):
        raise fail(f"the reference {reference} names a {ref.split} clip")
    return Truth(machine, test_file, reference, value, clip.section, ref.domain, ref.attributes)
