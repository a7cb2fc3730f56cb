"""A throwaway Dovecot IMAP server for tests and the bench: its own config, run directory, users and maildirs in a
temporary directory, listening on 127.0.0.1 on free ports (plain/STARTTLS and, with a certificate, implicit TLS).

``dovecot -c CONFIG -F`` runs in the foreground as a child process; a system Dovecot (started by the Debian package)
is never used nor disturbed. As root, mail is owned by ``nobody`` and the login processes run as ``nobody`` (Dovecot
refuses root for both); as any other user, everything runs as that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

#: Where Debian installs it (``/usr/sbin`` is not on every user's PATH).
DOVECOT_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")


def dovecot_binary() -> str | None:
    """The ``dovecot`` binary, or ``None`` when it is not installed."""
    found = shutil.which("dovecot")
    if found:
        return found
    return next((p for p in DOVECOT_CANDIDATES if os.access(p, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            return sock.recv(4).startswith(b"* OK")
    except OSError:
        return False


_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = {ssl}
{ssl_files}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
mail_fsync = never
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service anvil {{
  chroot =
  # No growing delay after failed logins (the auth penalty): the wrong-password tests log in many times.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/home/%u
}}
"""


class Dovecot:
    """One Dovecot: ``start()``, ``add_user()``, ``deliver()`` mail, ``stop()``; ``close()`` removes everything."""

    def __init__(self, binary: str, *, cert: tuple[Path, Path] | None = None) -> None:
        self.binary = binary
        #: PEM certificate chain and key for STARTTLS and implicit TLS; ``None``: plain IMAP only.
        self.cert = cert
        # Not under pytest's tmp_path: that is private to its user, and the mail processes run as nobody.
        self.root = Path(tempfile.mkdtemp(prefix="mailassist-dovecot-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.tls_port = free_port() if cert is not None else 0
        self.process: subprocess.Popen[bytes] | None = None
        self.users: dict[str, str] = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.mail_uid, self.mail_gid = nobody.pw_uid, nobody.pw_gid
            internal_user, internal_group, login_user = "root", "root", "nobody"
        else:
            me = pwd.getpwuid(os.geteuid())
            self.mail_uid, self.mail_gid = me.pw_uid, me.pw_gid
            internal_user, login_user = me.pw_name, me.pw_name
            internal_group = str(os.getegid())
        for sub in ("mail", "home"):
            (self.root / sub).mkdir()
            os.chown(self.root / sub, self.mail_uid, self.mail_gid)
        ssl_files = ""
        if cert is not None:
            ssl_files = f"ssl_cert = <{cert[0]}\nssl_key = <{cert[1]}"
        (self.root / "dovecot.conf").write_text(
            _CONFIG.format(
                root=self.root,
                ssl="yes" if cert is not None else "no",
                ssl_files=ssl_files,
                internal_user=internal_user,
                internal_group=internal_group,
                login_user=login_user,
                port=self.port,
                tls_port=self.tls_port,
                mail_uid=self.mail_uid,
                mail_gid=self.mail_gid,
            )
        )
        (self.root / "passwd").write_text("")

    # -- the server

    def start(self, timeout: float = 20.0) -> Dovecot:
        """Start the server (again, on the same ports) and wait until it greets."""
        assert self.process is None
        with open(self.root / "stderr.log", "ab") as stderr:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [self.binary, "-c", str(self.root / "dovecot.conf"), "-F"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.log_text()
                self.stop()
                raise RuntimeError(f"dovecot did not start on 127.0.0.1:{self.port}:\n{log}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Stop the server (its child processes too) and wait until its port is closed."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            # The whole process group at once: a server that goes away, as a crash would (and fast).
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        """Stop it and remove its directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in (self.root / "dovecot.log", self.root / "stderr.log") if p.exists()
        )

    # -- users and mail

    def add_user(self, name: str, password: str) -> None:
        """A user with this password (Dovecot rereads the file when it changes)."""
        self.users[name] = password
        text = "".join(f"{user}:{{PLAIN}}{pw}\n" for user, pw in self.users.items())
        path = self.root / "passwd"
        path.write_text(text)
        # A later change within the same second must still be seen as a change.
        stamp = time.time() + len(self.users)
        os.utime(path, (stamp, stamp))

    def client(self, user: str) -> IMAPClient:
        """A plain IMAP connection logged in as ``user`` (to deliver and look)."""
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        client.login(user, self.users[user])
        return client

    def deliver(self, user: str, *messages: bytes, folder: str = "INBOX", when: datetime | None = None) -> None:
        """APPEND ``messages`` to ``user``'s ``folder`` (created if need be), received ``when`` (default: now)."""
        with self.client(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in messages:
                client.append(folder, raw, msg_time=when)

    def recreate_folder(self, user: str, folder: str) -> None:
        """Delete ``folder`` and create it again: same name, new UIDVALIDITY, no messages."""
        with self.client(user) as client:
            client.delete_folder(folder)
            client.create_folder(folder)

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, tuple[Any, ...]]:
        """Each message's flags in ``folder``, by UID."""
        with self.client(user) as client:
            client.select_folder(folder, readonly=True)
            return {uid: tuple(flags) for uid, flags in client.get_flags(client.search("ALL")).items()}

    def count(self, user: str, folder: str = "INBOX") -> int:
        with self.client(user) as client:
            return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        with self.client(user) as client:
            return int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def put_maildir(self, user: str, messages: list[bytes]) -> None:
        """Write ``messages`` straight into ``user``'s INBOX maildir (``new/``), as a delivery agent would: fast
        for many messages. Dovecot gives them UIDs at its next look."""
        home = self.root / "mail" / user
        for sub in ("", "tmp", "new", "cur"):
            (home / sub).mkdir(exist_ok=True)
            os.chown(home / sub, self.mail_uid, self.mail_gid)
        stamp = int(time.time())
        for n, raw in enumerate(messages):
            name = f"{stamp}.M{n}P{os.getpid()}.mailassist-test"
            tmp = home / "tmp" / name
            tmp.write_bytes(raw)
            os.chown(tmp, self.mail_uid, self.mail_gid)
            tmp.rename(home / "new" / name)
