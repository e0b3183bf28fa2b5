"""The YAML header of a card (``README.md``'s front matter), parsed by libyaml where PyYAML has it.

A libtrad dataset card's header lists every config's files and features (495 lines for LiB-TRAD);
PyYAML's pure-Python ``safe_load`` takes 19 ms on it on this 2-core box, its libyaml loader
(``CSafeLoader``, in PyYAML's wheels) 3 ms, with the same safe tag set (``bench/bench_dataset_reading.py``).
Reading a dataset parses its card several times (the split check, the embedding plan), so libtrad's own
reads use this one.
"""

from __future__ import annotations

import yaml

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the pure-Python loader where libyaml is absent
YAMLError = yaml.YAMLError


def safe_load(text: str):
    """``yaml.safe_load(text)`` (the same tags, the same errors' type), through libyaml when present."""
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a safe loader, chosen above
