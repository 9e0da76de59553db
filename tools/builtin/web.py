"""``http_get``: fetch a page from an allowlisted host, without becoming an SSRF proxy.

A model that can make the server fetch URLs can aim it at the cloud metadata service,
the admin port on localhost or a database on the private network. So every hop, the first
and each redirect, passes the same three checks (see ``tools.builtin.netguard``): the URL
text, the host allowlist, and every address the name resolves to; and the connection goes
to the address that was checked, never to a second DNS answer.
"""

from __future__ import annotations

import asyncio
import codecs
import socket
import ssl
from typing import Annotated, Any

import httpx
from django.conf import settings
from pydantic import Field

from tools.builtin import netguard
from tools.builtin.netguard import AllowEntry, BlockedDestination, IPAddress, IPNetwork, Target, UrlRejected
from tools.definition import Retry, Tool, tool
from tools.errors import ArgumentError, TransientToolError

MAX_REDIRECTS = 5
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
TEXT_TYPES = {
    "application/json", "application/xml", "application/javascript", "application/ecmascript",
    "application/x-javascript", "application/yaml", "application/x-yaml", "application/toml",
    "application/x-ndjson", "application/csv", "application/rss+xml", "application/atom+xml",
}
USER_AGENT = "Toolgate-http_get/1.0"
NO_RETRY_HINT = "Do not retry this URL; tell the user the address is not reachable from this tool."


class TooManyRedirects(RuntimeError):
    """The redirect chain was longer than ``MAX_REDIRECTS`` (or looped)."""


class TLSVerificationFailed(RuntimeError):
    """The server's certificate did not verify for the host name; retrying will not help."""


class HostNotFound(LookupError):
    """The host name does not resolve."""


def check_target(arguments: dict[str, Any], ctx: Any = None) -> None:
    """http_get's pre-check (``Tool.precheck``), run before the gate, without connecting
    and without resolving a name: the URL text and the host allowlist, and an address
    written in the URL. A URL the tool would refuse fails at once with the tool's error."""
    url = arguments["url"]
    allowlist = netguard.parse_allowlist(settings.TOOLS_HTTP_ALLOWED_HOSTS)
    try:
        target = netguard.check_url(url, allowlist)
    except UrlRejected as exc:
        raise ArgumentError(str(exc), path="url", got=url, hint=NO_RETRY_HINT) from None
    if target.ip is not None:
        extra = netguard.parse_networks(settings.TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS)
        problem = netguard.address_problem(target.ip, extra)
        if problem is not None:
            raise BlockedDestination(f"refused to connect to {target.host}: {problem}. {NO_RETRY_HINT}")


@tool(risk="medium", read_only=True, idempotent=True, retry=Retry(attempts=2), precheck=check_target)
async def http_get(
    url: Annotated[str, Field(min_length=1, max_length=2048)],
) -> dict[str, Any]:
    """Fetch a web page with HTTP GET and return its text.

    Only http:// and https:// URLs on the hosts the operator allowlisted can be fetched;
    any other host, a user@host URL, an IP address in a private or local range and a host
    name that resolves to one are refused, and so is a redirect to any of them. A URL
    with an explicit port (https://host:8443/) works only when the allowlist names that
    port. Redirects are followed (at most 5). Only text responses (text/*, JSON, XML,
    JavaScript) come back as text; for anything else `content` is null and you get the
    status and content type only. Long bodies are cut and marked `truncated`.

    The result is {url, final_url, status, content_type, content, truncated}. An HTTP
    error status (404, 500) is a result, not a failure: read `status`. A refused URL comes
    back as an error that says why: do not retry it with small variations.

    Args:
        url: The absolute http:// or https:// URL to fetch, e.g. https://example.com/page.
    """
    allowlist = netguard.parse_allowlist(settings.TOOLS_HTTP_ALLOWED_HOSTS)
    extra = netguard.parse_networks(settings.TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS)
    try:
        target = netguard.check_url(url, allowlist)
    except UrlRejected as exc:
        raise ArgumentError(str(exc), path="url", got=url, hint=NO_RETRY_HINT) from None
    limit = settings.TOOLS_HTTP_TIMEOUT
    try:
        async with asyncio.timeout(limit):
            return await _fetch(url, target, allowlist, extra, limit)
    except TimeoutError:
        raise TransientToolError(f"{url} did not answer within {limit:g} s") from None


