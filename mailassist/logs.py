"""Structured logging: one event per line (``key=value`` text or JSON), stdlib loggers included."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

#: Libraries whose INFO chatter is not ours to print.
_QUIET = ("aiosmtpd", "mail.log", "dramatiq", "uvicorn.access", "alembic", "sqlalchemy", "redis", "imapclient")


def configure_logging(level: str = "info", fmt: str = "text", stream: Any = None) -> None:
    """Route structlog and stdlib logging to one handler that prints one event per line."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
    ]
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.processors.KeyValueRenderer(
            key_order=["timestamp", "level", "event", "inbound_id"], drop_missing=True
        )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _one_line,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def _one_line(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # A traceback must not break "one event per line": fold it into one escaped field.
    for key in ("exception", "stack"):
        if isinstance(event.get(key), str):
            event[key] = event[key].replace("\n", "\\n")
    return event


def get_logger(name: str) -> Any:
    """A structlog logger; bind ``inbound_id=`` for lines about a message."""
    return structlog.get_logger(name)
