"""The one exception type for user mistakes."""

from __future__ import annotations


class RobinBenchError(ValueError):
    """A user mistake: a bad config value, name, path, shape or range.

    The message is one line naming the bad value, where it came from and what would be valid.
    The CLI prints it and exits with status 2; library callers catch it like any ``ValueError``.
    """
