"""Building the parts from a ``Config``: the store, the linker's processor, and each package's settings (plain
values: packages never import the config). One place for both ``mailassist.runtime`` and the linker processes
(``mailassist.linkpool``)."""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dns.exception
import structlog

from gateway.admission import AdmissionSettings
from gateway.ingest import API, Ingested, Ingestor, Voucher
from gateway.mailauth import Authenticator, Resolver
from gateway.server import GatewaySettings
from gateway.trust import TrustSettings
from linker.settings import IgnoreRule, LinkerSettings
from linker.tasks import Processor, QueueSettings, linker_pipeline
from mailassist.config import Config, ConfigError
from mailassist.config_fields import from_section
from store import Store, db
from web.ingest_api import IngestAnswer, IngestFn

log = structlog.get_logger("mailassist")


def split_listen(listen: str) -> tuple[str, int]:
    """``"HOST:PORT"`` → ``(host, port)``; IPv6 hosts may be bracketed."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def open_store(config: Config, *, upgrade: bool | None = None) -> Store:
    """Open the store; embedded SQLite migrates itself, PostgreSQL must be at the head revision."""
    store = Store(config.store_url, config.resolve(config.store.blob_dir), inline_max=config.store.inline_max)
    store.open(upgrade=upgrade)
    return store


def queue_settings(config: Config) -> QueueSettings:
    """``[queue]`` as the actor, its retries and the sweeper use it."""
    return from_section(config.queue, QueueSettings)


def linker_settings(config: Config) -> LinkerSettings:
    """The pipeline's view of the config."""
    return LinkerSettings.build(
        assistant_addresses=config.assistant.addresses,
        organization_domains=config.organization.domains,
        codes=config.code_types,
        code_separators=config.code_separators,
        strip_plus_tags=config.linker.strip_plus_tags,
        extra_free_mail=config.linker.free_mail_domains,
        ignore_rules=[
            IgnoreRule(r.name, r.match, re.compile(r.subject) if r.subject else None) for r in config.linker.ignore
        ],
        automated=config.linker.automated,
        internal=config.linker.internal,
        cpu_limit=config.linker.cpu_limit,
    )


@contextmanager
def open_existing_store(config: Config) -> Iterator[Store | None]:
    """The configured store, schema checked, to read from; ``None`` when there is no database yet."""
    url = config.store_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        log.warning("no database yet; matching against an empty directory", store=url)
        yield None
        return
    store = Store(url, config.resolve(config.store.blob_dir))
    try:
        db.check_schema(store.engine)
        yield store
    finally:
        store.close()


def make_processor(config: Config, store: Store) -> Processor:
    """The actor's work: the real pipeline over the store's directory."""
    from mailassist.webhooks import Notifier, webhook_endpoints  # noqa: PLC0415 - it imports linker.tasks too

    pipeline = linker_pipeline(linker_settings(config), store.directory)
    endpoints = webhook_endpoints(config)
    return Processor(store, queue_settings(config), pipeline, Notifier(endpoints) if endpoints else None)


def admission_settings(config: Config) -> AdmissionSettings:
    """``[trust]`` and ``[organization]`` as the gateway's trust decision uses them."""
    t = config.trust
    return AdmissionSettings(
        trust=TrustSettings(org_domains=tuple(config.organization.domains), provider_domains=tuple(t.provider_domains)),
        trusted_relays=tuple(ipaddress.ip_network(n, strict=False) for n in t.trusted_relays),
        authserv_id=t.authserv_id.strip() or None,
    )


def make_ingestor(config: Config, store: Store, enqueue: Callable[[Sequence[str]], None]) -> Ingestor:
    """The intake for ``mailassist ingest`` and ``POST /api/ingest``: SMTP's size limit and store timeout."""
    return Ingestor(
        store, enqueue=enqueue, max_size=config.smtp.max_message_size, store_timeout=config.smtp.store_timeout
    )


def api_ingest(ingestor: Ingestor) -> IngestFn:
    """``POST /api/ingest``'s intake: the token's user vouches for the message (proof ``api``), source ``api``."""

    def ingest(raw: bytes, user: str) -> IngestAnswer:
        voucher = Voucher(user, API, f"ingest token of {user}")
        outcome = ingestor.ingest(raw, source=API, voucher=voucher)
        if isinstance(outcome, Ingested):
            reply = f"250 2.0.0 Ok: queued as {outcome.inbound_id}"
            return IngestAnswer(outcome.inbound_id, reply, outcome.submitter, API, outcome.duplicate)
        return IngestAnswer(None, outcome.reply)

    return ingest


def make_authenticator(config: Config) -> Authenticator:
    """DKIM, SPF, DMARC and ARC checks over the configured DNS servers, with their cache."""
    t = config.trust
    try:
        resolver = Resolver(t.nameservers, timeout=t.dns_timeout, cache_size=t.dns_cache_size)
    except dns.exception.DNSException as exc:  # no /etc/resolv.conf, or one without a nameserver
        raise ConfigError(
            f"trust.nameservers: empty, and the system's DNS configuration cannot be used ({exc}); "
            'set it, e.g. nameservers = ["127.0.0.1"]'
        ) from None
    return Authenticator(resolver)


def gateway_settings(config: Config) -> GatewaySettings:
    """``[smtp]`` as the gateway uses it, with the STARTTLS certificate loaded (``ConfigError`` if it cannot be)."""
    s = config.smtp
    host, port = split_listen(s.listen)
    return from_section(
        s,
        GatewaySettings,
        host=host,
        port=port,
        tls_context=smtp_tls_context(config),
        per_ip_exempt=tuple(s.per_ip_exempt),
    )


def smtp_tls_context(config: Config) -> ssl.SSLContext | None:
    """A server context for STARTTLS from ``smtp.tls_cert`` and ``smtp.tls_key``, or ``None`` when no certificate
    is configured. A missing or unreadable file, or a key that does not match, is a ``ConfigError``."""
    s = config.smtp
    if not s.tls_cert:
        return None
    cert = config.resolve(s.tls_cert)
    key = config.resolve(s.tls_key) if s.tls_key else None
    for name, path in (("tls_cert", cert), ("tls_key", key)):
        if path is not None and not path.is_file():
            raise ConfigError(f"smtp.{name}: no such file: {path}")
    # TLS 1.2 and up, no client certificates asked for (a sending MTA rarely has one).
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        files = f"{cert} and {key}" if key else str(cert)
        raise ConfigError(
            f"smtp.tls_cert: cannot load a PEM certificate chain and its private key from {files}: {exc.reason or exc}"
        ) from None
    except OSError as exc:
        raise ConfigError(f"smtp.tls_cert: cannot read {exc.filename or cert}: {exc.strerror or exc}") from None
    return context
