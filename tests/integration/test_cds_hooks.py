"""CDS Hooks on a real worker: discovery, hooks with FHIR drafts, JWT, bad requests, feedback, state API."""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.edges import Ehr, assert_cds_response, hook_request, medication_request, post_json
from tests.support.kafka import consume, produce
from tests.support.processes import Process, WorkerEnv, http_get, running_worker
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

STATE_TOKEN = "state-token-for-tests"
DAY = "2026-03-02"


def lab(patient: str, rid: str, code: str, value: float, at: str = "10:00") -> tuple[bytes, bytes]:
    body = {"result_id": rid, "patient_id": patient, "code": code, "system": "http://loinc.org",
            "value": value, "unit": "mmol/L", "collected_at": f"{DAY}T{at}:00Z"}  # fmt: skip
    return patient.encode(), orjson.dumps(body)


def furosemide(patient: str) -> tuple[bytes, bytes]:
    body = {"order_id": f"O-{patient}", "patient_id": patient, "medication": {"display": "Furosemide 40 mg"},
            "status": "active", "start": f"{DAY}T08:00:00Z", "recorded_at": f"{DAY}T08:00:00Z"}  # fmt: skip
    return patient.encode(), orjson.dumps(body)


@pytest.fixture(scope="module")
def jwks_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real local HTTP server publishing the EHR's JWKS, as an EHR does."""
    root = tmp_path_factory.mktemp("jwks")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


class Worker:
    def __init__(self, env: WorkerEnv, process: Process, ehr: Ehr) -> None:
        self.env, self.process, self.ehr = env, process, ehr

    def service(self, service_id: str) -> str:
        return f"{self.env.url}/cds-services/{service_id}"

    def call(self, service_id: str, body: object, **claims: Any) -> tuple[int, dict[str, Any]]:
        token = self.ehr.token(**{"aud": self.service(service_id), **claims})
        return post_json(self.service(service_id), body, headers={"Authorization": f"Bearer {token}"})

    def cards(self, service_id: str, body: object) -> list[dict[str, Any]]:
        status, answer = self.call(service_id, body)
        assert status == 200, answer
        return assert_cds_response(answer)


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, jwks_server: tuple[str, Path]
) -> Iterator[Worker]:
    url, root = jwks_server
    tmp = tmp_path_factory.mktemp("cds-worker")
    ehr = Ehr(root, aud="")
    env = WorkerEnv(bootstrap=kafka_bootstrap, prefix=f"t-cds-{uuid.uuid4().hex[:8]}", data_dir=tmp / "data")
    env.extra = {
        "LYTEWATCH_CDS_ISSUERS": json.dumps({Ehr.ISS: f"{url}/{ehr.jwks.name}"}),
        "LYTEWATCH_STATE_TOKEN": STATE_TOKEN,
        "LYTEWATCH_DASHBOARD_PUBLIC_URL": "https://lytewatch.hospital.example",
    }
    with running_worker(env, tmp / "worker.log") as process:
        asyncio.run(
            produce(
                env.bootstrap, env.topics["orders"], [furosemide(p) for p in ("P-LOW", "P-KONLY", "P-CRIT")]
            )
        )
        asyncio.run(
            produce(
                env.bootstrap,
                env.topics["labs"],
                [
                    lab("P-LOW", "K-LOW", "2823-3", 3.1), lab("P-LOW", "MG-LOW", "2601-3", 0.55),
                    lab("P-NORM", "K-NORM", "2823-3", 4.2), lab("P-NORM", "MG-NORM", "2601-3", 0.9),
                    lab("P-KONLY", "K-KONLY", "2823-3", 3.2),
                    lab("P-CRIT", "K-CRIT", "2823-3", 2.4), lab("P-CRIT", "MG-CRIT", "2601-3", 0.6),
                ],
            )
        )  # fmt: skip
        alerts = asyncio.run(consume(env.bootstrap, env.topics["alerts"], expected=3, timeout=90))
        assert {orjson.loads(a.value)["patient_id"] for a in alerts} <= {"P-CRIT", "P-KONLY", "P-LOW"}
        w = Worker(env, process, ehr)
        # Alerts are published before the state is stored: wait until the read path shows all three.
        wanted = {"P-LOW": "KMG_COMBINED", "P-KONLY": "KMG_CHECK_MG", "P-CRIT": "KMG_COMBINED"}

        def expected_alerts_open() -> bool:
            views = {p: state(w, p)[1] for p in wanted}
            return all([a["rule"] for a in v.get("open_alerts", [])] == [wanted[p]] for p, v in views.items())

        eventually(expected_alerts_open, "the worker's read path to show the three open alerts", interval=0.5)
        yield w


