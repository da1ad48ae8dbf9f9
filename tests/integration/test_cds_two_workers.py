"""Two workers: a CDS Hooks request or a state read landing on the worker that does not own the patient."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.edges import Ehr, assert_cds_response, hook_request, medication_request, post_json
from tests.support.kafka import produce
from tests.support.ports import free_port
from tests.support.processes import WorkerEnv, running_worker
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "two-workers-state-token"
PATIENTS = [f"P-TW-{i}" for i in range(8)]


def read_state(env: WorkerEnv, patient: str) -> tuple[int, str, dict[str, Any]]:
    """(status, the worker that answered, the view) of GET /patients/{id}/state on this worker."""
    request = urllib.request.Request(f"{env.url}/patients/{patient}/state")
    request.add_header("Authorization", f"Bearer {TOKEN}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return (
                int(response.status),
                response.headers["X-Lytewatch-Answered-By"],
                json.loads(response.read()),
            )
    except urllib.error.HTTPError as exc:
        return int(exc.code), "", json.loads(exc.read())
    except OSError:
        return -1, "", {}


def owners(first: WorkerEnv, second: WorkerEnv) -> dict[str, str] | None:
    """Patient -> the worker that answered, when both workers agree on every patient; else None."""
    found: dict[str, str] = {}
    for patient in PATIENTS:
        a, b = read_state(first, patient), read_state(second, patient)
        if a[0] != 200 or b[0] != 200 or a[1] != b[1]:
            return None
        found[patient] = a[1]
    return found


def test_a_request_landing_on_the_other_worker_is_answered_from_the_owner(
    make_worker_env: Callable[..., WorkerEnv], tmp_path: Path
) -> None:
    ehr = Ehr(tmp_path, aud="")
    first = make_worker_env(
        LYTEWATCH_STATE_TOKEN=TOKEN, LYTEWATCH_CDS_ISSUERS=json.dumps({Ehr.ISS: str(ehr.jwks)})
    )
    second = dataclasses.replace(first, web_port=free_port(), data_dir=tmp_path / "second")
    with running_worker(first, tmp_path / "first.log"), running_worker(second, tmp_path / "second.log"):
        at = "2026-03-02T10:00:00Z"
        labs = [
            (p.encode(), orjson.dumps({"result_id": f"{code}-{p}", "patient_id": p, "code": code,
                                       "value": value, "unit": "mmol/L", "collected_at": at}))
            for p in PATIENTS
            for code, value in (("2823-3", 3.1), ("2601-3", 0.55))
        ]  # fmt: skip
        asyncio.run(produce(first.bootstrap, first.topics["labs"], labs))
        # Wait until the group has settled: both workers name the same owner for every patient, and it
        # holds the results.
        def settled() -> dict[str, str] | None:
            found = owners(first, second)
            stored = found and all(read_state(first, p)[2].get("magnesium") for p in PATIENTS)
            return found if stored else None

        found = eventually(settled, "the workers to agree on who owns each patient", within=180, interval=1)
        print("owners:", found)
        assert set(found.values()) == {first.url, second.url}, "both workers should own some patients"

        for receiver, other in ((first, second), (second, first)):
            patient = next(p for p, owner in found.items() if owner == other.url)
            status, answered_by, view = read_state(receiver, patient)
            assert (status, answered_by) == (200, other.url)
            assert view["potassium"]["value"] == 3.1
            service = f"{receiver.url}/cds-services/lytewatch-order-sign"
            token = ehr.token(aud=service)
            request = hook_request(
                "order-sign", patient, medication_request(patient, text="Furosemide 40 mg")
            )
            status, body = post_json(service, request, headers={"Authorization": f"Bearer {token}"})
            assert status == 200, body
            (card,) = assert_cds_response(body)
            assert card["indicator"] == "warning"
            assert card["summary"].startswith("K 3.1 mmol/L and Mg 0.55 mmol/L low")
