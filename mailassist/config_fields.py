"""The configuration's building blocks: its error, the base of every section, and the field types and checks the
sections share (listen addresses, email addresses, domains, networks, name servers, loopback hosts)."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

S = TypeVar("S", bound="DataclassInstance")

_LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid; ``str()`` is the user-facing message."""


def _listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT such as '127.0.0.1:2525', got {value!r}")
    return value


def _address(value: str) -> str:
    if not _ADDRESS.match(value):
        raise ValueError(f"not an email address: {value!r}")
    local, _, domain = value.rpartition("@")
    return f"{local.lower()}@{domain.lower()}"


def _domain(value: str) -> str:
    value = value.strip().lower().rstrip(".")
    if not value or "@" in value or " " in value or "." not in value:
        raise ValueError(f"not a domain name: {value!r}")
    return value


Listen = Annotated[str, AfterValidator(_listen)]


Address = Annotated[str, AfterValidator(_address)]


Domain = Annotated[str, AfterValidator(_domain)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def from_section(section: BaseModel, settings: type[S], **given: Any) -> S:
    """``settings`` with each of its fields that ``section`` has by the same name taken from it, and ``given`` for
    the rest (or instead). A field that neither has keeps its default."""
    names = {f.name for f in dataclasses.fields(settings)} & set(type(section).model_fields)
    return settings(**{n: getattr(section, n) for n in names - set(given)}, **given)


def network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"not an IP network in CIDR form such as '10.0.0.0/8' or '::1/128': {value!r}") from None
    return value


def nameserver(value: str) -> str:
    if value.startswith("["):  # [IPv6]:port
        host, _, rest = value[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else ("" if not rest else "x")
    elif value.count(":") == 1:  # IPv4:port
        host, _, port = value.partition(":")
    else:
        host, port = value, ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"expected an IP address, optionally with a port ('127.0.0.1:5353'), got {value!r}") from None
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise ValueError(f"bad port in {value!r}")
    return value


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
