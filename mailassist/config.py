"""Configuration: one TOML file, validated at start so a wrong key or value names its path.

Every key is documented in ``config.example.toml``. Packages never import this module: the CLI reads the
config and hands each package plain values (see ``mailassist.runtime``).
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ValidationError,
    field_validator,
)

from mailassist.config_fields import (
    Address,
    ConfigError,
    Domain,
    Listen,
    Section,
    nameserver,
    network,
)
from mailassist.config_io import ImapSourceConfig, SourcesConfig, WebhookConfig, check_webhook_secret

#: Names other modules import from here (defined in ``config_fields`` and ``config_io``).
__all__ = ["Config", "ConfigError", "ImapSourceConfig", "WebhookConfig", "check_webhook_secret", "load_config"]

#: Used when neither ``--config`` nor ``MAILASSIST_CONFIG`` names a file.
DEFAULT_CONFIG = "config.example.toml"

_PREFIX = re.compile(r"^[A-Z][A-Z0-9]{0,15}$")


class SmtpConfig(Section):
    listen: Listen = "127.0.0.1:2525"
    hostname: str = "mailassist.localhost"
    max_message_size: int = Field(default=25 * 1024 * 1024, ge=1024)
    max_connections: int = Field(default=100, ge=1)
    max_recipients: int = Field(default=20, ge=1)
    command_timeout: float = Field(default=300, gt=0)
    session_timeout: float = Field(default=1800, gt=0)
    shutdown_grace: float = Field(default=30, ge=0)
    store_timeout: float = Field(default=30, gt=0)
    max_concurrent_data: int = Field(default=8, ge=1, le=1000)
    storage_process: bool = True
    #: PEM certificate chain offered with STARTTLS; empty: no STARTTLS. Relative to the config file.
    tls_cert: str = ""
    #: Its PEM private key; empty: the key is in ``tls_cert``'s file.
    tls_key: str = ""
    require_tls: bool = False
    data_timeout: float = Field(default=120, gt=0)
    #: Bytes a second, on average from the 354 on, checked after ``min_data_rate_grace`` seconds; 0: off.
    min_data_rate: int = Field(default=500, ge=0)
    min_data_rate_grace: float = Field(default=10, ge=0)
    #: Per client address (IPv6: per /84); 0: no limit.
    max_connections_per_ip: int = Field(default=20, ge=0)
    max_messages_per_minute_per_ip: int = Field(default=300, ge=0)
    max_data_per_ip: int = Field(default=4, ge=0)
    #: Clients the per-address limits do not apply to. Loopback: benchmarks and a local relay run unlimited.
    per_ip_exempt: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])

    @field_validator("per_ip_exempt")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"not an IP network such as '10.0.0.0/8' or '::1/128': {item!r}") from None
        return value


class AssistantConfig(Section):
    addresses: list[Address] = Field(default_factory=lambda: ["assistant@crm.example.com"], min_length=1)


class OrganizationConfig(Section):
    domains: list[Domain] = Field(default_factory=list)


Network = Annotated[str, AfterValidator(network)]
Nameserver = Annotated[str, AfterValidator(nameserver)]


class TrustConfig(Section):
    #: Peers whose mail is the organisation's own (Postfix's mynetworks). Loopback: ``make run`` needs no setup.
    trusted_relays: list[Network] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    #: The authserv-id of the Authentication-Results a trusted relay adds; empty: none is read.
    authserv_id: str = ""
    #: Domains of the organisation's mail provider whose ARC or DKIM pass vouches for a redirect's trace headers.
    provider_domains: list[Domain] = Field(default_factory=list)
    #: DNS servers for DKIM, SPF, DMARC and ARC; empty: the system's (/etc/resolv.conf).
    nameservers: list[Nameserver] = Field(default_factory=list)
    dns_timeout: float = Field(default=5.0, gt=0, le=60)
    dns_cache_size: int = Field(default=10_000, ge=0, le=1_000_000)


class StoreConfig(Section):
    url: str = "sqlite:///var/mailassist.db"
    blob_dir: str = "var/blobs"
    inline_max: int = Field(default=64 * 1024, ge=0, le=16 * 1024 * 1024)

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql+psycopg://", "postgresql://")):
            raise ValueError(
                "expected 'sqlite:///PATH' or 'postgresql+psycopg://USER@HOST:PORT/DB', "
                f"got {value.split('://', maxsplit=1)[0]!r}"
            )
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value


class QueueConfig(Section):
    broker: str = "memory"
    max_attempts: int = Field(default=5, ge=1, le=100)
    min_backoff: float = Field(default=5, gt=0)
    max_backoff: float = Field(default=300, gt=0)
    worker_threads: int = Field(default=2, ge=1, le=64)
    worker_processes: int = Field(default=0, ge=0, le=64)
    sweep_interval: float = Field(default=60, gt=0)
    sweep_grace: float = Field(default=600, gt=0)

    @field_validator("broker")
    @classmethod
    def _known_broker(cls, value: str) -> str:
        if value != "memory" and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected 'memory' or a redis URL such as 'redis://127.0.0.1:6379/0', got {value!r}")
        return value


class WebConfig(Section):
    listen: Listen = "127.0.0.1:8025"
    #: Signs session cookies. Empty: generated once into ``web-secret`` beside ``store.blob_dir``.
    secret_key: str = ""
    #: Mark session cookies ``Secure``: on HTTPS requests only (``auto``), ``always`` or ``never``.
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    #: ``Strict-Transport-Security: max-age=N`` on every response; 0: none. For a viewer served over HTTPS only.
    hsts_max_age: int = Field(default=0, ge=0)
    #: Reverse proxies (IPs or CIDR networks) whose ``X-Forwarded-For`` / ``X-Forwarded-Proto`` count; none by default.
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError("must be empty (generated) or at least 32 characters, e.g. from 'openssl rand -hex 32'")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        # Written as networks ('10.0.0.7' as '10.0.0.7/32'): uvicorn silently ignores a network with host bits set.
        networks = []
        for proxy in value:
            try:
                networks.append(str(ipaddress.ip_network(proxy.strip(), strict=False)))
            except ValueError:
                raise ValueError(f"not an IP address or network like '127.0.0.1' or '10.0.0.0/8': {proxy!r}") from None
        return networks


class IgnoreRuleConfig(Section):
    name: str = Field(min_length=1)
    match: str = Field(min_length=1)
    subject: str | None = None

    @field_validator("subject")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class LinkerConfig(Section):
    strip_plus_tags: bool = False
    free_mail_domains: list[Domain] = Field(default_factory=list)
    ignore: list[IgnoreRuleConfig] = Field(default_factory=list)
    #: Machine-sent mail (auto-replies, bounces, read receipts, newsletters): "ignore" it, or "file" it.
    automated: Literal["ignore", "file"] = "ignore"
    #: Mail with no participant outside the organisation: "ignore" it, or "file" it.
    internal: Literal["ignore", "file"] = "ignore"
    #: Seconds of CPU the linker may spend on one message; past it the message ends failed (no retry).
    cpu_limit: float = Field(default=10.0, gt=0, le=3600)


class LoggingConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


#: Keys whose value is never echoed back in a config error.
_SECRET_KEYS = frozenset({"password", "secret", "secret_key"})


class CodePrefixConfig(Section):
    """``[codes.OP]``: a prefix's record type, and how its codes may be written (``OP = "deal"`` is the short form)."""

    type: str
    #: ``"-"`` (OP-123), ``" "`` (OP 123) and/or ``""`` (OP123); always looked up and stored as OP-123.
    separators: list[Literal["-", " ", ""]] = Field(default=["-"], min_length=1)


