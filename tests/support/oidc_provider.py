"""A real OpenID provider for sign-in tests: node-oidc-provider (tests/support/oidc), installed on demand."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.processes import Process, http_get
from tests.support.waiting import eventually

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc"
#: The client and accounts provider.mjs configures.
CLIENT_ID = "lytewatch-dashboard"
VIEWER = ("vera.viewer", "Vera Viewer")
MIN_NODE = 20
ACKNOWLEDGER = ("ada.acker", "Ada Acker")


def install_provider() -> None:
    """`npm ci` from the pinned package-lock.json, once per lock file (a fresh clone installs it here)."""
    lock = PROVIDER_DIR / "package-lock.json"
    stamp = PROVIDER_DIR / "node_modules" / ".lytewatch-lock-sha256"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest:
        return
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.fail(
            "Node.js and npm run the OpenID provider of the sign-in tests: apt-get install nodejs npm"
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    if int(version.lstrip("v").split(".")[0] or 0) < MIN_NODE:
        pytest.fail(f"oidc-provider 9 needs Node.js {MIN_NODE}+ (found {version.strip()}); see nodejs.org")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PROVIDER_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"npm ci in {PROVIDER_DIR} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    stamp.write_text(digest)


@dataclass(frozen=True)
class Provider:
    issuer: str
    process: Process


@contextlib.contextmanager
def running_provider(dashboard_url: str, log_path: Path) -> Iterator[Provider]:
    """The provider on http://localhost:<free port>: another site than the dashboard's 127.0.0.1, as a
    hospital's identity provider is, so the cross-site redirect back is exercised for real."""
    install_provider()
    port = free_port()
    issuer = f"http://localhost:{port}"
    args = [issuer, str(port), f"{dashboard_url}/auth/callback", f"{dashboard_url}/auth/signed-out"]
    process = Process(
        args,
        {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        log_path,
        program=["node", str(PROVIDER_DIR / "provider.mjs")],
    )
    try:

        def ready() -> bool:
            with contextlib.suppress(OSError):
                return http_get(f"http://127.0.0.1:{port}/.well-known/openid-configuration")[0] == 200
            return False

        eventually(ready, "the OpenID provider to answer", within=60, interval=0.2, alive=process.death)
        yield Provider(issuer, process)
    finally:
        process.stop()