def state(w: Worker, patient: str, token: str | None = STATE_TOKEN) -> tuple[int, dict[str, Any]]:
    import urllib.request

    request = urllib.request.Request(f"{w.env.url}/patients/{patient}/state")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def test_discovery_lists_the_services(worker: Worker) -> None:
    status, body = http_get(f"{worker.env.url}/cds-services")
    assert status == 200
    services = json.loads(body)["services"]
    assert {(s["id"], s["hook"]) for s in services} == {
        ("lytewatch-patient-view", "patient-view"),
        ("lytewatch-order-sign", "order-sign"),
        ("lytewatch-order-select", "order-select"),
    }
    assert all(s["title"] and s["description"] for s in services)


def test_patient_view_has_a_card_per_open_alert(worker: Worker) -> None:
    (card,) = worker.cards("lytewatch-patient-view", hook_request("patient-view", "P-LOW"))
    assert card["indicator"] == "warning"
    assert card["summary"] == "High: K 3.1 mmol/L and Mg 0.55 mmol/L on furosemide (loop diuretic)"
    assert card["links"][0]["url"].startswith("https://lytewatch.hospital.example/#/alerts/kmg-")
    (critical,) = worker.cards("lytewatch-patient-view", hook_request("patient-view", "P-CRIT"))
    assert critical["indicator"] == "critical"
    (advisory,) = worker.cards("lytewatch-patient-view", hook_request("patient-view", "P-KONLY"))
    assert advisory["indicator"] == "info"
    assert worker.cards("lytewatch-patient-view", hook_request("patient-view", "P-NORM")) == []
    assert worker.cards("lytewatch-patient-view", hook_request("patient-view", "P-UNKNOWN")) == []


@pytest.mark.parametrize(
    ("draft", "expected"),
    [
        ({"code": "4603", "display": "furosemide"}, "warning"),
        ({"text": "Hydrochlorothiazide 25 mg tablet"}, "warning"),
        ({"text": "Lasix 40 mg tablet"}, "warning"),
        ({"text": "Maxzide 37.5-25 mg (triamterene / hydrochlorothiazide)"}, "warning"),
        ({"code": "167", "display": "acetazolamide"}, "warning"),
        ({"text": "Spironolactone 25 mg tablet"}, None),
    ],
)
def test_order_sign_by_drug(worker: Worker, draft: dict[str, str], expected: str | None) -> None:
    cards = worker.cards(
        "lytewatch-order-sign", hook_request("order-sign", "P-LOW", medication_request("P-LOW", **draft))
    )
    assert [c["indicator"] for c in cards] == ([expected] if expected else [])
    if expected:
        assert cards[0]["summary"].startswith("K 3.1 mmol/L and Mg 0.55 mmol/L low")
        assert "collected 2026-03-02 10:00 UTC" in cards[0]["detail"]


def test_order_sign_normal_stale_critical_and_missing_mg(worker: Worker) -> None:
    def sign(patient: str, **draft: str) -> list[dict[str, Any]]:
        draft.setdefault("text", "Furosemide 40 mg IV")
        request = hook_request("order-sign", patient, medication_request(patient, **draft))
        return worker.cards("lytewatch-order-sign", request)

    assert sign("P-NORM") == []
    # Authored four days after the last values: K and Mg are out of their windows, so stale.
    assert sign("P-LOW", authored="2026-03-06T10:00:00Z") == []
    assert [c["indicator"] for c in sign("P-CRIT")] == ["critical"]
    warning, info = sign("P-KONLY")
    assert (warning["indicator"], info["indicator"]) == ("warning", "info")
    assert info["summary"] == "K 3.2 mmol/L and no magnesium in 72 h: order a Mg level"


def test_order_select_looks_at_the_selected_orders_only(worker: Worker) -> None:
    drafts = (
        medication_request("P-LOW", rid="d-furo", text="Furosemide 40 mg IV"),
        medication_request("P-LOW", rid="d-spiro", text="Spironolactone 25 mg"),
    )
    spiro = hook_request("order-select", "P-LOW", *drafts, selections=["MedicationRequest/d-spiro"])
    assert worker.cards("lytewatch-order-select", spiro) == []
    furo = hook_request("order-select", "P-LOW", *drafts, selections=["MedicationRequest/d-furo"])
    assert [c["indicator"] for c in worker.cards("lytewatch-order-select", furo)] == ["warning"]


