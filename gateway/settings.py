"""The SMTP server's settings: the gateway's view of ``[smtp]`` (``mailassist.build`` makes them from the config)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """The gateway's view of ``[smtp]``. The values, and their defaults, come from ``mailassist.config.SmtpConfig``
    (``mailassist.build.gateway_settings``): the gateway keeps no second copy of a limit."""

    host: str
    port: int
    hostname: str
    max_message_size: int
    max_connections: int
    command_timeout: float
    session_timeout: float
    shutdown_grace: float
    #: DATA commands receiving or storing at once; more wait for a slot (see ``DATA_SLOT_WAIT``).
    max_concurrent_data: int
    #: MAIL before STARTTLS gets "530 5.7.0" (needs ``tls_context``).
    require_tls: bool
    #: Seconds without a byte of the message, after the 354, before "421 4.4.2" and a hang-up.
    data_timeout: float
    #: Least average bytes a second of a message, checked from ``min_data_rate_grace`` seconds after the 354 on
    #: (0: not checked).
    min_data_rate: float
    min_data_rate_grace: float
    #: Per client address (IPv6: per /84, ``gateway.peers``); 0 means no limit.
    max_connections_per_ip: int
    max_messages_per_minute_per_ip: int
    max_data_per_ip: int
    #: Networks the per-address limits do not apply to.
    per_ip_exempt: tuple[str, ...]
    #: Offered with STARTTLS when set (a server context with its certificate chain loaded).
    tls_context: ssl.SSLContext | None = None
