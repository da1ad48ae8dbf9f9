"""A faust Worker whose stop on SIGTERM/SIGINT is bounded in time, whatever the broker's state."""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

from faust import Worker

log = logging.getLogger(__name__)

#: Exit code of a stop that did not finish in time (as timeout(1) uses).
EXIT_SHUTDOWN_TIMEOUT = 124


class BoundedWorker(Worker):
    """faust's Worker, but a stop not finished `shutdown_timeout_s` after the signal ends the process.

    faust's graceful stop flushes the producer and commits; with the broker gone either can wait far longer
    than Kubernetes' 30 s grace period. Ending at the bound is a crash as far as the data is concerned,
    which the worker is built to survive (README, "Crash safety"): nothing acknowledged is lost, the rest
    is re-read.
    """

    def __init__(self, *args: Any, shutdown_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shutdown_timeout_s = shutdown_timeout_s
        self._deadline: threading.Timer | None = None

    def _on_sigterm(self) -> None:
        self._start_deadline("SIGTERM")
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._start_deadline("SIGINT")
        super()._on_sigint()

    def _start_deadline(self, signal_name: str) -> None:
        if self._deadline is not None:
            return
        log.info("%s: stopping (at most %.0f s)", signal_name, self.shutdown_timeout_s)
        # A thread, not the event loop: the loop may be the thing that is stuck.
        self._deadline = threading.Timer(self.shutdown_timeout_s, self._give_up)
        self._deadline.daemon = True
        self._deadline.start()

    def _give_up(self) -> None:
        log.error(
            "stopping took longer than %.0f s (LYTEWATCH_SHUTDOWN_TIMEOUT_S); exiting now without a final "
            "commit: what was not committed is re-read by the next worker",
            self.shutdown_timeout_s,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        os._exit(EXIT_SHUTDOWN_TIMEOUT)
