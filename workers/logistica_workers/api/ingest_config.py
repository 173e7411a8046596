"""What an ingest worker serves: one entry per WebhookSource.

Two roads lead here and share this model: ``logistica ingest -f`` reads WebhookSource + Secret
manifests (keys inline), and in the cluster the operator passes the same entries as JSON in
``LOGISTICA_SOURCES`` with the Secret mounted at ``secretDir`` (keys re-read on change).
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, TypeAdapter, ValidationError, model_validator

from logistica_workers.api.common import DNS_SUBDOMAIN, ApiModel, ValidationFailure, describe_errors
from logistica_workers.api.webhook_source import WebhookSourceSpec


class IngestSource(ApiModel):
    name: Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
    namespace: str = "default"
    spec: WebhookSourceSpec
    secret_dir: str | None = None
    keys: dict[str, str] | None = None  # inline keys (manifests); never logged

    @model_validator(mode="after")
    def _one_key_source(self) -> IngestSource:
        if (self.secret_dir is None) == (self.keys is None):
            raise ValueError("exactly one of secretDir and keys must be set")
        return self

    def __repr__(self) -> str:  # keys stay out of reprs and logs
        return f"IngestSource(name={self.name!r}, namespace={self.namespace!r})"

    __str__ = __repr__


_SOURCES = TypeAdapter(list[IngestSource])


def sources_from_json(text: str) -> list[IngestSource]:
    try:
        return _SOURCES.validate_json(text)
    except ValidationError as exc:
        raise describe_errors(exc, prefix="LOGISTICA_SOURCES") from None


def _secret_keys(secret: dict[str, Any], where: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for k, v in (secret.get("data") or {}).items():
        try:
            keys[k] = base64.b64decode(str(v), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ValidationFailure([(f"{where}.data.{k}", "not valid base64 text")]) from None
    for k, v in (secret.get("stringData") or {}).items():
        keys[k] = str(v)
    return keys


Secrets = dict[tuple[str, str], tuple[str, dict[str, str]]]  # (namespace, name) -> (where, keys)


def sources_from_manifests(paths: list[Path]) -> list[IngestSource]:
    """WebhookSources and their Secrets from YAML files, as ``kubectl apply`` would take them."""
    secrets: Secrets = {}
    raw: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        for where, doc in _objects(path):
            meta = doc.get("metadata") or {}
            if doc["kind"] == "Secret":
                ns = meta.get("namespace", "default")
                secrets[(ns, meta.get("name", ""))] = (where, _secret_keys(doc, where))
            elif doc["kind"] == "WebhookSource":
                raw.append((where, doc))
    out: list[IngestSource] = []
    errors: list[tuple[str, str]] = []
    for where, doc in raw:
        try:
            out.append(_source(where, doc, secrets))
        except ValidationFailure as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationFailure(errors)
    if not out:
        raise ValidationFailure([("manifests", "no WebhookSource found")])
    names = [s.name for s in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValidationFailure([("manifests", f"WebhookSource names repeat: {sorted(dupes)}")])
    return out


def _objects(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """The Kubernetes objects of one YAML file, each with where it is (``file[index]``)."""
    try:
        docs = list(yaml.safe_load_all(path.read_text()))
    except OSError as exc:
        raise ValidationFailure([(str(path), f"cannot read: {exc.strerror}")]) from None
    except yaml.YAMLError as exc:
        raise ValidationFailure([(str(path), f"not valid YAML: {exc}")]) from None
    out = []
    for i, doc in enumerate(docs):
        if not doc:
            continue
        where = f"{path}[{i}]"
        if not isinstance(doc, dict) or "kind" not in doc:
            raise ValidationFailure([(where, "not a Kubernetes object (no kind)")])
        out.append((where, doc))
    return out


def _source(where: str, doc: dict[str, Any], secrets: Secrets) -> IngestSource:
    """One WebhookSource with the keys of its Secret; ValidationFailure names what is wrong."""
    meta = doc.get("metadata") or {}
    ns = meta.get("namespace", "default")
    try:
        spec = WebhookSourceSpec.model_validate(doc.get("spec"))
    except ValidationError as exc:
        raise describe_errors(exc, prefix=f"{where}.spec") from None
    secret = secrets.get((ns, spec.secret_ref.name))
    if secret is None:
        raise ValidationFailure(
            [
                (
                    f"{where}.spec.secretRef.name",
                    f"Secret {ns}/{spec.secret_ref.name} is not in the given manifests",
                )
            ]
        )
    secret_where, keys = secret
    if not keys:
        raise ValidationFailure([(secret_where, "the Secret has no keys")])
    try:
        return IngestSource(name=meta.get("name", ""), namespace=ns, spec=spec, keys=keys)
    except ValidationError as exc:
        raise describe_errors(exc, prefix=f"{where}.metadata") from None


def sources_to_json(sources: list[IngestSource]) -> str:
    return json.dumps(
        [s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in sources]
    )
