"""CDS Hooks 2.0 on the worker's web port: discovery, patient-view, order-sign/-select and feedback."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError
from faust.types.web import ResourceOptions
from faust.web import Request, Response, View
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts.cds import (
    ORDER_SELECT,
    PATIENT_VIEW,
    SERVICES,
    Card,
    DraftOrder,
    discovery,
    order_cards,
    patient_view_cards,
)
from streams.codecs.fhir import classify_request
from streams.edges.cds_auth import AuthError, JwtVerifier
from streams.edges.patient_state import StateUnavailable, patient_view, register_state_page
from streams.errors import DecodeError
from streams.kafka import producer
from streams.settings import Settings
from streams.worker.runtime import Runtime

log = logging.getLogger(__name__)

_FETCH_TIMEOUT = aiohttp.ClientTimeout(total=5.0)
_FEEDBACK_WAIT_S = 8.0
# CDS Hooks services answer browsers too (SMART-launched EHR front ends, the CDS Hooks sandbox): CORS for
# any origin, without cookies; the JWT travels in the Authorization header.
_CORS = {
    "*": ResourceOptions(
        allow_credentials=False,
        allow_headers=("Authorization", "Content-Type"),
        allow_methods=("GET", "POST"),
        max_age=3600,
    )
}


class BadRequest(Exception):
    """The hook request is malformed; the message says what is wrong (HTTP 400)."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class HookRequest(_Lenient):
    """The parts of a CDS Hooks request lytewatch reads; the rest (fhirServer, prefetch...) is allowed."""

    hook: str
    hook_instance: str = Field(alias="hookInstance")
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


class FeedbackItem(_Lenient):
    card: str
    outcome: str = Field(pattern="^(accepted|overridden)$")
    outcome_timestamp: str = Field(alias="outcomeTimestamp")


class FeedbackRequest(_Lenient):
    feedback: list[FeedbackItem] = Field(min_length=1)


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


def patient_key(hook: HookRequest, identifier_system: str | None) -> str:
    """The patient id lytewatch keys by: context.patientId, or the prefetched Patient's MRN of `system`."""
    patient_id = hook.context.get("patientId")
    if not isinstance(patient_id, str) or not patient_id:
        raise BadRequest("context.patientId is required")
    if identifier_system is None:
        return patient_id
    patient = (hook.prefetch or {}).get("patient")
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        raise BadRequest("prefetch.patient (Patient/{{context.patientId}}) is required to find the MRN")
    if patient.get("id") not in (None, patient_id):
        raise BadRequest("prefetch.patient is not the Patient of context.patientId")
    for identifier in patient.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") == identifier_system:
            value = identifier.get("value")
            if isinstance(value, str) and value:
                return value
    raise BadRequest(f"prefetch.patient has no identifier of system {identifier_system}")


def draft_orders(rt: Runtime, context: dict[str, Any], service: str) -> list[DraftOrder]:
    """The MedicationRequests of context.draftOrders (only the selected ones for order-select)."""
    bundle = context.get("draftOrders")
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BadRequest("context.draftOrders: a FHIR Bundle is required")
    selections = context.get("selections") if service == ORDER_SELECT else None
    drafts: list[DraftOrder] = []
    for i, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise BadRequest(f"context.draftOrders.entry[{i}]: no resource")
        if resource.get("resourceType") != "MedicationRequest":
            continue  # lab orders, nutrition orders...: nothing of ours to check
        ref = f"MedicationRequest/{resource.get('id')}"
        if isinstance(selections, list) and ref not in selections:
            continue
        try:
            display, ingredients, authored = classify_request(resource, tz=rt.settings.tz, mapping=rt.mapping)
        except DecodeError as exc:
            raise BadRequest(f"context.draftOrders.entry[{i}]: {exc.detail}") from None
        drafts.append(DraftOrder(str(resource.get("id") or i), display, ingredients, authored))
    return drafts


