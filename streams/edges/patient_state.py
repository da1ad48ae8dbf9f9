"""The read path GET /patients/{id}/state, answered by the worker that owns the patient's partition."""

from __future__ import annotations

import hmac
import logging
from urllib.parse import quote

import aiohttp
from faust.web import Request, Response, View
from yarl import URL

from alerts.patient_view import PatientView, describe
from streams.worker.runtime import Runtime
from streams.worker.stored import load_patient

log = logging.getLogger(__name__)

# Set on worker-to-worker requests: a worker that is asked never forwards again (no loops mid-rebalance).
ROUTED_HEADER = "X-Lytewatch-Routed"
# On every state response: the worker whose table answered (operators tracing a request see the hop).
ANSWERED_BY_HEADER = "X-Lytewatch-Answered-By"
_TIMEOUT = aiohttp.ClientTimeout(total=5.0)


class StateUnavailable(Exception):
    """The patient's state cannot be read right now (rebalance, recovery, owner unreachable)."""


def local_view(rt: Runtime, patient_id: str) -> PatientView:
    """The view from this worker's copy of the table (only right on the owning worker)."""
    stored = load_patient(rt.patients, patient_id.encode())
    return describe(patient_id, stored.state if stored else None, rt.rules)


def _owner(rt: Runtime, patient_id: str) -> URL | None:
    """The owning worker's URL, None when it is this one."""
    try:
        url = rt.app.router.key_store(rt.patients.name, patient_id.encode())
    except KeyError:
        raise StateUnavailable("no worker owns the partition yet (the group is rebalancing)") from None
    own = URL(str(rt.app.conf.canonical_url))
    if (url.host, url.port) == (own.host, own.port):
        return None
    return url


async def patient_view(rt: Runtime, patient_id: str, *, routed: bool = False) -> tuple[PatientView, str]:
    """The patient's view and the URL of the worker that read it; StateUnavailable when it cannot be had."""
    if not rt.recovery.completed.is_set():
        raise StateUnavailable("the state table is still being recovered from its changelog")
    owner = _owner(rt, patient_id)
    if owner is None:
        return local_view(rt, patient_id), str(rt.app.conf.canonical_url)
    if routed:
        raise StateUnavailable("the partition moved while the request was being forwarded; retry")
    headers = {ROUTED_HEADER: "1"}
    token = rt.settings.state_token
    if token is not None:
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    elif not rt.settings.cds_allow_unauthenticated:
        raise StateUnavailable("another worker owns this patient and LYTEWATCH_STATE_TOKEN is not set")
    url = owner.with_path(f"/patients/{quote(patient_id, safe='')}/state")
    try:
        async with rt.app.http_client.get(url, headers=headers, timeout=_TIMEOUT) as response:
            body = await response.read()
            if response.status != 200:
                raise StateUnavailable(f"the owning worker answered {response.status}")
            answered_by = response.headers.get(ANSWERED_BY_HEADER, str(owner))
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise StateUnavailable(f"the owning worker did not answer ({type(exc).__name__})") from None
    return PatientView.model_validate_json(body), answered_by


def state_request_allowed(rt: Runtime, request: Request) -> bool:
    """The state API: open for local development, else the state token as a bearer token."""
    if rt.settings.cds_allow_unauthenticated:
        return True
    token = rt.settings.state_token
    given = request.headers.get("Authorization", "")
    return token is not None and hmac.compare_digest(given, f"Bearer {token.get_secret_value()}")


def register_state_page(rt: Runtime) -> None:
    @rt.app.page("/patients/{patient_id}/state")
    class PatientState(View):
        async def get(self, request: Request, patient_id: str) -> Response:
            if not state_request_allowed(rt, request):
                return self.json({"error": "a bearer token (LYTEWATCH_STATE_TOKEN) is required"}, status=401)
            try:
                view, answered_by = await patient_view(
                    rt, patient_id, routed=request.headers.get(ROUTED_HEADER) == "1"
                )
            except StateUnavailable as exc:
                return self.json({"error": str(exc)}, status=503)
            return self.bytes(
                view.model_dump_json().encode(),
                content_type="application/json",
                headers={ANSWERED_BY_HEADER: answered_by},
            )
