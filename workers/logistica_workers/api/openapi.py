"""OpenAPI 3.1 documents of the HTTP services, built from the pydantic models.

The schemas come from ``model_json_schema``; paths, status codes and error bodies are written
here by hand and must match the handlers (``tests/unit/api/test_openapi.py`` checks the answers).
Regenerate the checked-in copies with ``python -m logistica_workers.api.openapi docs/openapi``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from logistica_workers.api.routing import Problem, Solution

REF = "#/components/schemas/{model}"


class IngestAnswer(BaseModel):
    """The ingest worker's 2xx body."""

    status: Literal["stored", "duplicate", "replay"] = Field(
        description="stored (202): committed now; duplicate or replay (200): already stored"
    )
    id: int | None = Field(description="the stored row's id")
    event_id: str = Field(alias="eventId", description="the event's idempotency key")


class SlackChallenge(BaseModel):
    """Slack's url_verification answer."""

    challenge: str


ERROR: dict[str, Any] = {
    "type": "object",
    "description": "Every error answer: a machine-readable code and a message naming what is wrong.",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "a stable code, e.g. invalid_problem"},
        "message": {"type": "string"},
        "field": {"type": "string", "description": "the offending field, when there is one"},
        "errors": {
            "type": "array",
            "description": "every validation failure (422)",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


class FeedEvent(BaseModel):
    """One stored webhook event as the feed serves it."""

    cursor: str = Field(description="<tx>-<id>: pass as ?after= or ack it")
    source: str
    namespace: str
    event_id: str = Field(alias="eventId")
    received_at: str = Field(alias="receivedAt", json_schema_extra={"format": "date-time"})
    headers: dict[str, Any] = Field(description="the allow-listed request headers")
    payload: Any = Field(description="the webhook's body as stored")


class AckRequest(BaseModel):
    cursor: str = Field(description="a cursor the feed served (or 0-0)")


class ConsumerOffset(BaseModel):
    name: str
    cursor: str
    created_at: str = Field(alias="createdAt", json_schema_extra={"format": "date-time"})
    updated_at: str = Field(alias="updatedAt", json_schema_extra={"format": "date-time"})


class ConsumerLag(ConsumerOffset):
    events: int = Field(description="events after the consumer's cursor, readable now")
    pending: int = Field(description="events after it still held behind an open transaction")
    oldest_received_at: str | None = Field(alias="oldestReceivedAt")
    lag_seconds: float = Field(alias="lagSeconds")


def _json(schema: dict[str, Any], description: str, **headers: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        out["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return out


def _error(description: str, **headers: str) -> dict[str, Any]:
    return _json({"$ref": REF.format(model="Error")}, description, **headers)


def _probes() -> dict[str, Any]:
    status = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}},
    }
    return {
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "operationId": "healthz",
                "responses": {"200": _json(status, "the process is alive")},
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {"200": _json({"type": "object"}, "the OpenAPI 3.1 document")},
            }
        },
    }


def route_document() -> dict[str, Any]:
    """``logistica route``: ``POST /route``."""
    _, defs = models_json_schema(
        [(Problem, "validation"), (Solution, "serialization")], ref_template=REF
    )
    schemas = {**defs["$defs"], "Error": ERROR}
    retry = {"Retry-After": "seconds to wait before retrying"}
    ready = {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string"},
            "activeSolves": {"type": "integer"},
            "solutionsFound": {"type": "integer"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "logistica routing service",
            "version": "1",
            "description": "Solves small vehicle routing problems synchronously; larger ones "
            "belong in a RoutingJob.",
        },
        "paths": {
            "/route": {
                "post": {
                    "summary": "Solve a routing problem within its time limit",
                    "operationId": "route",
                    "description": "Identical concurrent requests share one solve. The time "
                    "limit is options.timeLimitSeconds, else the service default, capped by "
                    "the service maximum.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": REF.format(model="Problem")}}
                        },
                    },
                    "responses": {
                        "200": _json(
                            {"$ref": REF.format(model="Solution")},
                            "the best solution found",
                            **{"X-Time-Limit-Seconds": "the time limit the solve ran with"},
                        ),
                        "400": _error(f"bad_json: the body is not JSON; {BAD_REQUEST}"),
                        "413": _error(
                            "too_large: the body exceeds 4 MiB; problem_too_large: more stops "
                            "than LOGISTICA_ROUTE_MAX_STOPS (field: stops)"
                        ),
                        "415": _error("unsupported_media_type: Content-Type is not JSON"),
                        "422": _error("invalid_problem: the problem does not validate"),
                        "500": _error("solver_failed: the solver could not run"),
                        "503": _error(
                            "busy: LOGISTICA_ROUTE_MAX_CONCURRENT solves are running; "
                            "draining: the service is shutting down",
                            **retry,
                        ),
                    },
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness",
                    "operationId": "readyz",
                    "responses": {
                        "200": _json(ready, "accepting requests"),
                        "503": _error("not_ready: draining"),
                    },
                }
            },
            **_probes(),
        },
        "components": {"schemas": schemas},
    }


