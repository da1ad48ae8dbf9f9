"""Every lytewatch process against a private secured broker (SASL_SSL, SCRAM-SHA-512, its own CA).

The broker is started by `deploy/kafka/kafkactl.sh` in secured mode (KAFKA_SECURE=1) on free ports of
10100-10999, for this module only, and stopped after it. A wrong password or CA must stop each process at
start-up with exit code 2 and a message naming the setting, not retry for ever or print a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from streams.kafka import consumer, producer
from streams.settings import load_settings
from tests.support.edges import ack_code, frame, read_ack
from tests.support.ports import free_port
from tests.support.processes import (
    LYTEWATCH,
    REPO,
    Process,
    WorkerEnv,
    http_get,
    running_worker,
    wait_until_ready,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KAFKACTL = REPO / "deploy" / "kafka" / "kafkactl.sh"
USER, PASSWORD = "lytewatch", "sasl-test-password-0123456789"
OPENSSL_CA = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other"]


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port_triple() -> int:
    """A port P with P, P+1 (controller) and P+2 (TLS listener) free, in the range tests may use."""
    for port in range(10100 + (os.getpid() % 200) * 4, 10990, 3):
        if all(_free(port + i) for i in range(3)):
            return port
    pytest.fail("no three free ports in 10100-10999")


@dataclass(frozen=True)
class SecuredBroker:
    port: int
    ca: Path

    def env(self, **overrides: str) -> dict[str, str]:
        values = {
            "LYTEWATCH_BROKER_SECURITY_PROTOCOL": "SASL_SSL",
            "LYTEWATCH_BROKER_SASL_MECHANISM": "SCRAM-SHA-512",
            "LYTEWATCH_BROKER_SASL_USERNAME": USER,
            "LYTEWATCH_BROKER_SASL_PASSWORD": PASSWORD,
            "LYTEWATCH_BROKER_SSL_CAFILE": str(self.ca),
        }
        return values | overrides


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    data = tmp_path_factory.mktemp("kafka-secured")
    port = _free_port_triple()
    env = os.environ | {
        "KAFKA_SECURE": "1",
        "KAFKA_PORT": str(port),
        "KAFKA_DATA_DIR": str(data),
        "KAFKA_SASL_USER": USER,
        "KAFKA_SASL_PASSWORD": PASSWORD,
        "KAFKA_HEAP_OPTS": "-Xms128m -Xmx512m",
        "KAFKA_START_TIMEOUT": "180",
    }
    started = subprocess.run(["bash", str(KAFKACTL), "start"], env=env, capture_output=True, text=True)
    try:
        assert started.returncode == 0, f"secured broker did not start:\n{started.stdout}\n{started.stderr}"
        assert f"SASL_SSL (SCRAM-SHA-512, user {USER}) on 127.0.0.1:{port}" in started.stdout
        yield SecuredBroker(port, data / "tls" / "ca.crt")
    finally:
        subprocess.run(["bash", str(KAFKACTL), "stop"], env=env, capture_output=True, check=False)


def worker_env(broker: SecuredBroker, tmp_path: Path, name: str, **overrides: str) -> WorkerEnv:
    return WorkerEnv(
        bootstrap=f"127.0.0.1:{broker.port}",
        prefix=f"sec-{name}-{os.getpid()}",
        data_dir=tmp_path / name,
        extra=broker.env(**overrides),
    )


def run_cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LYTEWATCH, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    handler = type("Hook", (_Hook,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler.received
    server.shutdown()
    server.server_close()


MLLP_ORU = (
    b"MSH|^~\\&|LAB|HOSP|LYTEWATCH|HOSP|20260301094500||ORU^R01^ORU_R01|SEC-MLLP-1|P|2.5.1\r"
    b"PID|1||SEC-MLLP^^^HOSP^MR||DOE^JANE\r"
    b"OBR|1|P1|F1|80048^BMP^CPT|||202603010900\r"
    b"OBX|1|NM|2823-3^Potassium^LN||2.9|mmol/L|||||F\r"
)


def _alerting_events(now: datetime) -> list[tuple[str, dict[str, Any]]]:
    at = (now - timedelta(hours=1)).isoformat()
    order = {
        "order_id": "O-sec",
        "patient_id": "SEC-1",
        "medication": {"display": "Furosemide 40 mg IV"},
        "status": "active",
        "start": (now - timedelta(hours=6)).isoformat(),
        "recorded_at": (now - timedelta(hours=6)).isoformat(),
    }
    k = {"result_id": "K-sec", "patient_id": "SEC-1", "code": "2823-3", "value": 2.4, "unit": "mmol/L"}
    mg = {"result_id": "M-sec", "patient_id": "SEC-1", "code": "19123-9", "value": 0.45, "unit": "mmol/L"}
    return [("orders", order), ("labs", k | {"collected_at": at}), ("labs", mg | {"collected_at": at})]


async def _produce(env: WorkerEnv, events: list[tuple[str, dict[str, Any]]]) -> None:
    client = producer(load_settings(env.environ()))
    await client.start()
    try:
        for kind, doc in events:
            await client.send_and_wait(env.topics[kind], orjson.dumps(doc), key=doc["patient_id"].encode())
    finally:
        await client.stop()


async def _alerts(env: WorkerEnv, expected: int, within: float = 90) -> list[dict[str, Any]]:
    client = consumer(load_settings(env.environ()), env.topics["alerts"], auto_offset_reset="earliest")
    await client.start()
    found: list[dict[str, Any]] = []
    try:
        deadline = asyncio.get_running_loop().time() + within
        while len(found) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await client.getmany(timeout_ms=1000)
            found += [orjson.loads(r.value) for records in batch.values() for r in records]
    finally:
        await client.stop()
    return found


def test_every_service_runs_against_sasl_ssl(
    secured_broker: SecuredBroker, tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    env = worker_env(secured_broker, tmp_path, "ok")
    created = run_cli(["topics", "create", "--wait", "60"], env.environ())
    assert created.returncode == 0, created.stderr
    assert env.topics["alerts"] in created.stdout

    url, received = webhook
    routes = tmp_path / "routes.yaml"
    hook = {"name": "hook", "type": "webhook", "url": url}
    routes.write_text(
        yaml.safe_dump({"receivers": [hook], "route": {"receivers": ["hook"]}, "group_wait": "0s"})
    )
    dashboard_port, notifier_port, mllp_port, mllp_web = free_port(), free_port(), free_port(), free_port()
    with running_worker(env, tmp_path / "worker.log") as worker:
        # The worker's broker probe kept SASL_SSL but dropped the credentials: /readyz was never 200.
        status, body = http_get(f"{env.url}/readyz", timeout=10)
        assert status == 200, body
        extra = {
            "LYTEWATCH_DASHBOARD_PORT": str(dashboard_port),
            "LYTEWATCH_NOTIFIER_WEB_PORT": str(notifier_port),
            "LYTEWATCH_MLLP_PORT": str(mllp_port),
            "LYTEWATCH_MLLP_WEB_PORT": str(mllp_web),
        }
        dashboard = Process(["dashboard"], env.environ() | extra, tmp_path / "dashboard.log")
        notifier = Process(
            ["notifier", "--routes", str(routes), "--from-beginning"],
            env.environ() | extra,
            tmp_path / "notifier.log",
        )
        mllp = Process(["mllp"], env.environ() | extra, tmp_path / "mllp.log")
        try:
            wait_until_ready(dashboard, f"http://127.0.0.1:{dashboard_port}")
            wait_until_ready(notifier, f"http://127.0.0.1:{notifier_port}")
            wait_until_ready(mllp, f"http://127.0.0.1:{mllp_web}")
            with socket.create_connection(("127.0.0.1", mllp_port), timeout=30) as sock:
                sock.sendall(frame(MLLP_ORU))
                assert ack_code(read_ack(sock)) == "AA"  # AA only once the secured broker confirmed it
            fed = run_cli(
                ["simulate", "--patients", "5", "--events", "50", "--seed", "3", "--produce"], env.environ()
            )
            assert fed.returncode == 0, fed.stderr
            assert "failed 0" in fed.stderr
            asyncio.run(_produce(env, _alerting_events(datetime.now(UTC))))
            alerts = asyncio.run(_alerts(env, expected=1))
            assert any(a["patient_id"] == "SEC-1" and a["severity"] == "critical" for a in alerts), alerts
            status, body = http_get(f"http://127.0.0.1:{dashboard_port}/api/alerts", timeout=10)
            assert status == 200 and b"SEC-1" in body
            deadline = datetime.now(UTC) + timedelta(seconds=60)
            while not any(r.get("alert", {}).get("rule") == "KMG_COMBINED" for r in received):
                assert datetime.now(UTC) < deadline, (
                    f"no page through the secured broker: {notifier.log()[-2000:]}"
                )
                time.sleep(0.2)
            for process in (worker, dashboard, notifier, mllp):
                assert process.popen.poll() is None
        finally:
            dashboard.stop()
            notifier.stop()
            mllp.stop()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"LYTEWATCH_BROKER_SASL_PASSWORD": "not-the-password"},
            "refused the SASL credentials of user 'lytewatch'",
        ),
        ({"LYTEWATCH_BROKER_SASL_USERNAME": "nobody"}, "refused the SASL credentials of user 'nobody'"),
        ("wrong-ca", "TLS certificate is not trusted"),
    ],
)
def test_wrong_credentials_or_ca_stop_every_process_at_start_up_with_exit_2(
    secured_broker: SecuredBroker, tmp_path: Path, override: dict[str, str] | str, message: str
) -> None:
    if override == "wrong-ca":
        other = tmp_path / "other-ca.pem"
        made = subprocess.run(
            [*OPENSSL_CA, "-keyout", str(tmp_path / "other.key"), "-out", str(other)],
            capture_output=True,
            check=False,
        )
        assert made.returncode == 0, made.stderr
        override = {"LYTEWATCH_BROKER_SSL_CAFILE": str(other)}
    assert isinstance(override, dict)
    env = worker_env(secured_broker, tmp_path, "bad", **override).environ()
    routes = tmp_path / "routes.yaml"
    routes.write_text(yaml.safe_dump({"receivers": [{"name": "w", "type": "webhook", "url": "http://127.0.0.1:9/"}],
                                      "route": {"receivers": ["w"]}}))  # fmt: skip
    commands = {
        "topics create": ["topics", "create", "--wait", "30"],
        "worker": ["worker"],
        "dashboard": ["dashboard"],
        "notifier": ["notifier", "--routes", str(routes)],
        "feed": ["simulate", "--patients", "2", "--events", "5", "--produce"],
        "mllp": ["mllp", "--port", str(free_port())],
    }
    for name, args in commands.items():
        result = run_cli(args, env, timeout=90)
        assert result.returncode == 2, f"{name}: exit {result.returncode}\n{result.stderr[-2000:]}"
        assert message in result.stderr, f"{name}: {result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr, f"{name}: {result.stderr[-2000:]}"
