"""OpenAPI paths of the patient page, recently-resolved, burden and about endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from streams.web.clinical_models import AboutOut, BurdenOut, PatientOut, ResolvedOut

__all__ = ["CLINICAL_MODELS", "clinical_paths"]

#: Response models whose JSON schemas go into components.schemas under their class names.
CLINICAL_MODELS: tuple[type[BaseModel], ...] = (PatientOut, ResolvedOut, BurdenOut, AboutOut)

_PATIENT_ID = {"name": "patient_id", "in": "path", "required": True, "schema": {"type": "string"}}
_ENCOUNTER = {
    "name": "encounter",
    "in": "query",
    "required": False,
    "description": "the visit to show (default: that of the latest alert, else the latest seen)",
    "schema": {"type": "string"},
}


def _ok(description: str, model: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}},
    }


def clinical_paths(
    secured: Callable[[dict[str, Any], list[dict[str, list[str]]]], dict[str, Any]],
    security: list[dict[str, list[str]]],
    not_found: dict[str, Any],
) -> dict[str, Any]:
    """The paths, each operation passed through `secured` (which adds the token requirement if any)."""
    return {
        "/api/patients/{patient_id}": {
            "get": secured(
                {
                    "summary": "A patient's visit: K and Mg results, watched orders, alerts, their history",
                    "description": "Results and orders come from the input topics, read by the dashboard "
                    "(read-only, through the worker's decoders); the alerts from the alerts topic. "
                    "Lab values carry `text`, the value and unit as sent, printed with the lab's precision.",
                    "parameters": [_PATIENT_ID, _ENCOUNTER],
                    "responses": {"200": _ok("the patient", "PatientOut"), "404": not_found},
                },
                security,
            )
        },
        "/api/patients/{patient_id}/plot.svg": {
            "get": secured(
                {
                    "summary": "The visit's plot: K and Mg with thresholds, orders as bars (SVG)",
                    "description": "Every point is a `circle` with `data-analyte`, `data-value` (mmol/L), "
                    "`data-sent-value`, `data-unit` (as sent), `data-time` and an `aria-label`; every order "
                    "a `rect` with `data-order-id`, `data-classes`, `data-start`, `data-end`.",
                    "parameters": [_PATIENT_ID, _ENCOUNTER],
                    "responses": {
                        "200": {"description": "SVG document", "content": {"image/svg+xml": {}}},
                        "404": not_found,
                    },
                },
                security,
            )
        },
        "/api/resolved": {
            "get": secured(
                {
                    "summary": "Alerts resolved in the last 24 h (wall clock), latest first, with reasons",
                    "responses": {"200": _ok("recently resolved alerts", "ResolvedOut")},
                },
                security,
            )
        },
        "/api/burden": {
            "get": secured(
                {
                    "summary": "Alerts per 100 patient-days by rule and severity, share acknowledged within "
                    "15 min, over 24 h and 7 days",
                    "responses": {"200": _ok("the figures", "BurdenOut")},
                },
                security,
            )
        },
        "/api/about": {
            "get": secured(
                {
                    "summary": "What the page says about its data (e.g. that it is a demo) and its clock",
                    "responses": {"200": _ok("about", "AboutOut")},
                },
                security,
            )
        },
    }