class FeedbackStore:
    """Feedback onto its topic with a plain producer: acks=all and no endless retries, so 503 = not stored.

    faust's producer retries a batch until the broker is back, so feedback answered 503 would be written
    later and again when the EHR resends; this one gives a batch up after its timeout and never sends it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                candidate = producer(
                    self.settings,
                    enable_idempotence=False,
                    request_timeout_ms=int(_FEEDBACK_WAIT_S * 750),
                    linger_ms=0,
                )
                try:
                    await candidate.start()
                except BaseException:
                    await candidate.stop()
                    raise
                self._producer = candidate
            return self._producer

    async def store(self, records: list[tuple[bytes, dict[str, Any]]]) -> None:
        started = await self._started()
        topic = self.settings.topic_cds_feedback
        deliveries = [await started.send(topic, value=orjson.dumps(v), key=k) for k, v in records]
        await asyncio.gather(*deliveries)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()


class CdsHooks:
    """The service behind the pages: authentication, the patient's state, cards, feedback, metrics."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.verifier = JwtVerifier(rt.settings.cds_issuers, self._fetch)
        rt.metrics.prime_cds()
        self.feedback_store = FeedbackStore(rt.settings)
        base = rt.settings.cds_public_url or f"http://{rt.settings.web_host}:{rt.settings.web_port}"
        self.base_url = base.rstrip("/")

    async def _fetch(self, url: str) -> bytes:
        async with self.rt.app.http_client.get(url, timeout=_FETCH_TIMEOUT) as response:
            response.raise_for_status()
            return await response.read()

    async def authenticate(self, request: Request, service: str) -> None:
        if self.rt.settings.cds_allow_unauthenticated:
            return
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise AuthError("a bearer JWT from the EHR is required (CDS Hooks 2.0 authorization)")
        if not self.verifier.issuers:
            raise AuthError("no EHR issuer is configured (LYTEWATCH_CDS_ISSUERS)")
        service_url = f"{self.base_url}/cds-services/{service}"
        try:
            await self.verifier.verify(
                header.removeprefix("Bearer ").strip(), [service_url, service_url + "/feedback"]
            )
        except aiohttp.ClientError as exc:
            raise AuthError(f"the issuer's JWKS could not be fetched ({type(exc).__name__})") from None

    async def cards(self, service: str, body: bytes) -> list[Card]:
        try:
            hook = HookRequest.model_validate_json(body)
        except ValidationError as exc:
            raise BadRequest(_problem(exc)) from None
        expected = SERVICES[service][0]
        if hook.hook != expected:
            raise BadRequest(f"hook {hook.hook!r} sent to the {expected} service {service}")
        patient_id = patient_key(hook, self.rt.settings.cds_patient_identifier_system)
        drafts = draft_orders(self.rt, hook.context, service) if service != PATIENT_VIEW else []
        view, _ = await patient_view(self.rt, patient_id)
        rules = self.rt.rules
        if service == PATIENT_VIEW:
            return patient_view_cards(view, rules, self.rt.settings.dashboard_public_url)
        return order_cards(view, drafts, rules, service=service)

    async def feedback(self, service: str, body: bytes) -> int:
        try:
            request = FeedbackRequest.model_validate_json(body)
        except ValidationError as exc:
            raise BadRequest(_problem(exc)) from None
        received = datetime.now(UTC).isoformat()
        records = [
            (
                item.card.encode(),
                {"service": service, "received_at": received, **item.model_dump(by_alias=True)},
            )
            for item in request.feedback
        ]
        # Stored (acks=all) before we say so, within what an EHR waits for an answer; otherwise 503, nothing
        # stored, and the EHR may send it again.
        try:
            await asyncio.wait_for(self.feedback_store.store(records), timeout=_FEEDBACK_WAIT_S)
        except TimeoutError:
            raise KafkaTimeoutError("the broker did not confirm the feedback in time") from None
        for item in request.feedback:
            self.rt.metrics.count_cds_feedback(service, item.outcome)
        return len(request.feedback)


def register_cds_pages(rt: Runtime) -> None:
    """The CDS Hooks pages and the state read path on the worker's web server."""
    register_state_page(rt)
    service = CdsHooks(rt)
    metrics = rt.metrics

    @rt.app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def close_feedback_store(app: Any, **kwargs: Any) -> None:
        await service.feedback_store.close()

    identifier_system = rt.settings.cds_patient_identifier_system

    @rt.app.page("/cds-services", cors_options=_CORS)
    class Discovery(View):
        async def get(self, request: Request) -> Response:
            return self.json(discovery(prefetch_patient=identifier_system is not None))

    @rt.app.page("/cds-services/{service_id}", cors_options=_CORS)
    class Hook(View):
        async def post(self, request: Request, service_id: str) -> Response:
            if service_id not in SERVICES:
                return self.json({"error": f"no CDS service {service_id!r}"}, status=404)
            try:
                await service.authenticate(request, service_id)
                cards = await service.cards(service_id, await request.read())
            except AuthError as exc:
                metrics.count_cds_request(service_id, "unauthorized")
                return self.json({"error": str(exc)}, status=401)
            except BadRequest as exc:
                metrics.count_cds_request(service_id, "bad_request")
                return self.json({"error": str(exc)}, status=400)
            except StateUnavailable as exc:
                metrics.count_cds_request(service_id, "unavailable")
                log.warning("CDS %s: patient state unavailable: %s", service_id, exc)
                return self.json({"error": str(exc)}, status=503)
            metrics.count_cds_request(service_id, "cards" if cards else "no_cards")
            for card in cards:
                metrics.count_cds_card(service_id, card.indicator)
            body = {"cards": [c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in cards]}
            return self.json(body)

    @rt.app.page("/cds-services/{service_id}/feedback", cors_options=_CORS)
    class Feedback(View):
        async def post(self, request: Request, service_id: str) -> Response:
            if service_id not in SERVICES:
                return self.json({"error": f"no CDS service {service_id!r}"}, status=404)
            try:
                await service.authenticate(request, service_id)
                stored = await service.feedback(service_id, await request.read())
            except AuthError as exc:
                return self.json({"error": str(exc)}, status=401)
            except BadRequest as exc:
                return self.json({"error": str(exc)}, status=400)
            except (KafkaError, OSError) as exc:
                # Not stored, so not acknowledged: the EHR may send it again.
                log.warning("CDS feedback not stored (%s)", type(exc).__name__)
                return self.json({"error": "feedback could not be stored; retry"}, status=503)
            return self.json({"stored": stored})
