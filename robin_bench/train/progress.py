"""Training feedback without a terminal: a plain line at least every ``interval`` seconds of work."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

LOG_INTERVAL_S = 10.0
"""Seconds of training between two plain progress lines (issue 11: at least one line per 10 s)."""


class ProgressLog:
    r"""Plain progress lines for logs and CI: one when ``interval`` seconds passed since the last, one at the end.

    :meth:`update` is called after every batch with the running figures of the epoch; it prints a line
    when at least ``interval`` seconds of ``clock`` passed since the previous line (or since the log
    was created), so a job never stays silent longer than ``interval`` plus one batch. :meth:`finish`
    prints the component's last line whatever the time. A line reads
    ``arm 3: epoch 7/40 batch 5/11 loss 0.412 acc 0.903 adv_acc 0.771 (63.2s)``.

    Arguments:
        name (str): the component ("flat", "arm 3", "coarse", "fine 1").
        epochs (int): the epochs of the job.
        stream (TextIO): where lines go (flushed after each).
        interval (float): seconds between lines, >= 0. (Default: :data:`LOG_INTERVAL_S`)
        clock (Callable[[], float]): a monotonic clock in seconds. (Default: ``time.monotonic``)

    Example::

        >>> log = ProgressLog("flat", 10, sys.stderr)
        >>> log.update(0, 3, 11, {"loss": 0.5, "acc": 0.8})
        >>> log.finish({"loss": 0.2, "acc": 0.95})
    """

    def __init__(
        self,
        name: str,
        epochs: int,
        stream: TextIO,
        *,
        interval: float = LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name, self.epochs, self.stream = name, epochs, stream
        self.interval, self.clock = interval, clock
        self.start = self.last = clock()
        self.position = ""

    def due(self) -> bool:
        """Whether ``interval`` seconds passed since the last line (callers skip computing figures otherwise)."""
        return self.clock() - self.last >= self.interval

    def update(self, epoch: int, batch: int, batches: int, figures: dict[str, float]) -> bool:
        """Note batch ``batch`` (1-based) of epoch ``epoch`` (0-based) done; True when it printed a line."""
        self.position = f"epoch {epoch + 1}/{self.epochs} batch {batch}/{batches}"
        if not self.due():
            return False
        self._print(figures)
        return True

    def finish(self, figures: dict[str, float]) -> None:
        """Print the component's final line (its last epoch's figures)."""
        self._print(figures, done=True)

    def _print(self, figures: dict[str, float], *, done: bool = False) -> None:
        now = self.clock()
        self.last = now
        values = " ".join(f"{k} {v:.3f}" for k, v in figures.items())
        where = f"done, {self.epochs} epochs" if done else self.position
        print(f"{self.name}: {where} {values} ({now - self.start:.1f}s)", file=self.stream, flush=True)
