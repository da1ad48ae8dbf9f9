"""Stop the worker at once when an agent cannot finish a batch, so that none of the batch is committed."""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

from streams.worker.delivery import DeliveryFailed

log = logging.getLogger(__name__)

#: EX_SOFTWARE: the process manager (systemd, Kubernetes) restarts the worker and the group re-delivers.
EXIT_BATCH_UNFINISHED = 70


def stop_without_commit(agent: str, first_offset: str, exc: BaseException) -> NoReturn:
    """Log at ERROR and end the process without faust's shutdown.

    faust's own handling of an agent failure acknowledges the whole batch and commits (its consumer's
    on_task_error): records the agent never finished would be skipped. Leaving at once, like a crash,
    commits nothing more; the state and alert machinery is built to survive exactly that (README,
    "Crash safety"), and the group re-delivers the batch to this worker's successor.
    """
    log.error(
        "%s could not finish a batch starting at %s (%s: %s); stopping the worker without committing it, "
        "the batch will be re-delivered (exit code %d)",
        agent,
        first_offset,
        type(exc).__name__,
        # Only our own delivery errors' text: another exception's may quote patient data (it is at DEBUG).
        str(exc) if isinstance(exc, DeliveryFailed) else "details at DEBUG",
        EXIT_BATCH_UNFINISHED,
    )
    log.debug("batch failure detail", exc_info=exc)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(EXIT_BATCH_UNFINISHED)
