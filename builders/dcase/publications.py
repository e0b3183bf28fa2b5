"""What the DCASE organisers published for each Task 2 year: the Zenodo records and archive names
(``DOWNLOADS``: data for the download machinery; nothing here downloads), the task titles, the
overviews and evaluation protocols the card quotes, the papers to cite, and the licence.

Kept apart from :mod:`.components` (the scan and export) because these are facts about the
publications, changed only when a new year is published.
"""

from __future__ import annotations

LICENSE = "cc-by-4.0"
LICENSE_TEXT = (
    "Creative Commons Attribution 4.0 International (CC BY 4.0), as published by the DCASE challenge "
    "organisers on the Zenodo records above"
)


def license_text(year: int) -> str:
    """The card's licence line; DCASE 2026's licence was not read from its records (the earlier years' is
    assumed), and the card says so."""
    if year >= 2026:
        return (
            "Creative Commons Attribution 4.0 International (CC BY 4.0), assumed as the organisers published "
            "2020–2025: libtrad did not read the 2026 Zenodo records' licence; check the records above"
        )
    return LICENSE_TEXT


def _zenodo(record: int, archive: str, extract_to: str, renamed: dict[str, str] | None = None) -> dict:
    """One part's record; ``renamed``: machine types whose archive has another name (a re-release)."""
    return {
        "record": f"https://zenodo.org/records/{record}",
        "url": f"https://zenodo.org/records/{record}/files/{archive}",
        "extract_to": extract_to,
        "renamed": renamed or {},
    }


def archive_name(part: dict, machine: str) -> str:
    """The archive of ``machine`` in a :data:`DOWNLOADS` part."""
    return part["renamed"].get(machine) or part["url"].rsplit("/", 1)[1].format(machine=machine)


# Per year and part: the Zenodo record, the archive URL per machine type ({machine}) and the folder of
# --data-dir it extracts into (each archive holds <machine>/...). "dev" archives cover the dev machine
# types, the other parts the eval machine types (layout.SPECS).
DOWNLOADS: dict[int, dict[str, dict]] = {
    2020: {
        "dev": _zenodo(3678171, "dev_data_{machine}.zip", "development"),
        "additional_train": _zenodo(3727685, "eval_data_train_{machine}.zip", "additional_train"),
        "eval": _zenodo(3841772, "eval_data_test_{machine}.zip", "evaluation"),
    },
    2021: {
        "dev": _zenodo(4562016, "dev_data_{machine}.zip", "development"),
        "additional_train": _zenodo(4660992, "eval_data_{machine}_train.zip", "additional_train"),
        "eval": _zenodo(4884786, "eval_data_{machine}_test.zip", "evaluation"),
    },
    2022: {
        "dev": _zenodo(6355122, "dev_{machine}.zip", "development"),
        "additional_train": _zenodo(6462969, "eval_data_{machine}_train.zip", "additional_train"),
        "eval": _zenodo(6586456, "eval_data_{machine}_test.zip", "evaluation"),
    },
    2023: {
        "dev": _zenodo(7882613, "dev_{machine}.zip", "development"),
        "additional_train": _zenodo(7830345, "eval_data_{machine}_train.zip", "additional_train"),
        "eval": _zenodo(7860847, "eval_data_{machine}_test.zip", "evaluation"),
    },
    2024: {
        "dev": _zenodo(10902294, "dev_{machine}.zip", "development"),
        "additional_train": _zenodo(11259435, "eval_data_{machine}_train.zip", "additional_train"),
        "eval": _zenodo(11363076, "eval_data_{machine}_test.zip", "evaluation"),
    },
    2025: {
        "dev": _zenodo(15097779, "dev_{machine}.zip", "development"),
        "additional_train": _zenodo(15392814, "eval_data_{machine}_train.zip", "additional_train"),
        "eval": _zenodo(15519362, "eval_data_{machine}_test.zip", "evaluation"),
    },
    # 2026: the development and additional-training records and names as the baseline's download scripts
    # give them (ToyCar re-released as dev_ToyCar_r2.zip, which unpacks into ToyCar/ as the baseline reads
    # it); the evaluation record from its Zenodo page, its archive names assumed as in 2023-2025.
    2026: {
        "dev": _zenodo(19336329, "dev_{machine}.zip", "development", {"ToyCar": "dev_ToyCar_r2.zip"}),
        "additional_train": _zenodo(20151556, "eval_data_{machine}_train.zip", "additional_train"),
        "eval": _zenodo(20437238, "eval_data_{machine}_test.zip", "evaluation"),
    },
}
PART_NAMES = {
    "dev": "development dataset",
    "additional_train": "additional training dataset (evaluation train)",
    "eval": "evaluation dataset (test)",
}