class Config(Section):
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    assistant: AssistantConfig = Field(default_factory=AssistantConfig)
    organization: OrganizationConfig = Field(default_factory=OrganizationConfig)
    trust: TrustConfig = Field(default_factory=TrustConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    linker: LinkerConfig = Field(default_factory=LinkerConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    #: ``OP = "deal"`` is read as ``[codes.OP] type = "deal"`` (hyphen only).
    codes: dict[str, CodePrefixConfig] = Field(default_factory=dict)
    #: The directory the file was read from; relative paths in the file resolve against it.
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("codes", mode="before")
    @classmethod
    def _short_codes(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        for prefix, rule in value.items():
            if not isinstance(rule, str | dict | CodePrefixConfig):
                raise ValueError(f"code prefix {prefix!r}: a record type such as 'deal', or a table with 'type'")
        return {prefix: {"type": rule} if isinstance(rule, str) else rule for prefix, rule in value.items()}

    @field_validator("codes")
    @classmethod
    def _codes(cls, value: dict[str, CodePrefixConfig]) -> dict[str, CodePrefixConfig]:
        for prefix, rule in value.items():
            if not _PREFIX.match(prefix):
                raise ValueError(f"code prefix {prefix!r} must be upper-case letters and digits, such as 'OP'")
            if not rule.type.strip():
                raise ValueError(f"code prefix {prefix!r} needs a record type such as 'deal'")
            # Q2 with no separator would read Q2024 as Q2-024 or Q20-24: the digits must start after the prefix.
            if "" in rule.separators and prefix[-1].isdigit():
                raise ValueError(f"code prefix {prefix!r} ends with a digit, so it needs a separator: '-' or ' '")
        return value

    @property
    def code_types(self) -> dict[str, str]:
        """Code prefix → record type."""
        return {prefix: rule.type for prefix, rule in self.codes.items()}

    @property
    def code_separators(self) -> dict[str, tuple[str, ...]]:
        """Code prefix → how its codes may be written (``"-"`` only, unless ``[codes.PREFIX] separators`` says)."""
        return {prefix: tuple(dict.fromkeys(rule.separators)) for prefix, rule in self.codes.items()}

    def resolve(self, path: str) -> Path:
        """Return ``path`` made absolute against the config file's directory."""
        p = Path(path)
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def store_url(self) -> str:
        """The store URL with a relative SQLite path resolved against the config file's directory."""
        url = self.store.url
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                return "sqlite:///" + str(self.resolve(path).resolve())
        return url


def _format_location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    for part in loc[:-1]:
        if isinstance(part, int):  # an item of the list the previous part named
            continue
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if getattr(annotation, "__origin__", None) is list:  # [[webhooks]], [[sources.imap]]
            annotation = annotation.__args__[0]  # type: ignore[union-attr]
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [k for k in model.model_fields if k != "base_dir"]


def format_errors(source: str, error: ValidationError) -> str:
    """Turn pydantic's errors into ``file: key.path: what is wrong`` lines."""
    lines = []
    for err in error.errors():
        loc = tuple(err["loc"])
        where = _format_location(loc)
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(Config, loc))
            msg = f"unknown key; allowed here: {allowed}"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            secret = bool(loc) and loc[-1] in _SECRET_KEYS
            shown = "input" in err and err["type"] not in {"missing", "value_error"} and not secret
            if shown and not isinstance(err["input"], dict):
                msg += f" (got {err['input']!r})"
        lines.append(f"{source}: {where}: {msg}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], source: str = "<config>", base_dir: Path | None = None) -> Config:
    """Validate a parsed TOML document."""
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(source, exc)) from None
    if config.queue.min_backoff > config.queue.max_backoff:
        raise ConfigError(f"{source}: queue.min_backoff: must not exceed queue.max_backoff")
    if config.smtp.require_tls and not config.smtp.tls_cert:
        raise ConfigError(f"{source}: smtp.require_tls: needs smtp.tls_cert (and smtp.tls_key) for STARTTLS")
    if config.smtp.tls_key and not config.smtp.tls_cert:
        raise ConfigError(f"{source}: smtp.tls_key: needs smtp.tls_cert")
    names = [w.name for w in config.webhooks]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"{source}: webhooks[{i}]: webhook {name!r}: another [[webhooks]] block has this name")
    names = [s.name for s in config.sources.imap]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(
                f"{source}: sources.imap[{i}]: IMAP source {name!r}: another [[sources.imap]] block has this name"
            )
    if base_dir is not None:
        config = config.model_copy(update={"base_dir": base_dir})
    return config


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the config file named by ``path``, ``MAILASSIST_CONFIG`` or the default."""
    name = os.fspath(path) if path is not None else os.environ.get("MAILASSIST_CONFIG", DEFAULT_CONFIG)
    file = Path(name)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{name}: config file not found (use --config or MAILASSIST_CONFIG)") from None
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read config file: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: config file is not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: invalid TOML: {exc}") from None
    return parse_config(data, source=name, base_dir=file.resolve().parent)
