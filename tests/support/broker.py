"""A private Kafka broker a test may stop and start (kill -9 too) without disturbing the shared one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.ports import free_port
from tests.support.processes import REPO

KAFKACTL = REPO / "deploy" / "kafka" / "kafkactl.sh"


class Broker:
    """A second, private broker this test may stop and start without disturbing the shared one."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.env = {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(free_port()),
            "KAFKA_DATA_DIR": str(data_dir),
        }

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def run(self, action: str) -> None:
        subprocess.run([str(KAFKACTL), action], env=self.env, check=True, timeout=180)

    @property
    def pid(self) -> int:
        """The broker's process id (kafkactl.sh writes it beside the data)."""
        return int((self.data_dir / "kafka.pid").read_text())