TITLES = {
    2020: "Unsupervised Detection of Anomalous Sounds for Machine Condition Monitoring",
    2021: "Unsupervised Anomalous Sound Detection for Machine Condition Monitoring under Domain Shifted Conditions",
    2022: "Unsupervised Anomalous Sound Detection for Machine Condition Monitoring Applying Domain Generalization "
    "Techniques",
    **dict.fromkeys(
        (2023, 2024, 2025), "First-Shot Unsupervised Anomalous Sound Detection for Machine Condition Monitoring"
    ),
    2026: "Noise-aware Unsupervised Anomalous Sound Detection for Machine Condition Monitoring",
}
OVERVIEWS = {
    2020: "Six machine types: ToyCar and ToyConveyor (from ToyADMOS) and fan, pump, slider and valve (from MIMII), "
    "as single-channel 16 kHz clips of about 10 s with factory noise. Each type has several individual "
    "machines (IDs); the development and evaluation sets use different IDs, and `section` holds the ID. "
    "There are no domains in 2020 (`domain` is null) and no attributes.",
    2021: "Seven machine types: ToyCar and ToyTrain (ToyADMOS2) and fan, gearbox, pump, slider and valve (MIMII "
    "DUE), as 10-s single-channel 16 kHz clips. Sections 00–02 form the development set, 03–05 the "
    "evaluation set; each section has a source domain with many training clips and a target domain "
    "(changed operating condition or environment) with only a few. Names carry no attributes.",
    2022: "Seven machine types (bearing, fan, gearbox, slider, ToyCar, ToyTrain, valve); sections 00–02 "
    "(development) and 03–05 (evaluation), each with many source-domain and few target-domain training "
    "clips. Evaluation test names hide the domain; the ground truth restores it. Names carry the clip's "
    "attributes (operating or recording conditions, e.g. `vel_21`).",
    2023: "The development set (bearing, fan, gearbox, slider, ToyCar, ToyTrain, valve) and the evaluation set "
    "(ToyDrone, ToyNscale, ToyTank, Vacuum, bandsaw, grinder, shaker) have different machine types, with "
    "one section (00) each and many source / few target training clips. Clip lengths differ between "
    "machine types (roughly 6–18 s).",
    2024: "First-shot as in 2023: the development set has the seven 2023 development machine types; the "
    "evaluation set nine new ones (3DPrinter, AirCompressor, BrushlessMotor, HairDryer, HoveringDrone, "
    "RoboticArm, Scanner, ToothBrush, ToyCircuit), one section (00) each. Some types come without "
    "attribute information (`noAttribute`).",
    2025: "First-shot under domain generalization: the development set has the seven 2023 development machine "
    "types; the evaluation set eight new ones (AutoTrash, BandSealer, CoffeeGrinder, HomeCamera, Polisher, "
    "ScrewFeeder, ToyPet, ToyRCCar), one section (00) each. The published ground truth names evaluation "
    "test clips by section, domain and number only, so they have no attributes here. Supplemental "
    "clean-machine / noise-only clips that some machine types ship are not part of this export.",
    2026: "Noise-aware: every clip is two-channel, recorded at once by a microphone near the machine (left "
    "channel, `near`) and one far from it (right channel, `far`), the far one with stronger environmental "
    "noise and weaker machine sound. The development set has ToyCar, ToyCarEmu, bearingEmu, fan, gearboxEmu, "
    "sliderEmu and valveEmu; the evaluation set five new types (ToyDrone, ToothBrush, SewingMachine, "
    "BlowerDustCollector, Sander), one section (00) each, with many source / few target training clips; "
    "clips of 6, 10 or 16 s. Both channels are kept in each row (`channels`: near, far); the channel policy "
    "makes `near` the default, the channel the official baseline reads.",
}
PROTOCOLS = {
    2020: "AUC and pAUC (p = 0.1) per machine type and machine ID (`section`), over the ID's test clips.",
    2021: "AUC and pAUC (p = 0.1) per machine type, section and domain (that domain's normal and anomalous test "
    "clips); the official score is their harmonic mean.",
    2022: "AUC per machine type, section and domain (that domain's normal clips against the section's anomalous "
    "clips of both domains) and pAUC (p = 0.1) per section over both domains; the official score is the "
    "harmonic mean over machine types, sections and domains.",
}
PROTOCOLS.update(
    {
        y: PROTOCOLS[2022].replace("sections and domains", "and domains (one section each)")
        for y in (2023, 2024, 2025, 2026)
    }
)
_ARXIV = {
    2020: "2006.05822",
    2021: "2106.04492",
    2022: "2206.05876",
    2023: "2305.07828",
    2024: "2406.07250",
    2025: "2506.10097",
    2026: "2606.01578",
}
_AUTHORS = {
    2020: "Koizumi, Yuma and Kawaguchi, Yohei and Imoto, Keisuke and Nakamura, Toshiki and Nikaido, Yuki and "
    "Tanabe, Ryo and Purohit, Harsh and Suefusa, Kaori and Endo, Takashi and Yasuda, Masahiro and Harada, Noboru",
    2021: "Kawaguchi, Yohei and Imoto, Keisuke and Koizumi, Yuma and Harada, Noboru and Niizumi, Daisuke and Dohi, "
    "Kota and Tanabe, Ryo and Purohit, Harsh and Endo, Takashi",
    2022: "Dohi, Kota and Imoto, Keisuke and Harada, Noboru and Niizumi, Daisuke and Koizumi, Yuma and Nishida, "
    "Tomoya and Purohit, Harsh and Tanabe, Ryo and Endo, Takashi and Yamamoto, Masaaki and Kawaguchi, Yohei",
    2023: "Dohi, Kota and Imoto, Keisuke and Harada, Noboru and Niizumi, Daisuke and Koizumi, Yuma and Nishida, "
    "Tomoya and Purohit, Harsh and Tanabe, Ryo and Endo, Takashi and Kawaguchi, Yohei",
    **{
        y: "Nishida, Tomoya and Harada, Noboru and Niizumi, Daisuke and Albertini, Davide and Sannino, Roberto and "
        "Pradolini, Simone and Augusti, Filippo and Imoto, Keisuke and Dohi, Kota and Purohit, Harsh and Endo, "
        "Takashi and Kawaguchi, Yohei"
        for y in (2024, 2025)
    },
    2026: "Nishida, Tomoya and Harada, Noboru and Takeuchi, Daiki and Niizumi, Daisuke and Imoto, Keisuke and "
    "Dohi, Kota and Purohit, Harsh and Endo, Takashi and Kawaguchi, Yohei",
}


def citation(year: int) -> str:
    """BibTeX of the year's task description paper."""
    return (
        f"@inproceedings{{dcase{year}_task2,\n"
        f"  author    = {{{_AUTHORS[year]}}},\n"
        f"  title     = {{Description and Discussion on {{DCASE}} {year} Challenge Task 2: {TITLES[year]}}},\n"
        f"  booktitle = {{Proceedings of the Detection and Classification of Acoustic Scenes and Events "
        f"{year} Workshop (DCASE{year})}},\n"
        f"  year      = {{{year}}},\n"
        f"  eprint    = {{{_ARXIV[year]}}},\n"
        f"  archivePrefix = {{arXiv}}\n}}"
    )
