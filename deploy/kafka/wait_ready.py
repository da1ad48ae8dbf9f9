"""Wait until a Kafka broker answers a Metadata request (stdlib only, so it runs before the venv exists)."""

from __future__ import annotations

import argparse
import socket
import ssl
import struct
import sys
import time

_METADATA_API_KEY = 3
# Metadata v4 is the oldest version Kafka 4 still serves (KIP-896) and is not a "flexible" version,
# so its encoding stays simple.
_METADATA_VERSION = 4


def _metadata_request(correlation_id: int) -> bytes:
    client_id = b"lytewatch-wait"
    header = struct.pack(">hhih", _METADATA_API_KEY, _METADATA_VERSION, correlation_id, len(client_id))
    body = struct.pack(">i?", -1, False)  # all topics, do not auto-create
    payload = header + client_id + body
    return struct.pack(">i", len(payload)) + payload


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data


def broker_count(host: str, port: int, timeout: float, cafile: str | None = None) -> int:
    """Send one Metadata request and return how many brokers the cluster reports (over TLS with `cafile`)."""
    with socket.create_connection((host, port), timeout=timeout) as raw:
        sock = raw
        if cafile is not None:
            sock = ssl.create_default_context(cafile=cafile).wrap_socket(raw, server_hostname=host)
        sock.settimeout(timeout)
        sock.sendall(_metadata_request(correlation_id=7))
        (size,) = struct.unpack(">i", _read_exact(sock, 4))
        response = _read_exact(sock, size)
    correlation_id, _throttle_ms, brokers = struct.unpack(">iii", response[:12])
    if correlation_id != 7:
        raise ConnectionError(f"unexpected correlation id {correlation_id}")
    return int(brokers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait in total")
    parser.add_argument("--cafile", help="speak TLS, trusting this CA (the secured broker's SSL listener)")
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        try:
            if broker_count(args.host, args.port, timeout=2.0, cafile=args.cafile) >= 1:
                return 0
            last_error = "metadata lists no broker yet"
        except (OSError, ConnectionError, struct.error) as exc:
            last_error = str(exc) or type(exc).__name__
        time.sleep(0.25)
    where = f"{args.host}:{args.port}"
    print(f"broker at {where} did not answer a metadata request: {last_error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
