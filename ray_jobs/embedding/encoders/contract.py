"""The encoder contract's numbers: what every kind declares and ``embeddings.json`` and the checker record.

Apart from :mod:`.base` (a ``torch.nn.Module``) so that parsing a spec or describing an encoder imports no
torch, and so that the base class and the package can both use it without importing each other.
"""

from __future__ import annotations


def describe(encoder) -> dict:
    """The contract's numbers, for embeddings.json and the checker."""
    return {
        "sampling_rate": int(encoder.sampling_rate),
        "output_dim": int(encoder.output_dim),
        "hop_size_in_ms": float(encoder.hop_size_in_ms),
    }
