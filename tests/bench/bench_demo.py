"""Benchmark (not a test): how soon `lytewatch demo` shows its first alert and every kind of transition.

Run: .venv/bin/python tests/bench/bench_demo.py [--runs 3] [--watch 150] [--broker 127.0.0.1:9092]
Each run starts `lytewatch demo` with its own topics, app id, ports and directory on the given broker
(which it leaves running), reads the dashboard's event stream, and prints: seconds from start to the
printed URLs, from the URLs to the first alert on /api/alerts, and from the URLs to the first transition
of each kind (fired, escalated, updated, acknowledged, resolved) and of the first alert of a MIMIC-IV
(real) patient. The goal (issue 15): the first alert
within 15 s of the URLs, every kind within two minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from streams.bench.broker import free_port

KINDS = ("fired", "escalated", "updated", "acknowledged", "resolved")


def _env(broker: str, home: Path) -> dict[str, str]:
    prefix = f"bench-demo-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LYTEWATCH_")}
    env.update(
        {
            "LYTEWATCH_BROKER": f"kafka://{broker}",
            "LYTEWATCH_APP_ID": prefix,
            "LYTEWATCH_DATA_DIR": str(home / "worker"),
            "LYTEWATCH_WEB_PORT": str(free_port()),
            "LYTEWATCH_DASHBOARD_PORT": str(free_port()),
            "LYTEWATCH_PARTITIONS": "2",
            "PYTHONUNBUFFERED": "1",
        }
    )
    for name in ("labs", "orders", "adt", "acks", "alerts", "deadletter", "patient_events"):
        env[f"LYTEWATCH_TOPIC_{name.upper()}"] = f"{prefix}.{name}"
    env["LYTEWATCH_TOPIC_NOTIFIER_DEADLETTER"] = f"{prefix}.notify-deadletter"
    env["LYTEWATCH_TOPIC_NOTIFIER_LOG"] = f"{prefix}.notify-log"
    return env


def _watch_stream(url: str, seen: dict[str, float], urls_at: list[float], stop: threading.Event) -> None:
    """Read the SSE stream; note when each transition kind is first seen (seconds after the URLs)."""
    with urllib.request.urlopen(f"{url}/api/alerts/stream", timeout=600) as response:
        event = ""
        for raw in response:
            if stop.is_set():
                return
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "transition":
                data = json.loads(line[6:])
                at = time.monotonic() - urls_at[0]
                seen.setdefault(data["event"], at)
                if not data["alert"]["patient_id"].startswith("DEMO-"):
                    seen.setdefault("first_mimic", at)


def one_run(broker: str, watch: float) -> dict[str, float | None]:
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        env = _env(broker, Path(tmp))
        started = time.monotonic()
        demo = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "demo"], env=env, cwd=tmp, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert demo.stdout is not None
        try:
            for line in demo.stdout:
                if "lytewatch is running" in line:
                    break
            else:
                raise SystemExit(f"demo exited with {demo.wait()} before printing its URLs")
            urls_at = [time.monotonic()]
            url = f"http://127.0.0.1:{env['LYTEWATCH_DASHBOARD_PORT']}"
            seen: dict[str, float] = {}
            stop = threading.Event()
            threading.Thread(target=_watch_stream, args=(url, seen, urls_at, stop), daemon=True).start()
            first: float | None = None
            while time.monotonic() - urls_at[0] < watch:
                if first is None:
                    with urllib.request.urlopen(f"{url}/api/alerts", timeout=5) as response:
                        if json.loads(response.read())["alerts"]:
                            first = time.monotonic() - urls_at[0]
                if first is not None and all(k in seen for k in KINDS):
                    break
                time.sleep(0.2)
            stop.set()
            return {
                "urls_after_start": urls_at[0] - started,
                "first_alert": first,
                "first_mimic": seen.get("first_mimic"),
                **{k: seen.get(k) for k in KINDS},
            }
        finally:
            demo.send_signal(signal.SIGTERM)
            demo.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--watch", type=float, default=150.0, help="seconds to watch after the URLs")
    parser.add_argument("--broker", default=os.environ.get("LYTEWATCH_TEST_KAFKA", "127.0.0.1:9092"))
    args = parser.parse_args()
    print("run  urls-after-start  first-alert  first-MIMIC  " + "  ".join(f"{k:>12}" for k in KINDS))
    for n in range(1, args.runs + 1):
        figures = one_run(args.broker, args.watch)

        def cell(value: float | None) -> str:
            return "never" if value is None else f"{value:.1f} s"

        print(
            f"{n:>3}  {cell(figures['urls_after_start']):>16}  {cell(figures['first_alert']):>11}  "
            f"{cell(figures['first_mimic']):>11}  " + "  ".join(f"{cell(figures[k]):>12}" for k in KINDS),
            flush=True,
        )


if __name__ == "__main__":
    main()
