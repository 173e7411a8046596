"""ConfigMap documents: text under data, or (gzip-compressed) bytes under binaryData."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest

from logistica_workers.api.documents import (
    MAX_DOCUMENT_BYTES,
    DocumentError,
    configmap_document,
    document_text,
)

MATRIX = {"distances": [[0, 5], [5, 0]]}


def test_text_under_data_is_the_document() -> None:
    cm = {"data": {"m.json": json.dumps(MATRIX)}}
    assert json.loads(configmap_document(cm, "m.json") or "") == MATRIX


@pytest.mark.parametrize("compress", [True, False])
def test_binary_data_is_decoded_and_gunzipped(compress: bool) -> None:
    raw = json.dumps(MATRIX).encode()
    blob = gzip.compress(raw) if compress else raw
    cm = {"binaryData": {"m.json.gz": base64.b64encode(blob).decode()}}
    assert json.loads(configmap_document(cm, "m.json.gz") or "") == MATRIX


def test_a_missing_key_is_none() -> None:
    assert configmap_document({"data": {"a": "{}"}, "binaryData": {}}, "b") is None
    assert configmap_document({}, "b") is None


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (gzip.compress(b'{"a": 1}')[:-12], "cut short"),
        (b"\x1f\x8b\x08\x00garbage", "not valid gzip"),
        (b"\xff\xfe\x00bin", "neither gzip nor UTF-8"),
    ],
)
def test_unreadable_bytes_name_what_is_wrong(blob: bytes, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        document_text(blob)


def test_a_decompression_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(b" " * (MAX_DOCUMENT_BYTES + 10))
    assert len(bomb) < 200_000  # small on the wire
    with pytest.raises(DocumentError, match="MiB once decompressed"):
        document_text(bomb)


def test_binary_data_that_is_not_base64_is_an_error() -> None:
    with pytest.raises(DocumentError, match="not base64"):
        configmap_document({"binaryData": {"k": "***"}}, "k")


def test_the_solver_reads_a_gzipped_matrix_key_as_mounted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kubelet mounts a binaryData key as its raw bytes: the solver gunzips them."""
    from logistica_workers.api import RoutingJobSpec
    from logistica_workers.routing.routingjob import load_problem
    from tests.support.problems import city_problem

    doc = city_problem(3, 1, seed=1)
    options = doc.pop("options")  # a RoutingJob carries them in spec.options
    size = 1 + 3 + 1
    matrix = {
        "distances": [[0 if i == j else 1000 * (i + j) for j in range(size)] for i in range(size)]
    }
    path = tmp_path / "matrix.json.gz"
    path.write_bytes(gzip.compress(json.dumps(matrix).encode()))
    monkeypatch.setenv("LOGISTICA_MATRIX_FILE", str(path))
    spec = RoutingJobSpec.model_validate(
        {
            "problem": doc,
            "options": options,
            "matrixFrom": {"configMapKeyRef": {"name": "m", "key": "matrix.json.gz"}},
        }
    )
    problem = load_problem(spec)
    assert problem.matrix is not None and problem.matrix.distances == matrix["distances"]