async def _fetch(url: str, target: Target, allowlist: list[AllowEntry], extra: list[IPNetwork],
                 limit: float) -> dict[str, Any]:
    # trust_env=False: a proxy from the environment would connect on our behalf, to whatever
    # address *it* resolves, and bypass the address check and the pinning.
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False,
                                 timeout=httpx.Timeout(limit)) as client:
        for hop in range(MAX_REDIRECTS + 1):
            via = None if hop == 0 else f" (reached by a redirect from {url})"
            addresses = await _checked_addresses(target, extra, via or "")
            response = await _send(client, target, addresses)
            try:
                location = response.headers.get("location")
                if response.status_code not in REDIRECT_STATUSES or not location:
                    return await _result(url, target, response)
                next_url = target.url.join(location)
                try:
                    target = netguard.check_url(next_url, allowlist)
                except UrlRejected as exc:
                    raise BlockedDestination(
                        f"{url} redirected to {next_url}, which is not allowed: {exc}. {NO_RETRY_HINT}"
                    ) from None
            finally:
                await response.aclose()
    raise TooManyRedirects(f"{url} redirected more than {MAX_REDIRECTS} times; stopped at {target.url}")


async def _checked_addresses(target: Target, extra: list[IPNetwork], via: str) -> list[IPAddress]:
    """Every address of the target, each checked; one forbidden address refuses them all."""
    if target.ip is not None:
        addresses: list[IPAddress] = [target.ip]
    else:
        try:
            addresses = await netguard.resolve(target.host, target.port)
        except socket.gaierror as exc:
            if exc.errno == socket.EAI_AGAIN:
                raise TransientToolError(f"could not resolve {target.host}{via}: {exc}") from None
            raise HostNotFound(f"{target.host}{via} does not resolve: {exc}") from None
        if not addresses:
            raise HostNotFound(f"{target.host}{via} does not resolve to any address")
    for ip in addresses:
        problem = netguard.address_problem(ip, extra)
        if problem is not None:
            name = "" if target.ip is not None else f"{target.host} resolves to {ip}; "
            raise BlockedDestination(
                f"refused to connect to {target.host}{via}: {name}{problem}. {NO_RETRY_HINT}"
            )
    return addresses


async def _send(client: httpx.AsyncClient, target: Target, addresses: list[IPAddress]) -> httpx.Response:
    """GET the target from the first checked address that accepts a connection.

    The request URL names the address, so httpx never resolves the name again; the Host
    header and (for https) the TLS server name and certificate check use the host name.
    """
    headers = {"Host": target.host_header, "User-Agent": USER_AGENT, "Accept-Encoding": "identity",
               "Accept": "text/html, text/*;q=0.9, application/json;q=0.9, */*;q=0.5"}
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    failure: Exception | None = None
    for ip in addresses:
        request = client.build_request("GET", target.url.copy_with(host=ip.compressed),
                                       headers=headers, extensions=extensions)
        try:
            return await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            if _is_certificate_error(exc):
                raise TLSVerificationFailed(
                    f"the TLS certificate of {target.host} did not verify: {exc}"
                ) from None
            failure = exc
        except httpx.TimeoutException as exc:
            failure = exc
        except httpx.HTTPError as exc:
            raise TransientToolError(f"{target.url} failed: {type(exc).__name__}: {exc}") from None
    raise TransientToolError(f"could not connect to {target.host_header}: {failure}")


async def _result(url: str, target: Target, response: httpx.Response) -> dict[str, Any]:
    content_type = response.headers.get("content-type", "")
    body: dict[str, Any] = {
        "url": url, "final_url": str(target.url), "status": response.status_code,
        "content_type": content_type, "content": None, "truncated": False,
    }
    if not _is_text(content_type):
        return body
    max_bytes = settings.TOOLS_HTTP_MAX_BYTES
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            room = max_bytes - size
            if len(chunk) > room:
                chunks.append(chunk[:room])
                body["truncated"] = True
                break
            chunks.append(chunk)
            size += len(chunk)
    except httpx.HTTPError as exc:
        raise TransientToolError(f"reading {target.url} failed: {type(exc).__name__}: {exc}") from None
    body["content"] = b"".join(chunks).decode(_encoding(response), errors="replace")
    return body


def _is_text(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return (mime.startswith("text/") or mime in TEXT_TYPES
            or mime.endswith("+json") or mime.endswith("+xml"))


def _encoding(response: httpx.Response) -> str:
    name = response.charset_encoding or "utf-8"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "utf-8"


def _is_certificate_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


TOOLS: list[Tool] = [http_get]
