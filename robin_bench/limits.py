"""Bounds shared by the suite schema and the library (no heavy imports: the suite is checked before torch loads)."""

from __future__ import annotations

MAX_SEED = 2**63 - 1
"""The largest seed robin-bench takes: ``torch.manual_seed`` accepts seeds below 2**64, and a seed derived by adding a
small offset must stay there."""
