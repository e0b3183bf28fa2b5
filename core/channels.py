"""Channel policies: which channels of a corpus ``libtrad embed`` uses by default, and what they are called.

Why. Real corpora do not hold one channel set per row: the CWRU Bearing Data Center's records carry
the drive-end, fan-end and base accelerometers (``X105_DE_time``, ``_FE_time``, ``_BA_time``), the
normal baseline only DE and FE, the 0.028-inch records 3001–3008 only DE. Concatenating every channel
gives embeddings of different lengths; SIREN instead reads one defined channel per corpus. So each
dataset component declares a :class:`ChannelPolicy` (``builders/``): the channel SIREN (or the
publisher's protocol) uses, or ``all``, with the reason. The export writes it into the card's YAML, one
entry per config::

    channel_policy:
      faults:
        default: [DE]
        names: [DE, FE, BA]
        reason: SIREN reads the first X<record>_{DE,FE,BA}_time variable of each file: DE ...

so it travels with the dataset — a Hub dataset read as Parquet + README carries it, and ``embed``
reads it there (:func:`read_policy`), never from libtrad's registry.

Names. A row's channels are named by its ``channels`` column where it has one (the fault corpora's
``signals`` rows); else, in storage order, by the policy's ``names`` (an Audio column with a fixed
layout: LiB-TRAD's ``segments`` are ``mic1``…``mic4``; a near/far pair; MIMII's 8 microphones); else
by their index, ``"0"``, ``"1"``, … A row whose channel count differs from the ``names`` it should
have is refused (the dataset contradicts its own card).

Selection (``--channels``, :func:`select_channels`): ``all`` (every channel of every row), or names
and named sets (the policy's ``sets``, e.g. ``both: [near, far]``) separated by commas. Default: the
policy's ``default``, else ``all``. Selected channels are always taken in one canonical order — the
policy's ``names`` order where it declares names, else sorted — so ``FE,DE`` and ``DE,FE`` are the
same selection, with the same cache key and the same channel-major layout of concatenated embeddings.

A row that lacks a selected channel stops the job with one ``error:`` line naming the row, the
channels it has and the ones asked for. It is not skipped: ``embed`` writes every input row exactly
once, and a quietly smaller set would change what a benchmark number means. The line says what to
do: choose channels every row has (a policy's default does), or ``--channels all --multichannel
mean`` (rows with different channel counts then still give embeddings of one length).

This module is shared by ``builders`` (declaring, writing) and ``ray_jobs/embedding`` (reading,
selecting); it imports neither.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from libtrad.core.errors import LibtradError, ParameterError

ALL = "all"
YAML_KEY = "channel_policy"
EMBEDDED_COLUMN = "embedded_channels"  # an embeddings row's channels, where rows name theirs
# What a channel or set name may be: typed after --channels, so no commas, spaces or quotes.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$", re.ASCII)


@dataclass(frozen=True)
class ChannelPolicy:
    """A corpus's channels: the ones ``embed`` uses by default (``default``: names, or ``"all"``), the
    names a row may hold in storage order (``names``; empty: not declared), named selections
    (``sets``) and ``reason``: the loader or publisher fact the default follows."""

    default: tuple[str, ...] | str = ALL
    names: tuple[str, ...] = ()
    sets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    reason: str = ""

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise ValueError(f"ChannelPolicy: {problem}")

    def problem(self) -> str | None:
        """Why this policy is inconsistent, or None."""
        default = (self.default,) if isinstance(self.default, str) else tuple(self.default)
        if isinstance(self.default, str) and self.default != ALL:
            return f"default {self.default!r}: give a tuple of channel names, or {ALL!r}"
        if not default:
            return "default selects no channel"
        words = [*self.names, *self.sets, *(n for members in self.sets.values() for n in members)]
        words += [] if default == (ALL,) else list(default)
        bad = next((w for w in words if not isinstance(w, str) or not NAME.match(w) or w == ALL), None)
        if bad is not None:
            return f"{bad!r} is not a channel name (letters, digits and _ . @ + -, not {ALL!r})"
        if len(set(self.names)) != len(self.names):
            return f"names {list(self.names)} repeat a name"
        if clash := sorted(set(self.sets) & set(self.names)):
            return f"set {clash[0]!r} has the name of a channel"
        if self.names:
            known = set(self.names)
            outside = [
                n
                for n in (
                    *([] if default == (ALL,) else default),
                    *(m for members in self.sets.values() for m in members),
                )
                if n not in known
            ]
            if outside:
                return f"{outside[0]!r} is not one of its names {', '.join(self.names)}"
        if any(not members for members in self.sets.values()):
            return "a set with no channels"
        return None

    @property
    def all_by_default(self) -> bool:
        return self.default == ALL

    def to_yaml(self) -> dict:
        """The card's YAML entry (plain lists and strings: any YAML reader, the Hub's included)."""
        entry: dict = {"default": ALL if self.all_by_default else list(self.default)}
        if self.names:
            entry["names"] = list(self.names)
        if self.sets:
            entry["sets"] = {name: list(members) for name, members in self.sets.items()}
        if self.reason:
            entry["reason"] = self.reason
        return entry

    @classmethod
    def from_yaml(cls, entry, where: str) -> ChannelPolicy:
        """A card's YAML entry back into a policy; a malformed one is one error naming ``where``."""

        def names(value, what: str) -> tuple[str, ...]:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise LibtradError(f"{where}: {YAML_KEY} {what} must be a list of channel names, not {value!r}")
            return tuple(value)

        if not isinstance(entry, dict):
            raise LibtradError(f"{where}: {YAML_KEY} entry must be a mapping (default, names, sets, reason)")
        unknown = sorted(set(entry) - {"default", "names", "sets", "reason"})
        if unknown:
            raise LibtradError(f"{where}: {YAML_KEY} has an unknown key {unknown[0]!r} (default, names, sets, reason)")
        default = entry.get("default", ALL)
        default = default if default == ALL else names(default, "default")
        sets = entry.get("sets") or {}
        if not isinstance(sets, dict):
            raise LibtradError(f"{where}: {YAML_KEY} sets must map a set's name to channel names")
        reason = entry.get("reason", "")
        if not isinstance(reason, str):
            raise LibtradError(f"{where}: {YAML_KEY} reason must be text")
        try:
            return cls(
                default,
                names(entry.get("names", []), "names"),
                {str(k): names(v, f"set {k!r}") for k, v in sets.items()},
                reason,
            )
        except ValueError as exc:
            raise LibtradError(f"{where}: {YAML_KEY}: {str(exc).removeprefix('ChannelPolicy: ')}") from None


