"""Where ``http_get`` may connect: URL rules, the host allowlist and the address blocklist.

Server-side request forgery is stopped in two places that must both agree. The URL is
parsed by the same parser that later sends the request (httpx's), so the checker and the
client can never disagree about which host a URL names; and the *resolved* addresses are
checked, every one of them, because a public-looking name can point anywhere. The caller
then connects to the address checked here (see ``tools.builtin.web``), so a DNS answer that
changes between check and connect changes nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.core.exceptions import ImproperlyConfigured

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = {"http": 80, "https": 443}
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))

_LABEL_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC_LABEL_RE = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_FORBIDDEN_CHARS_RE = re.compile(r"[\s\x00-\x1f\x7f\\]")


class UrlRejected(ValueError):
    """The URL text itself is not allowed (scheme, host, port, userinfo, allowlist)."""


class BlockedDestination(PermissionError):
    """The request would reach a forbidden address, directly or through a redirect.

    A ``PermissionError`` rather than a transient error: the retry policy never repeats it,
    and the model is told not to try again.
    """


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect and what to call the host on the wire."""

    url: httpx.URL
    host: str  # ASCII (IDNA) host name or compressed IP, lower case, no trailing dot
    port: int  # the effective port, default ports filled in
    ip: IPAddress | None  # set when the URL names an address instead of a host name

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if self.ip is not None and self.ip.version == 6 else self.host
        return host if self.port == SCHEMES[self.url.scheme] else f"{host}:{self.port}"


@dataclass(frozen=True)
class AllowEntry:
    host: str
    port: int | None  # None: the scheme's default port only
    wildcard: bool  # "*.example.com": subdomains of host, not host itself

    def matches(self, target: Target) -> bool:
        if self.port is None:
            if target.port != SCHEMES[target.url.scheme]:
                return False
        elif target.port != self.port:
            return False
        if self.wildcard:
            return target.ip is None and target.host.endswith("." + self.host)
        return target.host == self.host


def parse_allowlist(entries: Iterable[str]) -> list[AllowEntry]:
    """``TOOLS_HTTP_ALLOWED_HOSTS`` as matchers; a malformed entry is a configuration error."""
    parsed = []
    for raw in entries:
        entry = raw.strip().lower()
        wildcard = entry.startswith("*.")
        rest = entry[2:] if wildcard else entry
        try:
            ip = ipaddress.ip_address(rest)
        except ValueError:
            ip = None
        if ip is not None and not wildcard:
            parsed.append(AllowEntry(ip.compressed, None, False))
            continue
        try:
            url = httpx.URL("http://" + rest)
            host, ip = _canonical_host(url.raw_host.decode("ascii"))
        except (httpx.InvalidURL, UrlRejected, UnicodeError) as exc:
            raise ImproperlyConfigured(
                f"TOOLS_HTTP_ALLOWED_HOSTS entry {raw!r} is not a host name, 'host:port' or "
                f"'*.domain': {exc}"
            ) from None
        if url.raw_path not in (b"/", b"") or url.userinfo or "*" in rest:
            raise ImproperlyConfigured(
                f"TOOLS_HTTP_ALLOWED_HOSTS entry {raw!r} is not a host name, 'host:port' or '*.domain'"
            )
        if wildcard and ip is not None:
            raise ImproperlyConfigured(f"TOOLS_HTTP_ALLOWED_HOSTS entry {raw!r}: '*.' needs a domain name")
        parsed.append(AllowEntry(host, url.port, wildcard))
    return parsed