def ingest_document() -> dict[str, Any]:
    """``logistica ingest``: ``POST /ingest/{source}``."""
    _, defs = models_json_schema(
        [(IngestAnswer, "serialization"), (SlackChallenge, "serialization")], ref_template=REF
    )
    schemas = {**defs["$defs"], "Error": ERROR}
    retry = {"Retry-After": "seconds to wait before retrying"}
    answer = {"$ref": REF.format(model="IngestAnswer")}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "logistica ingest worker",
            "version": "1",
            "description": "Verifies a provider-signed webhook and stores it exactly once in "
            "Postgres before answering. The signature headers depend on the WebhookSource's "
            "provider (github, stripe, shopify, slack, twilio, standard, hmac).",
        },
        "paths": {
            "/ingest/{source}": {
                "post": {
                    "summary": "Store one signed webhook event",
                    "operationId": "ingest",
                    "parameters": [
                        {
                            "name": "source",
                            "in": "path",
                            "required": True,
                            "description": "the WebhookSource's name",
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "description": "the provider's payload, as signed (optionally gzip "
                        "when spec.gzip allows it; twilio and slack may send forms)",
                        "content": {
                            "application/json": {"schema": {"type": ["object", "array"]}},
                            "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "duplicate or replay: this event is already stored "
                            "(the id of the first copy); or Slack's url_verification challenge",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "oneOf": [
                                            answer,
                                            {"$ref": REF.format(model="SlackChallenge")},
                                        ]
                                    }
                                }
                            },
                        },
                        "202": _json(answer, "stored: committed to Postgres"),
                        "400": _error(
                            "bad_json, bad_form, bad_gzip, bad_event_id, missing_event_id, "
                            f"bad_challenge: the body or its idempotency key is unusable; {BAD_REQUEST}"
                        ),
                        "401": _error("bad_signature: the signature does not verify"),
                        "404": _error("unknown_source: no WebhookSource of that name"),
                        "413": _error("too_large: the body exceeds spec.maxBodyBytes"),
                        "415": _error(
                            "unsupported_media_type, unsupported_content_encoding: not a type "
                            "or encoding this source accepts"
                        ),
                        "503": _error(
                            "draining, keys_unavailable, database_unavailable, overloaded: "
                            "retry later",
                            **retry,
                        ),
                        "504": _error(
                            "timeout: not committed in time; retry (duplicates are detected)"
                        ),
                    },
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness",
                    "operationId": "readyz",
                    "responses": {
                        "200": _json(
                            {"type": "object", "properties": {"status": {"type": "string"}}},
                            "the database is reachable and migrated",
                        ),
                        "503": _error("not_ready: draining, database unreachable or behind"),
                    },
                }
            },
            **_probes(),
        },
        "components": {"schemas": schemas},
    }


# what the events service accepts (events.app, events.cursor): bounded, so that with the
# two 253-character filters a request line stays under the server's 8 KiB limit
CONSUMER_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
CURSOR_PATTERN = "^[0-9]{1,20}-[0-9]{1,19}$"


# answered by the HTTP layer itself (runtime/protocol.py), on every endpoint
BAD_REQUEST = "bad_request: the request line or a header is too long or malformed"


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