def test_jwt_accepted_expired_wrong_audience_unknown_issuer_and_replay(worker: Worker) -> None:
    body = hook_request("patient-view", "P-LOW")
    url = worker.service("lytewatch-patient-view")
    assert worker.call("lytewatch-patient-view", body)[0] == 200
    status, answer = post_json(url, body)
    assert (status, answer["error"]) == (
        401,
        "a bearer JWT from the EHR is required (CDS Hooks 2.0 authorization)",
    )
    status, answer = worker.call("lytewatch-patient-view", body, exp=int(time.time()) - 300)
    assert status == 401 and "expired" in answer["error"]
    status, answer = worker.call("lytewatch-patient-view", body, aud=worker.service("lytewatch-order-sign"))
    assert status == 401 and "aud" in answer["error"]
    status, answer = worker.call("lytewatch-patient-view", body, iss="https://rogue.example.org")
    assert status == 401 and "not trusted" in answer["error"]
    token = worker.ehr.token(aud=url)
    assert post_json(url, body, headers={"Authorization": f"Bearer {token}"})[0] == 200
    status, answer = post_json(url, body, headers={"Authorization": f"Bearer {token}"})
    assert status == 401 and "already used" in answer["error"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"{not json", "Invalid JSON"),
        (lambda b: {**b, "context": {"userId": "x"}}, "context.patientId is required"),
        (lambda b: {**b, "hook": "patient-view"}, "hook 'patient-view' sent to the order-sign service"),
        (lambda b: {**b, "context": {"patientId": "P-LOW"}}, "context.draftOrders: a FHIR Bundle"),
        (
            lambda b: {**b, "context": {"patientId": "P-LOW", "draftOrders": {"resourceType": "Bundle",
                "entry": [{"resource": {"resourceType": "MedicationRequest", "id": "x"}}]}}},
            "MedicationRequest.status",
        ),
    ],
)  # fmt: skip
def test_bad_requests_get_400_with_a_message(worker: Worker, mutate: Any, message: str) -> None:
    body = mutate(hook_request("order-sign", "P-LOW", medication_request("P-LOW", text="Furosemide")))
    token = worker.ehr.token(aud=worker.service("lytewatch-order-sign"))
    raw = body if isinstance(body, bytes) else None
    status, answer = post_json(
        worker.service("lytewatch-order-sign"), body, headers={"Authorization": f"Bearer {token}"}, raw=raw
    )
    assert status == 400 and message in answer["error"], answer


def test_feedback_is_stored_on_its_topic_and_counted(worker: Worker) -> None:
    (card,) = worker.cards(
        "lytewatch-order-sign", hook_request("order-sign", "P-LOW", medication_request("P-LOW", text="Lasix"))
    )
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": card["overrideReasons"][0], "userComment": "KCl and Mg given"},
                "outcomeTimestamp": "2026-03-02T10:30:00Z",
            }
        ]
    }
    token = worker.ehr.token(aud=worker.service("lytewatch-order-sign") + "/feedback")
    status, answer = post_json(
        worker.service("lytewatch-order-sign") + "/feedback",
        feedback,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert (status, answer) == (200, {"stored": 1})
    (record,) = asyncio.run(consume(worker.env.bootstrap, worker.env.topics["cds_feedback"], expected=1))
    stored = orjson.loads(record.value)
    assert record.key == card["uuid"].encode()
    assert (stored["service"], stored["outcome"], stored["overrideReason"]["reason"]["code"]) == (
        "lytewatch-order-sign", "overridden", "replacement-ordered",
    )  # fmt: skip
    _, metrics = http_get(f"{worker.env.url}/metrics")
    assert (
        'lytewatch_cds_feedback_total{outcome="overridden",service="lytewatch-order-sign"} 1.0'
        in metrics.decode()
    )
    assert 'lytewatch_cds_requests_total{outcome="cards",service="lytewatch-order-sign"}' in metrics.decode()


def test_browsers_may_call_the_services_cors(worker: Worker) -> None:
    import urllib.request

    preflight = urllib.request.Request(
        worker.service("lytewatch-order-sign"),
        method="OPTIONS",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    with urllib.request.urlopen(preflight, timeout=10) as response:
        allowed = response.headers
    assert allowed["Access-Control-Allow-Origin"] in ("*", "https://sandbox.cds-hooks.org")
    assert "POST" in allowed["Access-Control-Allow-Methods"]
    assert "AUTHORIZATION" in allowed["Access-Control-Allow-Headers"].upper()


def test_the_state_api_needs_the_token_and_names_the_values(worker: Worker) -> None:
    assert state(worker, "P-LOW", token=None)[0] == 401
    assert state(worker, "P-LOW", token="wrong")[0] == 401
    status, view = state(worker, "P-LOW")
    assert status == 200
    assert (view["potassium"]["value"], view["potassium"]["collected_at"]) == (3.1, "2026-03-02T10:00:00Z")
    assert (view["magnesium"]["value"], view["magnesium"]["as_sent"]) == (
        0.55,
        {"value": 0.55, "unit": "mmol/L"},
    )
    assert [(d["ingredient"], d["class"]) for d in view["diuretics"]] == [("furosemide", "loop")]
    assert [(a["rule"], a["severity"]) for a in view["open_alerts"]] == [("KMG_COMBINED", "high")]
