"""What each DCASE Task 2 year publishes: its machine types and sections per set, its channels, and
the channel policy ``libtrad embed`` follows for it.

Kept apart from :mod:`.layout` (the folder walk and the file-name patterns) because these are the
facts one adds a year to: a new year is one :class:`YearSpec` in :data:`SPECS`.

DCASE 2026 (Task 2, "noise-aware"), from the organisers' baseline repository (nttcslab
``dcase2023_task2_baseline_ae``, its 2026t2 scripts, ``datasets/machine_type_2026_{dev,eval}.yaml``
and README, read May 2026) and the evaluation dataset's Zenodo record (20437238):

* development machine types ToyCar, ToyCarEmu, bearingEmu, fan, gearboxEmu, sliderEmu, valveEmu;
  evaluation machine types ToyDrone, ToothBrush, SewingMachine, BlowerDustCollector, Sander;
  section 00 each (the machine-type YAML files list ``"00"`` only);
* every clip is two-channel: "near-mic (in the left channel) and far-mic (in the right channel)",
  the left channel "equivalent to the previous mono"; the baseline reads channel 0 only
  (``librosa.load(..., mono=False)[0]``), so ``near`` is the default channel here;
* clips of 6, 10 or 16 s (the evaluation record);
* the folder layout and the naming of earlier first-shot years (2023–2025): the baseline's loader
  is unchanged for 2026 and reads ``<machine>/train`` and ``<machine>/test`` below
  ``dev_data/raw`` and ``eval_data/raw`` with the same ``section`` keyword.

Not found in what could be read, and chosen here (the card says so): 16 kHz as every earlier year
(the baseline resamples nothing); file names as in 2022–2025 (``_<attributes>`` on every labelled
name, ``section_00_NNNN.wav`` for evaluation test clips); the ground-truth list format of 2025.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from libtrad.core.channels import ChannelPolicy

SAMPLE_RATE = 16_000
YEARS = (2020, 2021, 2022, 2023, 2024, 2025, 2026)
SPLIT_TEST_DIRS = ("source_test", "target_test")
MONO = ("mono",)
NEAR_FAR = ("near", "far")  # DCASE 2026: left = near microphone, right = far microphone

# 2020 has no sections: the machine ID plays that role, and dev/eval use different IDs.
_MIMII_2020 = {"dev": (0, 2, 4, 6), "eval": (1, 3, 5)}
IDS_2020 = {
    "ToyCar": {"dev": (1, 2, 3, 4), "eval": (5, 6, 7)},
    "ToyConveyor": {"dev": (1, 2, 3), "eval": (4, 5, 6)},
    **{machine: _MIMII_2020 for machine in ("fan", "pump", "slider", "valve")},
}
_MACHINES_2022 = ("ToyCar", "ToyTrain", "bearing", "fan", "gearbox", "slider", "valve")

# The channel policy of DCASE 2026's rows (the card's ``channel_policy``; core.channels). The mono years
# use SIREN's (builders.siren.MONO_WAV).
NEAR_FAR_POLICY = ChannelPolicy(
    default=("near",),
    names=NEAR_FAR,
    sets={"both": NEAR_FAR},
    reason=(
        "DCASE 2026 clips are two-channel as published: the near microphone on the left channel (near), the "
        "far microphone on the right (far). The official baseline (nttcslab dcase2023_task2_baseline_ae, "
        "2026t2 scripts) reads the left channel only; --channels far or --channels both (near and far) embed "
        "the rest"
    ),
)


@dataclass(frozen=True)
class YearSpec:
    """What one year publishes: machine types and sections per set, its naming scheme and its channels."""

    year: int
    dev_machines: tuple[str, ...]
    eval_machines: tuple[str, ...]
    dev_sections: tuple[int, ...] = ()  # 2021+; 2020 uses IDS_2020
    eval_sections: tuple[int, ...] = ()
    split_test_dirs: bool = False  # 2021: test clips may lie in source_test/ and target_test/
    channel_names: tuple[str, ...] = MONO  # each clip's channels, in file order

    @property
    def attributes(self) -> bool:
        """2022+: every labelled name ends in ``_<attributes>`` (``noAttribute`` when there are none)."""
        return self.year >= 2022

    @property
    def channels(self) -> int:
        return len(self.channel_names)

    def attributes_allowed(self, split: str) -> bool:
        """Whether a labelled ``split`` name may end in ``_<attributes>``: 2022+ always (required), 2021
        in train/ only (``section_00_source_train_normal_0000_strength_1_ambient.wav``; its test names
        carry none), 2020 never."""
        return self.attributes or (self.year == 2021 and split == "train")

    def machines(self, set_: str) -> tuple[str, ...]:
        return self.dev_machines if set_ == "dev" else self.eval_machines

    def sections(self, set_: str, machine: str) -> tuple[int, ...]:
        if self.year == 2020:
            return IDS_2020[machine][set_]
        return self.dev_sections if set_ == "dev" else self.eval_sections

    def test_dirs(self) -> tuple[str, ...]:
        return ("test", *SPLIT_TEST_DIRS) if self.split_test_dirs else ("test",)


SPECS: Mapping[int, YearSpec] = {
    2020: YearSpec(2020, tuple(IDS_2020), tuple(IDS_2020)),
    2021: YearSpec(
        2021,
        ("ToyCar", "ToyTrain", "fan", "gearbox", "pump", "slider", "valve"),
        ("ToyCar", "ToyTrain", "fan", "gearbox", "pump", "slider", "valve"),
        (0, 1, 2),
        (3, 4, 5),
        split_test_dirs=True,
    ),
    2022: YearSpec(2022, _MACHINES_2022, _MACHINES_2022, (0, 1, 2), (3, 4, 5)),
    2023: YearSpec(
        2023, _MACHINES_2022, ("ToyDrone", "ToyNscale", "ToyTank", "Vacuum", "bandsaw", "grinder", "shaker"), (0,), (0,)
    ),
    2024: YearSpec(
        2024,
        _MACHINES_2022,
        (
            "3DPrinter",
            "AirCompressor",
            "BrushlessMotor",
            "HairDryer",
            "HoveringDrone",
            "RoboticArm",
            "Scanner",
            "ToothBrush",
            "ToyCircuit",
        ),
        (0,),
        (0,),
    ),
    2025: YearSpec(
        2025,
        _MACHINES_2022,
        ("AutoTrash", "BandSealer", "CoffeeGrinder", "HomeCamera", "Polisher", "ScrewFeeder", "ToyPet", "ToyRCCar"),
        (0,),
        (0,),
    ),
    2026: YearSpec(
        2026,
        ("ToyCar", "ToyCarEmu", "bearingEmu", "fan", "gearboxEmu", "sliderEmu", "valveEmu"),
        ("ToyDrone", "ToothBrush", "SewingMachine", "BlowerDustCollector", "Sander"),
        (0,),
        (0,),
        channel_names=NEAR_FAR,
    ),
}
