"""Shared fixtures: tiny seeded models and data, no network."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--device",
        default="cpu",
        help="device of the tests marked 'device' (default cpu; benchmarks/perf/gpu_check.sh: cuda)",
    )


@pytest.fixture
def device(request: pytest.FixtureRequest) -> torch.device:
    """The device ``--device`` names; a test on an absent CUDA device is skipped."""
    chosen = torch.device(request.config.getoption("--device"))
    if chosen.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("--device cuda, but torch sees no CUDA device")
    return chosen


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
