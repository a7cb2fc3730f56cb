"""Send one BCC-style mail as Anna Nowak to the gateway a config names, printing every SMTP reply.

Usage: ``python examples/demo_mail.py CONFIG`` (``make demo-mail`` runs it after importing ``examples/users.csv``).
Exits 1 when the gateway refuses the mail, with a clear message when it is not running.
"""

from __future__ import annotations

import smtplib
import sys
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from mailassist.config import load_config

SENDER = "anna.nowak@example.com"


def demo_message() -> EmailMessage:
    """Anna's offer to a client; the assistant is in BCC, so only the envelope names it."""
    msg = EmailMessage()
    msg["From"] = f"Anna Nowak <{SENDER}>"
    msg["To"] = "Tomasz Wiśniewski <t.wisniewski@acme-logistics.example.pl>"
    msg["Subject"] = "Offer OP-123"
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="example.com")
    msg.set_content("Dear Tomasz,\n\nplease find our offer for the fleet renewal below.\n\nBest regards,\nAnna\n")
    return msg


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: demo_mail.py CONFIG", file=sys.stderr)
        return 2
    config = load_config(argv[0])
    host, _, port = config.smtp.listen.rpartition(":")
    host = "127.0.0.1" if host in ("0.0.0.0", "[::]", "::") else host.strip("[]")  # noqa: S104 (a wildcard: connect to loopback)
    assistant = config.assistant.addresses[0]
    try:
        smtp = smtplib.SMTP(host, int(port), timeout=30)
    except OSError as exc:
        print(
            f"cannot connect to {host}:{port} ({exc}); is the gateway running? Start it with: make run", file=sys.stderr
        )
        return 1
    with smtp:
        print("EHLO ->", smtp.ehlo()[0])
        for step, reply in (("MAIL FROM", smtp.mail(SENDER)), ("RCPT TO", smtp.rcpt(assistant))):
            print(f"{step} -> {reply[0]} {reply[1].decode()}")
            if reply[0] >= 400:
                return 1
        code, text = smtp.data(demo_message().as_bytes())
        print(f"DATA -> {code} {text.decode()}")
        return 0 if code == 250 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