def policies_yaml(policies: Mapping[str, ChannelPolicy | None]) -> dict:
    """config -> YAML entry, for the configs that have a policy (the card's ``channel_policy:``)."""
    return {config: policy.to_yaml() for config, policy in policies.items() if policy is not None}


def read_policy(front_matter: dict, config: str, where: str) -> ChannelPolicy | None:
    """The policy a card's YAML header declares for ``config`` (None: it declares none)."""
    block = front_matter.get(YAML_KEY)
    if block is None:
        return None
    if not isinstance(block, dict):
        raise LibtradError(f"{where}: {YAML_KEY} must map each config to its policy")
    entry = block.get(config)
    return None if entry is None else ChannelPolicy.from_yaml(entry, f"{where} ({YAML_KEY} of config {config!r})")


@dataclass(frozen=True)
class ChannelSelection:
    """The channels to embed: ``names`` in canonical order (None: every channel of each row) and
    ``origin``, what chose them (for ``embeddings.json``, the card and the error lines)."""

    names: tuple[str, ...] | None
    origin: str

    @property
    def identity(self) -> str | list[str]:
        """For the cache key and ``embeddings.json``: ``"all"`` or the names."""
        return ALL if self.names is None else list(self.names)

    def shown(self) -> str:
        return ALL if self.names is None else ",".join(self.names)

    def pick(self, row_names: Sequence[str], where: str) -> list[int]:
        """Indices of the selected channels in a row named ``row_names`` (the selection's order)."""
        if self.names is None:
            return list(range(len(row_names)))
        missing = [n for n in self.names if n not in row_names]
        if missing:
            raise LibtradError(
                f"{where}: has channel(s) {', '.join(row_names) or 'none'} but not {', '.join(missing)}, which "
                f"{self.origin} selects ({self.shown()}); choose channels every row has with --channels, or "
                "--channels all --multichannel mean"
            )
        return [list(row_names).index(n) for n in self.names]


def row_channel_names(
    stored: Sequence[str] | None, count: int, policy: ChannelPolicy | None, where: str
) -> tuple[str, ...]:
    """A row's channel names: its ``channels`` column (``stored``), else the policy's names (which must
    match its channel count), else the indices ``"0"``, ``"1"``, …"""
    if stored is not None:
        if len(stored) != count:
            raise LibtradError(
                f"{where}: its channels column names {len(stored)} channel(s) but its signals hold {count}"
            )
        return tuple(str(n) for n in stored)
    if policy is not None and policy.names:
        if len(policy.names) != count:
            raise LibtradError(
                f"{where}: holds {count} channel(s), but the dataset's {YAML_KEY} names "
                f"{len(policy.names)} ({', '.join(policy.names)})"
            )
        return policy.names
    return tuple(str(i) for i in range(count))


def select_channels(text: str | None, policy: ChannelPolicy | None) -> ChannelSelection:
    """``--channels`` (None: the policy's default, else all) -> a :class:`ChannelSelection`; an unknown
    name (where the policy declares names) or an empty list is one :class:`ParameterError`."""
    if text is None:
        if policy is None:
            return ChannelSelection(None, "the default (the dataset declares no channel policy: every channel)")
        if policy.all_by_default:
            return ChannelSelection(None, "the dataset's channel policy (all)")
        return ChannelSelection(_canonical(policy.default, policy), "the dataset's channel policy")
    parts = [p.strip() for p in str(text).split(",")]
    if parts == [ALL]:
        return ChannelSelection(None, "--channels all")
    if not all(parts):
        raise ParameterError("channels", text, f"give channel names separated by commas, or {ALL}")
    if ALL in parts:
        raise ParameterError("channels", text, f"{ALL} stands alone (every channel); do not list it with names")
    sets = policy.sets if policy is not None else {}
    chosen: list[str] = []
    for part in parts:
        chosen += list(sets.get(part, (part,)))
    if policy is not None and policy.names:
        unknown = [n for n in chosen if n not in policy.names]
        if unknown:
            offer = ", ".join([*policy.names, *policy.sets, ALL])
            raise ParameterError("channels", text, f"the dataset has no channel {unknown[0]!r}; it names {offer}")
    return ChannelSelection(_canonical(chosen, policy), "--channels")


def _canonical(names: Sequence[str], policy: ChannelPolicy | None) -> tuple[str, ...]:
    unique = set(names)
    if policy is not None and policy.names:
        return tuple(n for n in policy.names if n in unique)
    return tuple(sorted(unique))
