"""Channel policies and selections (``libtrad.core.channels``): the YAML a card carries, ``--channels``, row names."""

from __future__ import annotations

import pytest
import yaml

from libtrad.core.channels import (
    ALL,
    ChannelPolicy,
    ChannelSelection,
    policies_yaml,
    read_policy,
    row_channel_names,
    select_channels,
)
from libtrad.core.errors import LibtradError, ParameterError

CWRU = ChannelPolicy(default=("DE",), names=("DE", "FE", "BA"), reason="SIREN reads DE")
NEAR_FAR = ChannelPolicy(default=("near",), names=("near", "far"), sets={"both": ("near", "far")})


def test_a_policy_survives_the_cards_yaml_and_is_read_per_config():
    text = yaml.safe_dump({"channel_policy": policies_yaml({"faults": CWRU, "pairs": NEAR_FAR, "other": None})})
    front = yaml.safe_load(text)
    assert set(front["channel_policy"]) == {"faults", "pairs"}
    assert read_policy(front, "faults", "README.md") == CWRU
    assert read_policy(front, "pairs", "README.md") == NEAR_FAR
    assert read_policy(front, "other", "README.md") is None and read_policy({}, "faults", "README.md") is None
    assert ChannelPolicy.from_yaml(ChannelPolicy().to_yaml(), "x").default == ALL


@pytest.mark.parametrize(
    "entry, fragment",
    [
        ({"default": "DE"}, "default must be a list"),
        ({"default": ["XX"], "names": ["DE"]}, "'XX' is not one of its names DE"),
        ({"default": ALL, "colour": "red"}, "unknown key 'colour'"),
        ({"default": ALL, "names": ["a b"]}, "'a b' is not a channel name"),
        ({"default": ALL, "names": ["DE", "DE"]}, "repeat a name"),
    ],
)
def test_a_malformed_policy_in_a_card_is_one_error_naming_the_card(entry, fragment):
    with pytest.raises(LibtradError, match=fragment) as caught:
        read_policy({"channel_policy": {"faults": entry}}, "faults", "/data/cwru/README.md")
    assert "/data/cwru/README.md (channel_policy of config 'faults')" in str(caught.value)


def test_a_component_cannot_declare_an_inconsistent_policy():
    with pytest.raises(ValueError, match="'FE' is not one of its names DE"):
        ChannelPolicy(default=("FE",), names=("DE",))
    with pytest.raises(ValueError, match="set 'DE' has the name of a channel"):
        ChannelPolicy(names=("DE",), sets={"DE": ("DE",)})


def test_the_default_is_the_policy_else_every_channel_and_the_order_is_canonical():
    assert select_channels(None, CWRU) == ChannelSelection(("DE",), "the dataset's channel policy")
    none = select_channels(None, None)
    assert none.names is None and "declares no channel policy" in none.origin
    assert select_channels("all", CWRU).names is None
    assert select_channels("FE,DE", CWRU).names == select_channels("DE, FE", CWRU).names == ("DE", "FE")
    assert select_channels("both", NEAR_FAR).names == ("near", "far")  # a named set
    assert select_channels("far,near", NEAR_FAR).identity == ["near", "far"]
    assert select_channels("b,a", None).names == ("a", "b")  # no names declared: sorted


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("XY", "the dataset has no channel 'XY'; it names DE, FE, BA, all"),
        ("DE,,FE", "separated by commas"),
        ("all,DE", "all stands alone"),
    ],
)
def test_a_bad_channels_option_is_named(text, fragment):
    with pytest.raises(ParameterError, match=fragment) as caught:
        select_channels(text, CWRU)
    assert caught.value.param == "channels"


def test_rows_are_named_by_their_column_else_the_policy_else_by_index():
    assert row_channel_names(["DE", "FE"], 2, CWRU, "r") == ("DE", "FE")
    assert row_channel_names(None, 2, NEAR_FAR, "r") == ("near", "far")
    assert row_channel_names(None, 3, None, "r") == ("0", "1", "2")
    with pytest.raises(LibtradError, match="r: holds 1 channel.s., but the dataset's channel_policy names 2"):
        row_channel_names(None, 1, NEAR_FAR, "r")
    with pytest.raises(LibtradError, match="names 2 channel.s. but its signals hold 3"):
        row_channel_names(["DE", "FE"], 3, CWRU, "r")


def test_a_row_lacking_a_selected_channel_is_named_with_what_it_has_and_what_to_do():
    fe = select_channels("FE", CWRU)
    assert fe.pick(("DE", "FE", "BA"), "row 3") == [1]
    assert select_channels("BA,DE", CWRU).pick(("DE", "FE", "BA"), "r") == [0, 2]
    assert select_channels(None, None).pick(("0", "1"), "r") == [0, 1]
    with pytest.raises(LibtradError) as caught:
        fe.pick(("DE",), "shard.parquet row 7 (B/028/3005_0.mat)")
    assert str(caught.value) == (
        "shard.parquet row 7 (B/028/3005_0.mat): has channel(s) DE but not FE, which "
        "--channels selects (FE); choose channels every row has with --channels, or "
        "--channels all --multichannel mean"
    )
