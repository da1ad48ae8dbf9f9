"""The dashboard API's request shape and its OpenAPI 3.1 description, built from the pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import models_json_schema

from alerts.errors import InvalidInputError
from alerts.models import AlertEvent, RuleId, Severity
from streams.codecs.limits import NAME, NOTE, Limit, check
from streams.web.alert_book import AlertView
from streams.web.openapi_clinical import CLINICAL_MODELS, clinical_paths
from streams.web.session import SESSION_COOKIE

# What streams/codecs/limits.py refuses (alerts/text.py), as JSON Schema patterns for the API description.
_REFUSED = r"\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_NO_CONTROL = f"^[^{_REFUSED}]*$"
_NOTE_TEXT = "^[^" + _REFUSED.replace("\\u0000-\\u001f", "\\u0000-\\u0008\\u000b-\\u001f") + "]*$"


class AckRequest(BaseModel):
    """The body of POST /api/alerts/{alert_id}/ack."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    by: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="who acknowledges (name or user id); ignored when the caller is signed in or uses a "
        "named token (their verified identity is recorded); no control or bidi characters",
        json_schema_extra={"pattern": _NO_CONTROL},
    )
    note: str | None = Field(
        default=None,
        max_length=2000,
        description="free text; lines and tabs allowed, no other control or bidi characters",
        json_schema_extra={"pattern": _NOTE_TEXT},
    )

    @field_validator("by")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return _within(value, NAME, "by")

    @field_validator("note")
    @classmethod
    def _note_text(cls, value: str | None) -> str | None:
        return None if value is None else _within(value, NOTE, "note")


def _within(value: str, limit: Limit, field: str) -> str:
    """The rule of ingest (streams/codecs/limits.py): refuse here what would be dead-lettered there."""
    try:
        check(value, limit, field)
    except InvalidInputError as exc:
        raise ValueError(exc.detail) from None
    return value


_REF = "#/components/schemas/{model}"
Security = list[dict[str, list[str]]]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json_content(_ref("Error"))}


_FILTERS: list[dict[str, Any]] = [
    {
        "name": "unit",
        "in": "query",
        "required": False,
        "description": "only alerts of this nursing unit (case-insensitive)",
        "schema": {"type": "string"},
    },
    {
        "name": "min_severity",
        "in": "query",
        "required": False,
        "description": "only alerts at least this severe",
        "schema": {"type": "string", "enum": [s.value for s in Severity]},
    },
    {
        "name": "rule",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": [r.value for r in RuleId]},
    },
]

_ALERT_ID = {"name": "alert_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _schemas() -> dict[str, Any]:
    _, top = models_json_schema(
        [
            (AlertView, "serialization"),
            (AlertEvent, "serialization"),
            (AckRequest, "validation"),
            *((model, "serialization") for model in CLINICAL_MODELS),
        ],
        ref_template=_REF,
    )
    schemas: dict[str, Any] = dict(top["$defs"])
    schemas["Error"] = {
        "type": "object",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string", "description": "machine-readable code"},
            "detail": {"type": "string"},
            "problems": {"type": "array", "items": {"type": "object"}},
        },
    }
    schemas["AlertList"] = {
        "type": "object",
        "required": ["seq", "caught_up", "alerts"],
        "properties": {
            "seq": {"type": "integer", "description": "sequence number of the latest transition"},
            "caught_up": {"type": "boolean", "description": "the alerts topic was read to its end"},
            "alerts": {"type": "array", "items": _ref("AlertView")},
        },
    }
    schemas["AlertDetail"] = {
        "type": "object",
        "required": ["alert", "history"],
        "properties": {
            "alert": _ref("AlertView"),
            "history": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["seq", "event"],
                    "properties": {"seq": {"type": "integer"}, "event": _ref("AlertEvent")},
                },
            },
            "history_omitted": {
                "type": "integer",
                "description": "events dropped between the first and the latest kept "
                "(LYTEWATCH_DASHBOARD_HISTORY_PER_ALERT)",
            },
        },
    }
    schemas["AckAccepted"] = {
        "type": "object",
        "required": ["status", "alert_id", "by", "at", "note"],
        "properties": {
            "status": {"const": "accepted"},
            "alert_id": {"type": "string"},
            "by": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
    }
    schemas["Health"] = {
        "type": "object",
        "required": ["status", "caught_up"],
        "properties": {
            "status": {"type": "string"},
            "caught_up": {"type": "boolean"},
            "open_alerts": {"type": "integer"},
        },
    }
    return schemas


_STREAM_DESCRIPTION = """\
Server-Sent Events. Without a resume point the first event is `snapshot` (data: an AlertList, id: its
`seq`); then one `transition` event per applied alert event (id: its sequence number; data:
`{"seq", "event", "in_view", "alert": AlertView}`; `in_view` false means remove the alert from the view).
With `Last-Event-ID` (header, or `last_event_id` query parameter) from this run of the service, the
transitions after it are replayed instead of a snapshot; an id it cannot resume from gets a snapshot.
Comments (`: keep-alive`) are sent when idle."""


def _page_operation(summary: str, responses: dict[str, str], *, body: bool = False) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {code: {"description": d} for code, d in responses.items()},
    }
    if body:
        # Like every POST here: JSON only (a cross-site form cannot send it); the content is ignored.
        operation["requestBody"] = {"required": True, "content": _json_content({})}
        operation["responses"]["415"] = {"description": "the body is not sent as application/json"}
        operation["responses"]["403"] = {"description": "from another site, or without X-CSRF-Token"}
    return operation


