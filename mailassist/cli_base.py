"""What every ``mailassist`` command shares: the lazily loaded config (``State``), one line on stderr and an exit
code for an expected error (``friendly``, ``fail``), the store opened for one command, and the group class that
gives every command a ``--config`` after its name."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from typing import Any, TextIO, TypeVar

import click

from mailassist.config import Config, ConfigError, load_config
from mailassist.logs import configure_logging
from store import Store, StoreError

#: Files with more rows than this show a progress bar while they are checked (on a terminal only).
PROGRESS_ROWS = 1000

F = TypeVar("F", bound=Callable[..., Any])


class State:
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
            configure_logging(self._config.logging.level, self._config.logging.format)
        return self._config


def fail(message: str, code: int = 1) -> None:
    click.echo(f"mailassist: {message}", err=True)
    sys.exit(code)


def friendly(fn: F) -> F:
    """Turn our expected errors into one line on stderr and a non-zero exit, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mailassist.linkpool import LinkerStartError  # noqa: PLC0415 - keep `--help` fast
        from mailassist.runtime import MemoryBrokerError  # noqa: PLC0415

        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            fail(str(exc), 2)
        except MemoryBrokerError as exc:
            fail(str(exc), 2)
        except LinkerStartError as exc:
            fail(str(exc), 1)
        except StoreError as exc:
            fail(str(exc), 1)
        except OSError as exc:
            fail(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""), 1)

    return wrapper  # type: ignore[return-value]


def with_state(fn: F) -> F:
    """``click.pass_obj`` and ``friendly``, which every command that reads the config takes together: the command
    gets the CLI's ``State``, and our expected errors become one line and an exit status."""
    return click.pass_obj(friendly(fn))  # type: ignore[return-value]


@contextmanager
def store_of(state: State, *, upgrade: bool | None = None) -> Iterator[Store]:
    from mailassist.build import open_store  # noqa: PLC0415

    store = open_store(state.config, upgrade=upgrade)
    try:
        yield store
    finally:
        store.close()


def _override_config_path(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    state = ctx.find_object(State)
    if state is None:
        ctx.obj = State(value)
    else:
        # Nothing has read the config yet (it loads lazily), so changing the path here is enough.
        state.config_path = value


def _config_option() -> click.Option:
    # No envvar: MAILASSIST_CONFIG already reaches the group's --config, and must not override this one.
    return click.Option(
        ["--config"],
        expose_value=False,
        callback=_override_config_path,
        metavar="FILE",
        help="Config file; overrides a --config before the command and $MAILASSIST_CONFIG.",
    )


class Group(click.Group):
    """A group whose every command, nested ones too, also takes ``--config`` after its name."""

    group_class = type  # subgroups (db, user, token) are Groups too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any(isinstance(p, click.Option) and "--config" in p.opts for p in cmd.params):
            cmd.params.append(_config_option())
        super().add_command(cmd, name)


def progress_stream() -> TextIO | None:
    """Where progress bars go: standard error when it is a terminal, else nowhere."""
    return sys.stderr if sys.stderr.isatty() else None


def when(moment: datetime | None) -> str:
    """A time in the CLI's tables: minutes, UTC; ``-`` for none."""
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else "-"