def parse_networks(entries: Iterable[str]) -> list[IPNetwork]:
    """``TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS`` as networks; a malformed CIDR is a configuration error."""
    networks = []
    for raw in entries:
        try:
            networks.append(ipaddress.ip_network(raw.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(f"TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS entry {raw!r}: {exc}") from None
    return networks


def check_url(url: str | httpx.URL, allowlist: list[AllowEntry]) -> Target:
    """Parse ``url`` and apply every rule that the URL text alone decides.

    Raises :class:`UrlRejected` with a message fit for the model. Addresses are checked
    later, after resolution, by :func:`address_problem`.
    """
    text = str(url)
    if _FORBIDDEN_CHARS_RE.search(text):
        raise UrlRejected("the URL contains whitespace, control characters or a backslash")
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise UrlRejected(f"not a valid URL: {exc}") from None
    if parsed.scheme not in SCHEMES:
        got = repr(parsed.scheme) if parsed.scheme else "no scheme"
        raise UrlRejected(f"only http and https URLs are allowed (got {got})")
    if parsed.userinfo or "@" in urlsplit(text).netloc:
        raise UrlRejected("URLs with a user name or password (user@host) are not allowed")
    raw_host = parsed.raw_host.decode("ascii", "replace")
    if not raw_host:
        raise UrlRejected("the URL has no host")
    host, ip = _canonical_host(raw_host)
    port = parsed.port if parsed.port is not None else SCHEMES[parsed.scheme]
    if not 1 <= port <= 65535:
        raise UrlRejected(f"port {port} is out of range")
    target = Target(parsed.copy_with(fragment=None), host, port, ip)
    if not any(entry.matches(target) for entry in allowlist):
        where = host if port == SCHEMES[parsed.scheme] else f"{host}:{port}"
        raise UrlRejected(f"{where} is not in the list of hosts this tool may contact")
    return target


def address_problem(ip: IPAddress, extra_allowed: Iterable[IPNetwork] = ()) -> str | None:
    """Why ``ip`` must not be contacted, or None when it may be.

    Blocks private, loopback, link-local, multicast, reserved, unspecified, site-local and
    shared (100.64.0.0/10) addresses, and IPv6 forms that embed such an IPv4 address
    (IPv4-mapped, 6to4, NAT64), unless an operator listed the network as extra allowed.
    """
    inner = embedded_ipv4(ip)
    candidates = (ip,) if inner is None else (ip, inner)
    for network in extra_allowed:
        if any(c.version == network.version and c in network for c in candidates):
            return None
    if inner is not None:
        problem = _plain_problem(inner)
        return f"{ip} embeds {inner}, which is {problem}" if problem else None
    problem = _plain_problem(ip)
    return f"{ip} is {problem}" if problem else None


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4 or NAT64), if any."""
    if ip.version != 6:
        return None
    assert isinstance(ip, ipaddress.IPv6Address)
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in prefix for prefix in NAT64_PREFIXES):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, without blocking the event loop.

    The one place that asks DNS: tests replace it to make a name resolve somewhere.
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    return addresses


def _plain_problem(ip: IPAddress) -> str | None:
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.version == 4 and ip in SHARED_ADDRESS_SPACE, "in the shared address space 100.64.0.0/10"),
        (ip.version == 6 and ip.is_site_local, "site-local"),  # type: ignore[union-attr]
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    )
    return next((reason for hit, reason in checks if hit), None)


def _canonical_host(host: str) -> tuple[str, IPAddress | None]:
    """(compressed address, address) for an IP literal, else (normalised name, None)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return _normalise_host(host), None
    return ip.compressed, ip


def _normalise_host(host: str) -> str:
    """A DNS host name in canonical form, or :class:`UrlRejected`.

    Only letters, digits, hyphens and underscores in dot-separated labels; a last label that
    is a number (``2130706433``, ``127.1``, ``0x7f.0.0.1``) is refused, because resolvers
    read such names as IPv4 addresses in forms ``ipaddress`` does not check.
    """
    name = host.lower().removesuffix(".")
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise UrlRejected(f"{host!r} is not a valid host name")
    if _NUMERIC_LABEL_RE.match(labels[-1]):
        raise UrlRejected(
            f"{host!r} is not a valid host name; write IPv4 addresses as four decimal numbers "
            "(numeric, octal and hexadecimal forms are not accepted)"
        )
    return name
