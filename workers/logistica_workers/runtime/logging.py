"""One JSON object per log line, so cluster log pipelines can index fields."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from logistica_workers.runtime import tracing
from logistica_workers.runtime.settings import LOG_FORMATS, LOG_LEVELS, env_choice

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# kopf attaches its whole OperatorSettings and a flag to every record: noise in each line
_DROPPED = {"settings", "k8s_skip"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in _DROPPED and not key.startswith("_"):
                out[key] = value
        ids = tracing.current_ids()
        if ids is not None:
            out["trace_id"], out["span_id"] = ids
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def log_level() -> str:
    return env_choice("LOGISTICA_LOG_LEVEL", "INFO", LOG_LEVELS, fold=True)


def log_format() -> str:
    return env_choice("LOGISTICA_LOG_FORMAT", "json", LOG_FORMATS, fold=True)


def setup_logging(level: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or log_level()).upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
