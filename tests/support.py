"""Helpers for tests that run mailassist as real child processes: config files, users, SMTP, logs.

Every child is started through ``running()``, which kills it on the way out whatever happens in the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.settings import GatewaySettings
from mailassist.config import SmtpConfig
from mailassist.config_fields import from_section
from store import BlobNotFoundError, Store
from store.models import Message, User, UserAddress
from tests.conftest import ROOT

ASSISTANT = "assistant@crm.example.com"
USER = "anna.nowak@example.com"
#: How long a child may take to print its startup line.
START_TIMEOUT = 30.0

_QUEUED = re.compile(r"queued as (\S+)")


# --- setup ------------------------------------------------------------------------------------------------


def seed_user(
    url: str, blob_dir: str | os.PathLike[str], email: str, name: str = "Anna Nowak", role: str = "all"
) -> None:
    """Migrate the store at ``url`` and register a user whose primary address is ``email``."""
    store = Store(url, blob_dir)
    store.open(upgrade=True)
    try:
        with Session(store.engine) as session, session.begin():
            user = User(email=email, name=name, role=role)
            user.addresses = [UserAddress(address=email, is_primary=True)]
            session.add(user)
    finally:
        store.close()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    """Write ``{"section": {"key": value}}`` as a TOML file, JSON logs unless ``logging`` says otherwise."""
    sections = {"logging": {"format": "json"}, **sections}
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# --- child processes ----------------------------------------------------------------------------------------


class ChildFailedError(RuntimeError):
    """A child exited, or never said it was ready."""


@dataclass
class Child:
    """A running ``mailassist`` process; stderr (the log) goes to ``log_path``."""

    proc: subprocess.Popen[str]
    log_path: Path
    startup_line: str = ""
    stdout_lines: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, like a power cut for the process."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self) -> list[dict[str, Any]]:
        """The JSON log events so far (a line cut short by SIGKILL is skipped)."""
        return parse_events(self.log_text())


def parse_events(text: str) -> list[dict[str, Any]]:
    """JSON log lines as dicts; anything else (a truncated last line, a stray print) is skipped."""
    events = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict):
                events.append(event)
    return events


def mailassist_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "mailassist", "--config", str(config), *args]


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILASSIST_CONFIG"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _read_stdout(child: Child, ready: threading.Event) -> None:
    assert child.proc.stdout is not None
    for line in child.proc.stdout:
        child.stdout_lines.append(line.rstrip("\n"))
        if line.startswith("mailassist: ") and not ready.is_set():
            child.startup_line = line.strip()
            ready.set()
    ready.set()  # EOF: the process is gone; the waiter checks why


@contextlib.contextmanager
def running(config: Path, command: str = "serve", *, log_path: Path, timeout: float = START_TIMEOUT) -> Iterator[Child]:
    """Start ``mailassist --config CONFIG COMMAND``, wait for its startup line, and kill it on exit."""
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(
            mailassist_command(config, command),
            stdout=subprocess.PIPE,
            stderr=log_file,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            env=_child_env(),
            # A session of its own: the teardown can end whatever it started too (see session_processes).
            start_new_session=True,
        )
    child = Child(proc, log_path)
    ready = threading.Event()
    reader = threading.Thread(target=_read_stdout, args=(child, ready), daemon=True)
    reader.start()
    try:
        if not ready.wait(timeout) or not child.startup_line:
            status = f"exit code {proc.poll()}"
            raise ChildFailedError(
                f"mailassist {command} not ready after {timeout}s ({status}):\n{child.log_text()[-4000:]}"
            )
        yield child
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        # Anything of it still running (a test that failed half way) would hold its stdout open for ever.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        reader.join(10)
        assert proc.stdout is not None
        if not reader.is_alive():  # closing a pipe a thread is still reading from waits for that read
            proc.stdout.close()


def session_processes(session_id: int) -> list[int]:
    """Live processes (zombies aside) of a session, e.g. of a child started by ``running`` (its pid is its
    session's id), whoever their parent is now."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses.
        state, _ppid, _pgrp, session = text[text.rindex(")") + 2 :].split()[:4]
        if int(session) == session_id and state != "Z":
            found.append(int(stat.parent.name))
    return found


def run_cli(config: Path, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run a short ``mailassist`` command to completion."""
    return subprocess.run(
        mailassist_command(config, *args),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_child_env(),
        timeout=timeout,
        check=False,
    )


def queue_rows(config: Path) -> list[dict[str, Any]]:
    """``mailassist queue --json``: every receipt (up to 10 000)."""
    result = run_cli(config, "queue", "--json", "--limit", "10000")
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def linked_counts(*children: Child) -> dict[str, int]:
    """How many ``inbound linked`` events each inbound id has across the children's logs."""
    counts: dict[str, int] = {}
    for child in children:
        for event in child.events():
            if event.get("event") == "inbound linked":
                counts[event["inbound_id"]] = counts.get(event["inbound_id"], 0) + 1
    return counts


# --- SMTP -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """The server's final reply to DATA."""

    code: int
    text: str

    @property
    def queued_id(self) -> str | None:
        """The inbound id from ``250 2.0.0 Ok: queued as ID``, else ``None``."""
        match = _QUEUED.search(self.text) if self.code == 250 else None
        return match.group(1) if match else None


def make_message(n: int, *, sender: str = USER, tag: str = "t", size: int = 0) -> bytes:
    """A small, unique message (CRLF line ends, as it arrives in DATA) with Message-ID ``<tag-n@...>``."""
    body = f"Message {n} of the {tag} run.\r\n" + ("x" * 76 + "\r\n") * (size // 78)
    return (
        f"From: Anna Nowak <{sender}>\r\nTo: jan.kowalski@acme-logistics.pl\r\nSubject: Fleet renewal {tag} {n}\r\n"
        f"Message-ID: <{tag}-{n}-{time.time_ns()}@example.com>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n{body}"
    ).encode()


def send(port: int, raw: bytes, *, mail_from: str = USER, rcpt: str = ASSISTANT, timeout: float = 10.0) -> Reply:
    """One message on one connection; the final DATA reply. Connection errors propagate."""
    with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as smtp:
        code, text = smtp.ehlo("client.test")
        if code != 250:
            return Reply(code, text.decode(errors="replace"))
        code, text = smtp.mail(mail_from)
        if code != 250:
            return Reply(code, text.decode(errors="replace"))
        code, text = smtp.rcpt(rcpt)
        if code not in (250, 251):
            return Reply(code, text.decode(errors="replace"))
        try:
            code, text = smtp.data(raw)
        except smtplib.SMTPDataError as exc:
            error = exc.smtp_error
            return Reply(exc.smtp_code, error.decode(errors="replace") if isinstance(error, bytes) else error)
        return Reply(code, text.decode(errors="replace"))


def send_queued(port: int, raw: bytes, **kwargs: Any) -> str:
    """Send and return the queued id; fail the test on any other reply."""
    reply = send(port, raw, **kwargs)
    assert reply.queued_id is not None, f"expected '250 ... queued as ID', got {reply.code} {reply.text}"
    return reply.queued_id


def has_blob(store: Store, sha256: str) -> bool:
    """Whether a blob with this hash is stored, in the database or as a file (the store reads it or says it is not
    there)."""
    try:
        store.content.get_blob(sha256)
    except BlobNotFoundError:
        return False
    return True


def message_by_dedupe_key(store: Store, key: str) -> int | None:
    """The id of the message filed under ``key`` (original Message-ID or content hash), or ``None``."""
    with store.engine.connect() as conn:
        found: int | None = conn.scalar(select(Message.id).where(Message.dedupe_key == key))
    return found


def gateway_settings(**given: Any) -> GatewaySettings:
    """Settings for a test server on a free loopback port: ``[smtp]``'s defaults (the one copy of them, in
    ``mailassist.config.SmtpConfig``) with small limits, and ``given`` over both."""
    small = dict(
        host="127.0.0.1",
        port=0,
        hostname="mx.test",
        max_message_size=64 * 1024,
        max_connections=10,
        command_timeout=30,
        session_timeout=60,
        shutdown_grace=10,
    )
    defaults = SmtpConfig()
    return from_section(defaults, GatewaySettings, **(small | {"per_ip_exempt": tuple(defaults.per_ip_exempt)} | given))
