import json
import logging

from logistica_workers.runtime.logging import JsonFormatter


def _line(**extra: object) -> dict[str, object]:
    record = logging.makeLogRecord(
        {"name": "t", "levelno": 20, "levelname": "INFO", "msg": "m %s", "args": ("x",)}
    )
    record.__dict__.update(extra)
    out = json.loads(JsonFormatter().format(record))
    assert isinstance(out, dict)
    return out


def test_extra_fields_become_keys() -> None:
    line = _line(source="github", k8s_ref={"name": "q"})
    assert line["msg"] == "m x"
    assert line["level"] == "info"
    assert line["source"] == "github"
    assert line["k8s_ref"] == {"name": "q"}


def test_kopf_settings_are_not_dumped_into_every_line() -> None:
    line = _line(settings=object(), k8s_skip=False, k8s_ref={"name": "q"})
    assert "settings" not in line
    assert "k8s_skip" not in line
    assert line["k8s_ref"] == {"name": "q"}


def test_exception_text_is_kept() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.makeLogRecord({"msg": "failed", "exc_info": sys.exc_info()})
    line = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in line["exc"]
