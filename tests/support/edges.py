"""Helpers for edge tests: FHIR draft orders, hook requests, the CDS Hooks response schema, MLLP."""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import jsonschema_rs
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.medicationrequest import MedicationRequest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

REPO = Path(__file__).resolve().parents[2]
MLLP_SEND = Path(sys.executable).parent / "mllp_send"
EXAMPLES = REPO / "docs" / "examples" / "hl7"
SB, EB_CR = b"\x0b", b"\x1c\r"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

_SCHEMA = jsonschema_rs.Draft202012Validator(
    json.loads((Path(__file__).parent / "cds_hooks_response.schema.json").read_text()), validate_formats=True
)


def assert_cds_response(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Fail with every schema violation of a CDS Hooks response; return its cards."""
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in _SCHEMA.iter_errors(body)]
    assert not errors, f"not a CDS Hooks 2.0 response: {errors}\n{json.dumps(body, indent=1)}"
    cards: list[dict[str, Any]] = body["cards"]
    return cards


def medication_request(
    patient: str,
    *,
    rid: str = "draft-1",
    code: str | None = None,
    display: str | None = None,
    text: str | None = None,
    authored: str | None = None,
) -> dict[str, Any]:
    """A draft FHIR R4 MedicationRequest, validated by fhir.resources (R4B) before it is used."""
    coding = [{"system": RXNORM, "code": code, "display": display}] if code else []
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient}"},
        "medicationCodeableConcept": {"coding": coding, "text": text or display},
    }
    if authored:
        resource["authoredOn"] = authored
    return MedicationRequest.model_validate(resource).model_dump(mode="json", exclude_none=True)


def hook_request(
    hook: str, patient: str, *drafts: dict[str, Any], selections: list[str] | None = None
) -> dict[str, Any]:
    """A CDS Hooks 2.0 request body; draft orders go in a validated FHIR Bundle."""
    context: dict[str, Any] = {"userId": "Practitioner/dr-1", "patientId": patient}
    if hook in ("order-sign", "order-select"):
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": d} for d in drafts]}
        context["draftOrders"] = Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)
    if selections is not None:
        context["selections"] = selections
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}


def example_messages() -> list[bytes]:
    """The messages of docs/examples/hl7/*.hl7 as `mllp_send --loose` sends them (segments end in CR)."""
    messages: list[bytes] = []
    for path in sorted(EXAMPLES.glob("*.hl7")):
        for chunk in path.read_bytes().replace(b"\r\n", b"\n").split(b"\nMSH|"):
            body = chunk if chunk.startswith(b"MSH|") else b"MSH|" + chunk
            messages.append(body.strip().replace(b"\n", b"\r"))
    assert messages, f"no HL7 example messages in {EXAMPLES}"
    return messages


def frame(message: bytes) -> bytes:
    return SB + message + EB_CR


def read_ack(sock: socket.socket, timeout: float = 30.0) -> bytes:
    """One MLLP-framed ACK from a raw socket (the frame's content)."""
    sock.settimeout(timeout)
    data = b""
    while EB_CR not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a whole ACK arrived: {data!r}")
        data += chunk
    assert data.startswith(SB), data
    return data[1 : data.index(EB_CR)]


def ack_code(ack: bytes) -> str:
    """MSA-1 of an ACK."""
    for segment in ack.split(b"\r"):
        if segment.startswith(b"MSA|"):
            return segment.split(b"|")[1].decode()
    raise AssertionError(f"no MSA segment in {ack!r}")


class Ehr:
    """An EHR with its own signing key and published JWKS, signing CDS Hooks JWTs for `aud`."""

    ISS = "https://ehr.example.org"

    def __init__(self, jwks_dir: Path, aud: str, alg: str = "ES384") -> None:
        self.alg, self.aud = alg, aud
        self.key: ECKey | RSAKey = (
            ECKey.generate_key("P-384", parameters={"kid": "k1"})
            if alg == "ES384"
            else RSAKey.generate_key(2048, parameters={"kid": "r1"})
        )
        self.jwks = jwks_dir / f"jwks-{alg}.json"
        self.publish()

    def publish(self) -> None:
        self.jwks.write_text(json.dumps(KeySet([self.key]).as_dict(private=False)))

    def token(self, **claims: Any) -> str:
        """A signed JWT; a claim given as None is left out."""
        now = int(time.time())
        body = {
            "iss": self.ISS,
            "aud": self.aud,
            "iat": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        header = {"alg": self.alg, "typ": "JWT", "kid": self.key.kid}
        return jwt.encode(header, body, self.key, algorithms=[self.alg])


def post_json(
    url: str, body: object, *, headers: dict[str, str] | None = None, raw: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    """POST a JSON body (or `raw` bytes); the status and the JSON answer, errors included."""
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())
