"""SIREN's four fault-diagnosis components (``libtrad build siren --component cwru|mafaulda|iiee|iica``).

Each is a :class:`~libtrad.builders.fault.base.FaultComponent` over its layout; what differs is
data: the card text (source, license, protocol, column meanings) and the citation.
"""

from __future__ import annotations

from libtrad.builders.fault import cwru, iica, iiee, mafaulda
from libtrad.builders.fault.base import CardText, FaultComponent

SIGNALS = {
    "signals": "the file's channels as float32, channels × samples (`ds.with_format(\"numpy\")` gives an ndarray)",
    "channels": "the name of each row of `signals`",
    "sampling_rate": "samples per second of `signals`",
}
COMMON = {
    "label": "the class (see the table above)",
    "file": "path of the raw file, relative to the publisher's root folder",
    "sha256": "SHA-256 of that raw file",
}

CWRU_CITATION = r"""@misc{cwru_bearing_data_center,
  author       = {{Case Western Reserve University Bearing Data Center}},
  title        = {Bearing Data Center: Seeded Fault Test Data},
  howpublished = {\url{https://engineering.case.edu/bearingdatacenter}}
}
@article{smith2015cwru,
  author  = {Smith, Wade A. and Randall, Robert B.},
  title   = {Rolling element bearing diagnostics using the {Case Western Reserve University} data: A benchmark study},
  journal = {Mechanical Systems and Signal Processing},
  volume  = {64--65},
  pages   = {100--131},
  year    = {2015},
  doi     = {10.1016/j.ymssp.2015.04.021}
}"""

MAFAULDA_CITATION = r"""@misc{mafaulda,
  author       = {{Signals, Multimedia, and Telecommunications Laboratory, Universidade Federal do Rio de Janeiro}},
  title        = {{MAFAULDA}: Machinery Fault Database},
  howpublished = {\url{https://www02.smt.ufrj.br/~offshore/mfs/page_01.html}}
}
@inproceedings{ribeiro2017similarity,
  author    = {Ribeiro, Felipe M. L. and Marins, Matheus A. and Netto, Sergio L. and da Silva, Eduardo A. B.},
  title     = {Rotating machinery fault diagnosis using similarity-based models},
  booktitle = {XXXV Simp{\'o}sio Brasileiro de Telecomunica{\c{c}}{\~o}es e Processamento de Sinais (SBrT 2017)},
  year      = {2017}
}"""

IIEE_CITATION = r"""@inproceedings{grollmisch2019sounding,
  author    = {Grollmisch, Sascha and Abe{\ss}er, Jakob and Liebetrau, Judith and Lukashevich, Hanna},
  title     = {Sounding Industry: Challenges and Datasets for Industrial Sound Analysis},
  booktitle = {Proceedings of the 27th European Signal Processing Conference (EUSIPCO)},
  year      = {2019}
}"""

IICA_CITATION = r"""@inproceedings{johnson2020compressed,
  author    = {Johnson, David S. and Grollmisch, Sascha},
  title     = {Compressed Air Leakage Detection Using Acoustic Emissions with Neural Networks},
  booktitle = {Proceedings of INTER-NOISE 2020},
  year      = {2020}
}"""

ZENODO_LICENSE = ("as stated on the Zenodo record (Fraunhofer IDMT publishes its ISA datasets under a Creative "
                  "Commons license; check the record's terms before redistributing)")

