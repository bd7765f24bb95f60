"""did_you_mean: close matches of a string, else every valid name; a non-string always gets every name."""

from __future__ import annotations

import pytest

from robin_bench.registry import did_you_mean


def test_close_matches_are_named() -> None:
    assert did_you_mean("flt", ["flat", "robin", "har"]) == "did you mean 'flat'?"


@pytest.mark.parametrize("name", ["zzz", 3, None, 1.5])
def test_no_close_match_or_a_non_string_lists_every_valid_name_sorted(name: object) -> None:
    assert did_you_mean(name, ["robin", "flat", "har"]) == "valid: flat, har, robin"
