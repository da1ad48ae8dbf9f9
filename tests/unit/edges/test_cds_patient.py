"""Which patient a hook is about: context.patientId, or the MRN of the prefetched Patient when configured."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.patient import Patient

from alerts.cds import discovery
from streams.edges.cds_hooks import BadRequest, HookRequest, patient_key

MRN_SYSTEM = "urn:oid:2.16.840.1.113883.19.5"


def hook(prefetch: dict[str, Any] | None = None, patient_id: str = "fhir-123") -> HookRequest:
    return HookRequest.model_validate(
        {
            "hook": "patient-view",
            "hookInstance": "i",
            "context": {"patientId": patient_id},
            "prefetch": prefetch,
        }
    )


def patient(*identifiers: tuple[str, str], pid: str = "fhir-123") -> dict[str, Any]:
    resource = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": s, "value": v} for s, v in identifiers],
    }
    return Patient.model_validate(resource).model_dump(mode="json", exclude_none=True)


def test_without_a_configured_system_the_patient_id_is_the_key() -> None:
    assert patient_key(hook(), None) == "fhir-123"


def test_with_a_configured_system_the_prefetched_mrn_is_the_key() -> None:
    prefetch = {"patient": patient(("urn:other", "X-9"), (MRN_SYSTEM, "MRN-EDGE-1"))}
    assert patient_key(hook(prefetch), MRN_SYSTEM) == "MRN-EDGE-1"


@pytest.mark.parametrize(
    ("prefetch", "why"),
    [
        (None, "prefetch.patient (Patient/{{context.patientId}}) is required"),
        ({"patient": patient(("urn:other", "X-9"))}, f"no identifier of system {MRN_SYSTEM}"),
        (
            {"patient": patient((MRN_SYSTEM, "M1"), pid="someone-else")},
            "is not the Patient of context.patientId",
        ),
    ],
)
def test_a_missing_or_mismatched_patient_is_a_bad_request(prefetch: dict[str, Any] | None, why: str) -> None:
    with pytest.raises(BadRequest) as info:
        patient_key(hook(prefetch), MRN_SYSTEM)
    assert why in str(info.value)


def test_discovery_asks_for_the_patient_only_when_it_is_needed() -> None:
    assert all("prefetch" not in s for s in discovery()["services"])
    assert all(
        s["prefetch"] == {"patient": "Patient/{{context.patientId}}"}
        for s in discovery(prefetch_patient=True)["services"]
    )