# Sign-in (streams/web/signin.py, docs/SECURITY.md): browser navigations and the page's own calls.
_OIDC_PATHS: dict[str, Any] = {
    "/auth/login": {
        "get": _page_operation(
            "Start OpenID Connect sign-in (code + PKCE)",
            {"302": "to the identity provider", "503": "the identity provider does not answer"},
        )
    },
    "/auth/callback": {
        "get": _page_operation(
            "Where the identity provider sends the browser back",
            {
                "200": "signed in; the page moves on",
                "400": "expired or foreign sign-in",
                "403": "the account has no lytewatch role",
                "502": "the provider refused the code or sent an ID token that does not verify",
            },
        )
    },
}
_SIGN_IN_PATHS: dict[str, Any] = {
    "/auth/me": {
        "get": _page_operation("Who the page is signed in as, the role and the CSRF token", {"200": "JSON"})
    },
    "/auth/signed-out": {"get": _page_operation("After sign-out", {"200": "HTML page"})},
    "/auth/token": {
        "post": _page_operation(
            "Token mode: a session cookie for a page that shows a valid bearer token",
            {"200": "signed in (JSON as /auth/me)", "401": "no valid bearer token, or not token mode"},
            body=True,
        )
    },
    "/auth/logout": {
        "post": _page_operation(
            "Sign out: the session cookie is cleared", {"200": "JSON with `redirect`"}, body=True
        )
    },
}


def build_openapi(*, token_required: bool, oidc: bool = False) -> dict[str, Any]:
    """The OpenAPI 3.1 document served at /openapi.json."""
    # Machines send a bearer token; the page is signed in by its session cookie (no token in any URL).
    api_security: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}] if token_required else []
    stream_security = api_security
    unauthorized = {"401": _error("no session and no valid bearer token")} if token_required else {}

    def secured(operation: dict[str, Any], security: Security) -> dict[str, Any]:
        if security:
            operation["security"] = security
        operation["responses"].update(unauthorized)
        return operation

    paths: dict[str, Any] = {
        "/": {
            "get": {
                "summary": "The live dashboard page",
                "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}}},
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {
                    "200": {"description": "OpenAPI 3.1", "content": _json_content({"type": "object"})}
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "responses": {"200": {"description": "alive", "content": _json_content(_ref("Health"))}},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: the alerts topic has been read to its end since start-up",
                "responses": {
                    "200": {"description": "ready", "content": _json_content(_ref("Health"))},
                    "503": {"description": "still rebuilding", "content": _json_content(_ref("Health"))},
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {"description": "text exposition format", "content": {"text/plain": {}}}
                },
            }
        },
        "/api/alerts": {
            "get": secured(
                {
                    "summary": "Open alerts, most severe first",
                    "parameters": _FILTERS,
                    "responses": {
                        "200": {"description": "open alerts", "content": _json_content(_ref("AlertList"))},
                        "400": _error("a filter has an unknown value"),
                    },
                },
                api_security,
            )
        },
        "/api/alerts/stream": {
            "get": secured(
                {
                    "summary": "Live alert transitions (Server-Sent Events)",
                    "description": _STREAM_DESCRIPTION,
                    "parameters": [
                        *_FILTERS,
                        {
                            "name": "Last-Event-ID",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "last_event_id",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "an endless event stream",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        "400": _error("a filter has an unknown value"),
                    },
                },
                stream_security,
            )
        },
        "/api/alerts/{alert_id}": {
            "get": secured(
                {
                    "summary": "One alert (open or resolved) with its transition history",
                    "parameters": [_ALERT_ID],
                    "responses": {
                        "200": {"description": "the alert", "content": _json_content(_ref("AlertDetail"))},
                        "404": _error("unknown alert"),
                    },
                },
                api_security,
            )
        },
        "/api/alerts/{alert_id}/ack": {
            "post": secured(
                {
                    "summary": "Acknowledge an open alert",
                    "description": "Produces {alert_id, patient_id, by, at, note} to the acknowledgements "
                    "topic, keyed by patient id; the engine then emits an `acknowledged` transition.",
                    "parameters": [_ALERT_ID],
                    "requestBody": {"required": True, "content": _json_content(_ref("AckRequest"))},
                    "responses": {
                        "202": {"description": "recorded", "content": _json_content(_ref("AckAccepted"))},
                        "404": _error("unknown alert"),
                        "403": _error(
                            "sent from another site (Origin or Sec-Fetch-Site), a session request "
                            "without its X-CSRF-Token header, or a viewer's"
                        ),
                        "409": _error("the alert is resolved"),
                        "415": _error("the body is not sent as application/json"),
                        "422": _error("the body is not a valid acknowledgement"),
                        "503": _error("start-up not finished, or the broker did not take the message"),
                    },
                },
                api_security,
            )
        },
    }
    paths.update(clinical_paths(secured, api_security, _error("nothing known of this patient")))
    paths.update(_SIGN_IN_PATHS | (_OIDC_PATHS if oidc else {}))
    components: dict[str, Any] = {"schemas": _schemas()}
    if token_required:
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {
                "type": "apiKey",
                "in": "cookie",
                "name": SESSION_COOKIE,
                "description": "set by sign-in; a POST with it also needs the session's X-CSRF-Token header",
            },
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lytewatch dashboard",
            "version": "1",
            "description": "Open K/Mg depletion alerts, their live transitions, and acknowledgement.",
        },
        "paths": paths,
        "components": components,
    }
