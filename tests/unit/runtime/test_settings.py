from pathlib import Path

import pytest

from logistica_workers.ingest.app import IngestSettings
from logistica_workers.routing.service import RouteSettings
from tests.support.cli import logistica

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_ingest_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    assert IngestSettings.from_env() == IngestSettings()
    monkeypatch.setenv("LOGISTICA_INGEST_BATCH_ROWS", "64")
    monkeypatch.setenv("LOGISTICA_INGEST_BATCH_WAIT_MS", "0.5")
    monkeypatch.setenv("LOGISTICA_INGEST_REQUEST_TIMEOUT", "2.5")
    monkeypatch.setenv("LOGISTICA_INGEST_QUEUE", "100")
    monkeypatch.setenv("LOGISTICA_INGEST_WRITERS", "12")
    s = IngestSettings.from_env()
    assert (s.max_rows, s.max_wait, s.request_timeout, s.max_queue, s.writers) == (
        64,
        0.0005,
        2.5,
        100,
        12,
    )
    assert s.pool_size == 13  # grows with the writers unless set


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("LOGISTICA_INGEST_BATCH_ROWS", "many", "must be a number, got 'many'"),
        ("LOGISTICA_INGEST_BATCH_ROWS", "0", "between 1 and 10000, got 0"),
        ("LOGISTICA_INGEST_QUEUE", "2.5", "must be a whole number, got 2.5"),
        ("LOGISTICA_INGEST_REQUEST_TIMEOUT", "-1", "between 0.1 and 3600"),
        ("LOGISTICA_INGEST_REQUEST_TIMEOUT", "nan", "between 0.1 and 3600"),
        ("LOGISTICA_INGEST_POOL_SIZE", "3", "at least LOGISTICA_INGEST_WRITERS + 1 (4), got 3"),
    ],
)
def test_ingest_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name) as err:
        IngestSettings.from_env()
    assert says in str(err.value)


def test_route_settings_reject_out_of_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGISTICA_ROUTE_MAX_CONCURRENT", "0")
    with pytest.raises(ValueError, match="LOGISTICA_ROUTE_MAX_CONCURRENT must be between 1"):
        RouteSettings()


def test_ingest_cli_refuses_a_bad_setting_before_serving() -> None:
    out = logistica(
        "ingest",
        "-f",
        str(EXAMPLES / "webhooksource-github.yaml"),
        "--database-url",
        "postgresql://nobody@127.0.0.1:1/x",
        env={"LOGISTICA_INGEST_WRITERS": "100"},
    )
    assert out.returncode == 2
    assert "LOGISTICA_INGEST_WRITERS must be between 1 and 64, got 100" in out.stderr
