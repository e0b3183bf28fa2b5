"""``--submission DIR``: a siren-dcase result as the files the DCASE challenge's official evaluator reads.

From a results dict (:mod:`.siren_dcase`'s ``results.json``: ``file_scores``, ``file_decisions`` and the
clips of each section in ``decisions.sections``) this writes a ``submission`` folder (format and checks:
:mod:`libtrad.folders.submission`): per machine × section of the evaluation set (2021: × domain) an
``anomaly_score_…`` file and, from 2021, a ``decision_result_…`` file, named as the year's evaluator
expects (:data:`~libtrad.ray_jobs.evaluation.suites.dcase_official.RULES`); the development set's in
``dev/`` when asked (as the baseline writes both). Every test clip is listed, labelled or not (the
evaluation set a participant scores is unlabelled). A section without a threshold (too few training
clips, a failed gamma fit) is refused by name: a submission without its decisions would be incomplete.
"""

from __future__ import annotations

from pathlib import Path

from libtrad.core.errors import LibtradError
from libtrad.folders.outputs import atomic_output
from libtrad.folders.submission import DEV_FOLDER, file_name, rows_text
from libtrad.ray_jobs.evaluation.suites.dcase_official import rule_for


def submission_files(results: dict, dev: bool = False) -> dict[str, str]:
    """``{relative path: CSV text}`` of the submission (module docstring); one LibtradError when it cannot be."""
    year = results.get("year")
    rule = rule_for(year) if isinstance(year, int) else None
    sections = (results.get("decisions") or {}).get("sections")
    if rule is None or not isinstance(sections, dict):
        raise LibtradError(
            f"results of DCASE {year}: no submission format for this year or no decisions recorded "
            "(results written before libtrad recorded them?); run libtrad evaluate siren-dcase again"
        )
    present = {key.split("/")[0] for key in sections}
    wanted = [name for name in ("eval", "dev") if name in present and (name == "eval" or dev)]
    if dev and "dev" not in present:
        raise LibtradError("--submission-dev: the embeddings have no development-set test clips (set 'dev')")
    if not wanted:
        raise LibtradError(
            "--submission: the embeddings have no evaluation-set test clips (set 'eval'); add --submission-dev "
            f"to write the development set's files (in {DEV_FOLDER}/)"
        )
    out: dict[str, str] = {}
    for key in sorted(sections):
        set_, machine, section = key.split("/")
        if set_ in wanted:
            prefix = "" if set_ == "eval" else f"{DEV_FOLDER}/"
            for name, text in _section_files(results, rule, key, machine, int(section)).items():
                out[prefix + name] = text
    return out


def _section_files(results: dict, rule, key: str, machine: str, section: int) -> dict[str, str]:
    entry = results["decisions"]["sections"][key]
    set_ = key.split("/")[0]
    if rule.decisions and entry.get("threshold") is None:
        raise LibtradError(
            f"--submission: set {set_}, machine {machine}, section {section:02d} has no decision threshold "
            f"({entry.get('problem', 'none recorded')})"
        )
    groups: dict[str | None, list[str]] = {}
    for file, domain in entry["files"]:
        if rule.name == "domain_files" and domain not in ("source", "target"):
            raise LibtradError(
                f"--submission: test clip {set_}/{machine}/{file} has no source/target domain; DCASE 2021 "
                "submits one file per domain"
            )
        groups.setdefault(domain if rule.name == "domain_files" else None, []).append(file)
    out = {}
    for domain, files in sorted(groups.items(), key=lambda item: str(item[0])):
        names = sorted(files)
        keys = [f"{set_}/{machine}/{f}" for f in names]
        out[file_name("anomaly_score", rule.name, machine, section, domain)] = rows_text(
            [(f, float(results["file_scores"][k])) for f, k in zip(names, keys)]
        )
        if rule.decisions:
            out[file_name("decision_result", rule.name, machine, section, domain)] = rows_text(
                [(f, int(results["file_decisions"][k])) for f, k in zip(names, keys)]
            )
    return out


def write_submission(results: dict, folder: str | Path, *, dev: bool = False, inputs: dict | None = None) -> Path:
    """Write the submission folder atomically (a libtrad ``submission`` folder; never over another kind)."""
    files = submission_files(results, dev)
    with atomic_output(folder, "submission", option="--submission", inputs=inputs) as tmp:
        for rel, text in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="")
    return Path(folder).expanduser().resolve()