CWRU = FaultComponent(
    "cwru", "CWRU Bearing", cwru.LAYOUT,
    CardText(
        source="Case Western Reserve University (CWRU) Bearing Data Center, seeded-fault test data",
        protocol_summary="leave-one-out cross-validation over the 10 classes of `faults` (SIREN --loocv)",
        license_text="none stated: the data center offers the files for free download; cite it and the "
                     "benchmark study below",
        downloads=cwru.DOWNLOADS,
        acquisition=(
            "A 2-hp induction motor drives a shaft on SKF deep-groove ball bearings; single-point faults of "
            "7 to 28 mils (0.007–0.028 in) were seeded by electro-discharge machining into the inner race, a "
            "ball or the outer race of the drive-end or the fan-end bearing, the outer race at 3, 6 (centred in "
            "the load zone) or 12 o'clock. Accelerometers on the drive end (DE), the fan end (FE) and the base "
            "(BA) record each run at motor loads of 0–3 hp (about 1797–1720 rpm); each `.mat` file is one run "
            "of about 10 s. SIREN uses the 12 kHz fault files; the normal baseline is the separate `normal` "
            "config."),
        classes={
            **{f"{end}_{fault}": f"{where} bearing, {what}"
               for end, where in (("DE", "drive-end"), ("FE", "fan-end"))
               for fault, what in (("IR", "inner-race fault"), ("B", "ball fault"),
                                   ("OR@3", "outer-race fault at 3 o'clock (orthogonal to the load zone)"),
                                   ("OR@6", "outer-race fault at 6 o'clock (centred in the load zone)"),
                                   ("OR@12", "outer-race fault at 12 o'clock (opposite the load zone)"))},
            "normal": "normal baseline (config `normal`, not part of the 10-class task)",
        },
        protocol=("SIREN evaluates CWRU by **leave-one-out cross-validation** over the 10 fault classes of "
                  "`faults`: each file in turn is the query, every other file the reference set (k-NN on the "
                  "extracted features). `normal` is kept out of that task."),
        column_meanings={
            **SIGNALS, **COMMON,
            "channels": "the accelerometers present in the file, in DE, FE, BA order (not every file has all "
                        "three)",
            "bearing": "`DE` or `FE`: the bearing with the seeded fault (null for `normal`)",
            "fault": "`IR`, `B` or `OR` (null for `normal`)",
            "position": "outer-race fault position `@3`, `@6`, `@12` (null otherwise)",
            "fault_diameter_mils": "fault diameter in mils (thousandths of an inch: 7, 14, 21, 28)",
            "load_hp": "motor load in hp (0–3) when the file name gives it (`105_0.mat`), else null",
            "rpm": "shaft speed from the file's `X<record>RPM` value, null when the file has none",
        },
        layout=cwru.TREE,
        config_descriptions={"faults": "the 10-class task: 12 kHz drive-end and fan-end faults",
                             "normal": "the normal baseline (48 kHz), outside the task"},
    ),
    title="CWRU Bearing Data (12 kHz faults, SIREN)",
    description="Vibration recordings of seeded bearing faults from the Case Western Reserve University "
                "Bearing Data Center, as used by SIREN's fault-classification benchmark.",
    citation=CWRU_CITATION, license="unknown",
    tags=("vibration", "bearing-fault", "fault-diagnosis", "time-series-classification", "siren"),
    task_categories=("other",),
)

MAFAULDA = FaultComponent(
    "mafaulda", "MAFAULDA", mafaulda.LAYOUT,
    CardText(
        source="MAFAULDA — Machinery Fault Database, Signals, Multimedia and Telecommunications Laboratory (SMT), "
               "Universidade Federal do Rio de Janeiro (UFRJ)",
        protocol_summary="leave-one-out cross-validation over the 10 classes (SIREN --loocv)",
        license_text="none stated: the SMT page offers the database for free download; cite it",
        downloads=mafaulda.DOWNLOADS,
        acquisition=(
            "A SpectraQuest machinery fault simulator (rotor on a shaft between two bearings) runs at rotation "
            "frequencies of about 12–60 Hz. Accelerometers on the underhang and the overhang bearing (axial, "
            "radial, tangential), a tachometer and a microphone are sampled at 50 kHz; each CSV is a 5-s "
            "sequence with the 8 channels as columns. Faults: misalignment (horizontal, vertical), imbalance "
            "and bearing faults (ball, cage, outer race) in either bearing, at several severities."),
        classes={
            "normal": "no fault",
            "horizontal-misalignment": "shaft misaligned horizontally (severity 0.5–2.0 mm)",
            "vertical-misalignment": "shaft misaligned vertically (severity 0.51–1.90 mm)",
            "imbalance": "load imbalance on the rotor (severity 6–35 g)",
            **{f"{side}-{fault}": f"{fault.replace('_', ' ')} in the {side} bearing (with 0–35 g imbalance)"
               for side in ("overhang", "underhang") for fault in ("ball_fault", "cage_fault", "outer_race")},
        },
        protocol=("SIREN evaluates MAFAULDA by **leave-one-out cross-validation** over the 10 classes, the severity "
                  "levels merged into their class (k-NN over all files, optionally per channel)."),
        column_meanings={
            **SIGNALS, **COMMON,
            "channels": "`tachometer`, `underhang-axial/radial/tangential`, `overhang-axial/radial/tangential`, "
                        "`microphone` (the CSV's column order; the microphone is kept in the array, not as "
                        "audio, so all 8 channels stay aligned)",
            "severity": "the severity folder the file came from (`0.5mm`, `6g`, ...; for bearing faults the "
                        "imbalance mass added), null for `normal`",
            "rotation_hz": "shaft rotation frequency in Hz, from the file name",
        },
        layout=mafaulda.TREE,
    ),
    title="MAFAULDA: Machinery Fault Database (SIREN)",
    description="Multi-sensor vibration and sound recordings of a machinery fault simulator (10 fault classes), "
                "as used by SIREN's fault-classification benchmark.",
    citation=MAFAULDA_CITATION, license="unknown",
    tags=("vibration", "fault-diagnosis", "rotating-machinery", "time-series-classification", "siren"),
    task_categories=("other",),
)

