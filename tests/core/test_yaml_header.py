"""The card header parser: yaml.safe_load's results and refusals, through libyaml where PyYAML has it."""

from __future__ import annotations

import pytest
import yaml

from libtrad.core import yaml_header

HEADER = """
configs:
- config_name: tr1
  data_files:
  - split: train
    path: data/tr1/train-*.parquet
  default: true
dataset_info:
- config_name: tr1
  features:
  - name: label
    dtype:
      class_label:
        names: {'0': normal, '1': abnormal}
  splits:
  - {name: train, num_bytes: 12.5e3, num_examples: 7}
on: yes
date: 2026-12-08
empty:
"""


def test_the_same_mapping_as_pyyamls_safe_load():
    assert yaml_header.safe_load(HEADER) == yaml.safe_load(HEADER)


def test_libyaml_is_used_where_pyyaml_has_it():
    assert yaml_header.SafeLoader is (yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)


@pytest.mark.parametrize("text", ["a: !!python/object/apply:os.system ['true']", "a: [1, 2", "a: b: c"])
def test_what_safe_load_refuses_it_refuses(text):
    with pytest.raises(yaml_header.YAMLError):
        yaml.safe_load(text)
    with pytest.raises(yaml_header.YAMLError):
        yaml_header.safe_load(text)
