"""The benchmark's plan: every paper component's protocol lands in the paper's column (ECHO Table 1, LiB-TRAD)."""

from __future__ import annotations

import pytest

from libtrad.builders.registry import DATASETS
from libtrad.core.channels import select_channels
from libtrad.core.errors import ParameterError
from libtrad.core.resolve import resolve
from libtrad.ray_jobs.benchmark.plan import SUITES, pick_components, suite
from libtrad.ray_jobs.evaluation import paper_columns as P
from libtrad.ray_jobs.evaluation.evaluate import SUITES as EVALUATE_SUITES


def test_the_siren_suite_fills_every_column_of_echo_table2():
    columns = set()
    for component in SUITES["siren"].components:
        assert component.name in DATASETS[component.family].components
        for job in component.jobs:
            assert job.suite in EVALUATE_SUITES
            if job.suite == "siren-dcase":
                columns.add(f"siren-dcase · DCASE {component.name[-4:]}")
                continue
            channels = job.channels.split(",") if job.channels else None
            config = job.config or "default"
            column, why = P.fault_column(component.name, config, job.options["protocol"], channels, job.options)
            assert (column is not None) == component.paper, (component.name, why)
            columns.add(column)
    assert {c.name for c in P.COLUMNS if c.tables == P.ECHO and not c.computed} <= columns


def test_mafaulda_channels_are_names_its_policy_knows():
    policy = resolve(DATASETS["siren"].components["mafaulda"]).channels
    jobs = {j.name: j for c in SUITES["siren"].components for j in c.jobs if c.name == "mafaulda"}
    sound = select_channels(jobs["mafaulda-sound"].channels, policy).names
    vibration = select_channels(jobs["mafaulda-vibration"].channels, policy).names
    assert P.mafaulda_column(sound) == P.MAFAULDA_SOUND and P.mafaulda_column(vibration) == P.MAFAULDA_VIBRATION


def test_lib_trad_and_all_suites():
    assert [c.name for c in suite("lib-trad").components] == ["lib-trad"]
    assert suite("lib-trad").reference == ("lib-trad-table3",)
    everything = [c.name for c in suite("all").components]
    assert everything[-1] == "lib-trad" and "cwru" in everything and len(set(everything)) == len(everything)


def test_components_are_picked_in_the_suites_order():
    siren = suite("siren")
    assert [c.name for c in pick_components(siren, ("cwru", "dcase2020"), lambda n: False)] == ["dcase2020", "cwru"]
    default = [c.name for c in pick_components(siren, None, lambda n: n == "mfpt")]
    assert "mfpt" in default and "paderborn" not in default and "iiee" in default  # paper ones always, gaps or not
    with pytest.raises(ParameterError, match="components.*lib-trad.*not a component of suite siren"):
        pick_components(siren, ("lib-trad",), lambda n: True)
    with pytest.raises(ParameterError, match="suite"):
        suite("dcase")