IIEE = FaultComponent(
    "iiee", "IDMT-ISA Electric Engine", iiee.LAYOUT,
    CardText(
        source="IDMT-ISA-ELECTRIC-ENGINE, Fraunhofer Institute for Digital Media Technology (IDMT), "
               "Industrial Sound Analysis group",
        protocol_summary="train on subset 'train' (train_cut), test on subset 'test' (test_cut), per condition",
        license_text=ZENODO_LICENSE,
        downloads=iiee.DOWNLOADS,
        acquisition=(
            "Three electric engines of one type — a good one, a broken one and one under heavy load — recorded "
            "with a microphone at 44.1 kHz. The training recordings are clean (`pure`); the test recordings "
            "add background conditions: people talking, factory atmosphere at three levels, low white noise "
            "and a stress test. The publisher cuts every recording into 3-s pieces (`train_cut/`, "
            "`test_cut/`); one cut is one row."),
        classes={"engine1_good": "engine in good condition", "engine2_broken": "broken engine",
                 "engine3_heavyload": "engine running under heavy load"},
        protocol=("SIREN trains on the clean cuts (`subset == \"train\"`) and tests on the noisy ones "
                  "(`subset == \"test\"`), reporting results per `condition`. Select them with "
                  "`ds.filter(lambda s: s == \"test\", input_columns=\"subset\")`."),
        column_meanings={
            **COMMON,
            "audio": "the 3-s cut, the publisher's WAV bytes unchanged",
            "subset": "`train` (from train_cut/) or `test` (from test_cut/)",
            "condition": "`pure`, `talking`, `atmo_low`, `atmo_medium`, `atmo_high`, `whitenoise_low`, `stresstest`",
            "recording": "the uncut recording the cut comes from (`talking_2`, `atmo_low`, ...)",
            "cut": "index of the cut within its recording",
        },
        layout=iiee.TREE,
    ),
    title="IDMT-ISA-ELECTRIC-ENGINE (SIREN)",
    description="Sound of electric engines in three states (good, broken, heavy load) under background noise, "
                "as used by SIREN's fault-classification benchmark.",
    citation=IIEE_CITATION, license="other",
    tags=("machine-sound", "fault-diagnosis", "electric-engine", "audio", "siren"),
)

IICA = FaultComponent(
    "iica", "IDMT-ISA Compressed Air", iica.LAYOUT,
    CardText(
        source="IDMT-ISA-COMPRESSED-AIR, Fraunhofer Institute for Digital Media Technology (IDMT), "
               "Industrial Sound Analysis group",
        protocol_summary="stratified 5-fold cross-validation, folds in the `fold` column (StratifiedKFold, "
                         "shuffle, random_state=1, files sorted by path)",
        license_text=ZENODO_LICENSE,
        downloads=iica.DOWNLOADS,
        acquisition=(
            "Leaks of a compressed-air system — at a tube and at a vent — and the same system without a leak, "
            "recorded with microphones at 48 kHz in the lab and under hydraulic-machine and workshop noise at "
            "two levels (`hydr`, `hydr_low`, `work`, `work_low`), in three sessions. The file name's `iO` / `niO` "
            "annotation says whether a leak is present."),
        classes={"no_leak": "no leak (`_iO_` in the file name)", "tubeleak": "tube leak (`_niO_` under tubeleak/)",
                 "ventleak": "vent leak (`_niO_` under ventleak/)"},
        protocol=("SIREN evaluates IICA by **stratified 5-fold cross-validation**. The folds are fixed here as the "
                  "`fold` column: scikit-learn's `StratifiedKFold(n_splits=5, shuffle=True, random_state=1)` over "
                  "the valid files sorted by `file`; a row's fold is the one whose test part holds it. Fold k: "
                  "test on `fold == k`, train on the rest. (A file rejected with `--on-error skip` changes the "
                  "folds: they are computed over the files that were built.)"),
        column_meanings={
            **COMMON,
            "audio": "the recording, the publisher's WAV bytes unchanged",
            "fold": "cross-validation fold 0–4",
            "setup": "the top folder: `tubeleak` or `ventleak` (no-leak files occur in both)",
            "background": "background noise: `lab`, `hydr`, `hydr_low`, `work`, `work_low`",
            "session": "recording session (folder number)",
        },
        layout=iica.TREE,
    ),
    title="IDMT-ISA-COMPRESSED-AIR (SIREN)",
    description="Sound of compressed-air leaks (tube, vent) and of the leak-free system under industrial "
                "background noise, as used by SIREN's fault-classification benchmark.",
    citation=IICA_CITATION, license="other",
    tags=("machine-sound", "leak-detection", "compressed-air", "audio", "siren"),
)