def events_document() -> dict[str, Any]:
    """``logistica events``: ``GET /events`` and the consumer offsets."""
    _, defs = models_json_schema(
        [
            (FeedEvent, "serialization"),
            (AckRequest, "validation"),
            (ConsumerOffset, "serialization"),
            (ConsumerLag, "serialization"),
        ],
        ref_template=REF,
    )
    schemas = {**defs["$defs"], "Error": ERROR}
    retry = {"Retry-After": "seconds to wait before retrying"}
    name = {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "the consumer: 1 to 128 letters, digits, '.', '_' or '-'",
        "schema": {"type": "string", "pattern": CONSUMER_PATTERN},
    }
    filters = [
        _query("source", "only this WebhookSource", {"type": "string", "maxLength": 253}),
        _query("namespace", "only this namespace", {"type": "string", "maxLength": 253}),
    ]
    common = {
        "400": _error(
            f"bad_parameter: a parameter or the body is invalid (field names it); {BAD_REQUEST}"
        ),
        "401": _error("unauthorized: a token is configured and the request lacks it"),
        "503": _error("database_unavailable, busy: retry later", **retry),
    }
    offset = _json({"$ref": REF.format(model="ConsumerOffset")}, "the consumer's offset")
    unknown = _error("unknown_consumer: no such consumer (ack creates it)")
    event = {"$ref": REF.format(model="FeedEvent")}
    secured: list[dict[str, list[str]]] = [{}, {"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "logistica events service",
            "version": "1",
            "description": "Reads stored webhook events in commit order (long poll) and keeps "
            "named consumer offsets. A bearer token is required when the service has one.",
        },
        "paths": {
            "/events": {
                "get": {
                    "summary": "Events after a cursor, in commit order",
                    "operationId": "feed",
                    "security": secured,
                    "parameters": [
                        _query(
                            "after",
                            "a cursor (<tx>-<id>); default: the start",
                            {"type": "string", "pattern": CURSOR_PATTERN},
                        ),
                        _query(
                            "consumer",
                            "start after this consumer's offset (not with after)",
                            {"type": "string", "pattern": CONSUMER_PATTERN},
                        ),
                        _query("limit", "most events to return", {"type": "integer", "minimum": 1}),
                        _query(
                            "wait",
                            "seconds to wait for an event when none is there",
                            {"type": "number", "minimum": 0},
                        ),
                        *filters,
                    ],
                    "responses": {
                        "200": {
                            "description": "the events (maybe none); Accept: application/x-ndjson "
                            "gives one per line",
                            "headers": {
                                "Logistica-Cursor": {
                                    "description": "the last cursor served: pass it as after=",
                                    "schema": {"type": "string"},
                                }
                            },
                            "content": {
                                "application/json": {"schema": {"type": "array", "items": event}},
                                "application/x-ndjson": {"schema": event},
                            },
                        },
                        **common,
                    },
                }
            },
            "/events/consumers/{name}/ack": {
                "post": {
                    "summary": "Move a consumer's offset to a cursor (creates the consumer)",
                    "operationId": "ack",
                    "security": secured,
                    "parameters": [name],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": REF.format(model="AckRequest")}}
                        },
                    },
                    "responses": {"200": offset, **common},
                }
            },
            "/events/consumers/{name}": {
                "get": {
                    "summary": "A consumer's offset",
                    "operationId": "consumer",
                    "security": secured,
                    "parameters": [name],
                    "responses": {"200": offset, "404": unknown, **common},
                }
            },
            "/events/consumers/{name}/lag": {
                "get": {
                    "summary": "How far a consumer is behind",
                    "operationId": "lag",
                    "security": secured,
                    "parameters": [name, *filters],
                    "responses": {
                        "200": _json({"$ref": REF.format(model="ConsumerLag")}, "the lag"),
                        "404": unknown,
                        **common,
                    },
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness",
                    "operationId": "readyz",
                    "responses": {
                        "200": _json(
                            {"type": "object", "properties": {"status": {"type": "string"}}},
                            "ready to serve",
                        ),
                        "503": _error("not_ready: draining, database or listener trouble"),
                    },
                }
            },
            **_probes(),
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


DOCUMENTS = {"events": events_document, "ingest": ingest_document, "route": route_document}


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m logistica_workers.api.openapi",
        description="write (or --check) the OpenAPI documents as <dir>/<service>.json",
    )
    parser.add_argument("dir", type=Path, help="where the documents go, e.g. docs/openapi")
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, build in DOCUMENTS.items():
        path = args.dir / f"{name}.json"
        text = render(build())
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(str(path))
        else:
            args.dir.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"out of date (regenerate with {parser.prog} {args.dir}): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
