"""flanker, imported quietly on first use: the only module that imports it.

Importing ``linker.parse`` stays cheap for the gateway; the first message read pays for flanker's import and its
address grammar (built in memory, never written to site-packages).
"""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Flanker:
    """The flanker entry points we use (untyped: ``Any`` stays in this module)."""

    mime: Any
    address: Any
    #: flanker's ply parsers keep state on the parser object: one thread at a time.
    lock: threading.Lock = field(default_factory=threading.Lock)


_LOAD_LOCK = threading.Lock()


_LOADED: list[Flanker] = []


def load_flanker() -> Flanker:
    # Imported on first use, not with this module: importing linker.parse stays cheap for the gateway.
    if not _LOADED:
        with _LOAD_LOCK:
            if not _LOADED:
                _LOADED.append(_import_flanker())
    return _LOADED[0]


def _import_flanker() -> Flanker:
    """Import flanker without output, without writing parser tables, and without warnings."""
    import ply.yacc  # noqa: PLC0415

    original = ply.yacc.yacc

    def quiet_yacc(*args: Any, **kwargs: Any) -> Any:
        # flanker 0.9.11 ships tables built by ply 3.10, whose signatures ply 3.11 rejects: it then rebuilds them,
        # logs "Symbol ... is unreachable" through flanker's logger (to stderr when logging is not configured) and
        # rewrites them in site-packages, where processes importing at once race on half-written files. Building
        # all five in memory takes ~20 ms, so never read or write table files, and log nothing.
        caller = sys.modules[sys._getframe(1).f_globals["__name__"]]
        kwargs.update(
            module=caller,
            tabmodule=f"{__name__}_no_ply_tables",  # not importable: ply builds the tables in memory
            write_tables=False,
            debug=False,
            errorlog=ply.yacc.NullLogger(),
        )
        return original(*args, **kwargs)

    # flanker logs expected failures (every odd address) at WARNING; they surface as defects here instead.
    flanker_log = logging.getLogger("flanker")
    flanker_log.addHandler(logging.NullHandler())
    flanker_log.propagate = False
    ply.yacc.yacc = quiet_yacc
    try:
        with warnings.catch_warnings():
            # cgi and imghdr deprecations (webob, flanker) and invalid escapes in flanker's source.
            warnings.simplefilter("ignore")
            import flanker.addresslib.address  # noqa: PLC0415
            import flanker.metrics  # noqa: PLC0415
            import flanker.mime  # noqa: PLC0415
    finally:
        ply.yacc.yacc = original
    # flanker's statsd client starts itself from FLANKER_METRICS_* variables; ``False`` keeps it off for good.
    flanker.metrics._client = False
    return Flanker(mime=flanker.mime, address=flanker.addresslib.address)
