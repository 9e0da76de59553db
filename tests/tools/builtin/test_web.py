"""http_get: fetches what the allowlist allows, and nothing an attacker can aim it at.

Every test talks only to servers on 127.0.0.1 that the test starts itself. An autouse guard
refuses (and reports) any connection to a non-loopback address, so a check that silently
stopped working would fail here instead of sending traffic anywhere.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured

from tools import ArgumentError, TransientToolError
from tools.builtin import netguard
from tools.builtin.netguard import BlockedDestination, UrlRejected
from tools.builtin.web import TLSVerificationFailed, TooManyRedirects, http_get
from tools.context import ToolContext
from tools.errors import ErrorType
from tools.pipeline import Pipeline, ToolCallRequest
from tools.registry import Registry

# -- a guard at the edge: nothing but loopback is ever contacted ---------------------------------


@pytest.fixture(autouse=True)
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Every address a socket connected to during the test; non-loopback ones are refused."""
    attempts: list[tuple[str, int]] = []
    refused: list[tuple[str, int]] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def check(address: object) -> None:
        if isinstance(address, tuple):
            host = str(address[0]).split("%", 1)[0]
            attempts.append((host, int(address[1])))
            if not ipaddress.ip_address(host).is_loopback:
                refused.append((host, int(address[1])))
                raise ConnectionRefusedError(f"test guard: refused to contact {host}")

    def connect(self: socket.socket, address: object) -> None:
        check(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield attempts
    assert refused == [], f"the tool tried to contact non-loopback addresses: {refused}"


# -- a real HTTP server on 127.0.0.1 ------------------------------------------------------------


@dataclass
class LocalServer:
    port: int
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server_version = "TestServer/1.0"
    record: LocalServer

    def do_GET(self) -> None:
        self.record.requests.append((self.path, self.headers.get("Host", "")))
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if path == "/hello":
            self._send(200, "text/plain; charset=utf-8", b"hello, world")
        elif path == "/unicode":
            self._send(200, "text/html; charset=iso-8859-1", "<p>café</p>".encode("latin-1"))
        elif path == "/json":
            self._send(200, "application/json", json.dumps({"ok": True}).encode())
        elif path == "/binary":
            self._send(200, "image/png", b"\x89PNG\r\n\x1a\n" + bytes(1000))
        elif path == "/big":
            self._send(200, "text/plain", b"a" * int(query.get("n", "200000")))
        elif path == "/host":
            self._send(200, "text/plain", self.headers.get("Host", "").encode())
        elif path == "/missing":
            self._send(404, "text/plain", b"no such page")
        elif path == "/redirect":
            self._redirect(query["to"])
        elif path == "/loop":
            self._redirect("/loop")
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            if left:
                self._redirect(f"/chain/{left - 1}")
            else:
                self._send(200, "text/plain", b"end of chain")
        elif path == "/slow":
            time.sleep(float(query.get("s", "2")))
            self._send(200, "text/plain", b"late")
        else:
            self._send(404, "text/plain", b"unknown")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)  # the client may stop reading early, as it should for a capped body

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    block_on_close = False  # a slow handler must not hold up the test's teardown


def _start_server() -> tuple[_Server, LocalServer]:
    record = LocalServer(port=0)
    handler = type("Handler", (_Handler,), {"record": record})
    server = _Server(("127.0.0.1", 0), handler)
    record.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, record


@pytest.fixture
def server() -> Iterator[LocalServer]:
    httpd, record = _start_server()
    yield record
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def other_server() -> Iterator[LocalServer]:
    """A second local server that is NOT allowlisted: it must never see a request."""
    httpd, record = _start_server()
    yield record
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def allow_server(settings, server: LocalServer) -> LocalServer:
    settings.TOOLS_HTTP_ALLOWED_HOSTS = [f"127.0.0.1:{server.port}"]
    settings.TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.TOOLS_HTTP_TIMEOUT = 5.0
    return server


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Fake DNS answers (the one mocked edge): name -> addresses; calls are recorded."""
    answers: dict[str, list[str]] = {}
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[netguard.IPAddress]:
        calls.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(a) for a in answers[host]]

    monkeypatch.setattr(netguard, "resolve", resolve)
    answers["__calls__"] = calls  # type: ignore[assignment]
    return answers


# -- the happy path -----------------------------------------------------------------------------


async def test_fetches_text_from_an_allowlisted_server(allow_server: LocalServer) -> None:
    result = await http_get.fn(allow_server.url("/hello"))
    assert result == {
        "url": allow_server.url("/hello"), "final_url": allow_server.url("/hello"), "status": 200,
        "content_type": "text/plain; charset=utf-8", "content": "hello, world", "truncated": False,
    }


async def test_json_counts_as_text(allow_server: LocalServer) -> None:
    result = await http_get.fn(allow_server.url("/json"))
    assert json.loads(result["content"]) == {"ok": True}


async def test_body_is_decoded_with_the_declared_charset(allow_server: LocalServer) -> None:
    result = await http_get.fn(allow_server.url("/unicode"))
    assert result["content"] == "<p>café</p>"


async def test_binary_content_returns_metadata_only(allow_server: LocalServer) -> None:
    result = await http_get.fn(allow_server.url("/binary"))
    assert result["status"] == 200
    assert result["content_type"] == "image/png"
    assert result["content"] is None
    assert result["truncated"] is False


async def test_an_http_error_status_is_a_result_not_a_failure(allow_server: LocalServer) -> None:
    result = await http_get.fn(allow_server.url("/missing"))
    assert (result["status"], result["content"]) == (404, "no such page")


async def test_body_over_the_byte_limit_is_cut_and_marked_truncated(settings, allow_server) -> None:
    settings.TOOLS_HTTP_MAX_BYTES = 1000
    result = await http_get.fn(allow_server.url("/big?n=200000"))
    assert result["truncated"] is True
    assert result["content"] == "a" * 1000


async def test_body_exactly_at_the_byte_limit_is_not_truncated(settings, allow_server: LocalServer) -> None:
    settings.TOOLS_HTTP_MAX_BYTES = 1000
    result = await http_get.fn(allow_server.url("/big?n=1000"))
    assert (result["truncated"], len(result["content"])) == (False, 1000)


async def test_redirect_within_the_allowlist_is_followed(allow_server: LocalServer) -> None:
    result = await http_get.fn(allow_server.url("/redirect?to=/hello"))
    assert result["final_url"] == allow_server.url("/hello")
    assert result["url"] == allow_server.url("/redirect?to=/hello")
    assert result["content"] == "hello, world"


async def test_five_redirects_are_followed(allow_server: LocalServer) -> None:
    result = await http_get.fn(allow_server.url("/chain/5"))
    assert result["content"] == "end of chain"


async def test_a_sixth_redirect_is_refused(allow_server: LocalServer) -> None:
    with pytest.raises(TooManyRedirects, match="more than 5 times"):
        await http_get.fn(allow_server.url("/chain/6"))
    assert len(allow_server.requests) == 6


async def test_a_redirect_loop_is_capped(allow_server: LocalServer) -> None:
    with pytest.raises(TooManyRedirects):
        await http_get.fn(allow_server.url("/loop"))
    assert [path for path, _ in allow_server.requests] == ["/loop"] * 6


# -- pinning: the connection goes to the address that was checked ----------------------------


async def test_request_goes_to_the_checked_address_with_the_host_name_in_the_host_header(
    settings, server: LocalServer, resolver: dict[str, list[str]]
) -> None:
    settings.TOOLS_HTTP_ALLOWED_HOSTS = [f"pinned.test:{server.port}"]
    settings.TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    resolver["pinned.test"] = ["127.0.0.1"]
    result = await http_get.fn(f"http://pinned.test:{server.port}/host")
    assert result["content"] == f"pinned.test:{server.port}"
    assert result["final_url"] == f"http://pinned.test:{server.port}/host"
    assert resolver["__calls__"] == ["pinned.test"]  # resolved once; httpx never resolved it again


async def test_every_redirect_hop_is_resolved_and_checked_again(
    settings, server: LocalServer, resolver: dict[str, list[str]], connections: list[tuple[str, int]]
) -> None:
    settings.TOOLS_HTTP_ALLOWED_HOSTS = [f"pinned.test:{server.port}", "evil.test"]
    settings.TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    resolver["pinned.test"] = ["127.0.0.1"]
    resolver["evil.test"] = ["169.254.169.254"]
    with pytest.raises(BlockedDestination, match=r"evil\.test resolves to 169\.254\.169\.254.*link-local"):
        await http_get.fn(f"http://pinned.test:{server.port}/redirect?to=http://evil.test/latest/")
    assert resolver["__calls__"] == ["pinned.test", "evil.test"]
    assert {host for host, _ in connections} == {"127.0.0.1"}


# -- SSRF: addresses ------------------------------------------------------------------------------

FORBIDDEN_URLS = [
    "http://127.0.0.1/",
    "http://[::1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 form of 169.254.169.254
    "http://[2002:7f00:1::]/",  # 6to4 form of 127.0.0.1
    "http://[::]/",
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fec0::1]/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
]


@pytest.mark.parametrize("url", FORBIDDEN_URLS)
async def test_forbidden_address_is_refused_when_not_allowlisted(settings, url: str) -> None:
    settings.TOOLS_HTTP_ALLOWED_HOSTS = ["example.com"]
    with pytest.raises(ArgumentError, match="not in the list of hosts"):
        await http_get.fn(url)


@pytest.mark.parametrize("url", FORBIDDEN_URLS)
async def test_forbidden_address_is_refused_even_when_an_operator_allowlists_it(
    settings, url: str, connections: list[tuple[str, int]]
) -> None:
    settings.TOOLS_HTTP_ALLOWED_HOSTS = [httpx.URL(url).host]
    settings.TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS = []
    with pytest.raises(BlockedDestination, match="refused to connect"):
        await http_get.fn(url)
    assert connections == []


@pytest.mark.parametrize("url", [
    "http://2130706433/", "http://0177.0.0.1/", "http://0x7f.0.0.1/", "http://127.1/",
    "http://017700000001/", "http://0x7f000001/",
])
async def test_numeric_and_octal_ip_forms_are_rejected(settings, url: str, connections) -> None:
    settings.TOOLS_HTTP_ALLOWED_HOSTS = ["example.com"]
    settings.TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    with pytest.raises(ArgumentError, match="not a valid"):
        await http_get.fn(url)
    assert connections == []


async def test_a_name_resolving_to_loopback_is_refused(settings, connections) -> None:
    settings.TOOLS_HTTP_ALLOWED_HOSTS = ["localhost"]
    settings.TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS = []
    with pytest.raises(BlockedDestination, match=r"localhost resolves to (127\.0\.0\.1|::1).*loopback"):
        await http_get.fn("http://localhost/")
    assert connections == []


async def test_a_name_resolving_to_the_metadata_service_is_refused(settings, resolver, connections) -> None:
    settings.TOOLS_HTTP_ALLOWED_HOSTS = ["metadata.test"]
    resolver["metadata.test"] = ["169.254.169.254"]
    with pytest.raises(BlockedDestination, match=r"169\.254\.169\.254 is link-local"):
        await http_get.fn("http://metadata.test/latest/meta-data/")
    assert connections == []


async def test_one_forbidden_address_among_several_refuses_the_request(settings, resolver, connections):
    settings.TOOLS_HTTP_ALLOWED_HOSTS = ["mixed.test"]
    resolver["mixed.test"] = ["93.184.216.34", "10.1.2.3"]
    with pytest.raises(BlockedDestination, match=r"10\.1\.2\.3 is private"):
        await http_get.fn("http://mixed.test/")
    assert connections == []


# -- SSRF: redirects ------------------------------------------------------------------------------


async def test_redirect_to_a_host_that_is_not_allowlisted_is_refused_and_never_contacted(
    allow_server: LocalServer, other_server: LocalServer
) -> None:
    target = other_server.url("/secret")
    with pytest.raises(BlockedDestination, match=r"redirected to .*, which is not allowed"):
        await http_get.fn(allow_server.url(f"/redirect?to={target}"))
    assert other_server.requests == []


async def test_redirect_to_the_metadata_address_is_refused(
    allow_server: LocalServer, connections: list[tuple[str, int]]
) -> None:
    with pytest.raises(BlockedDestination, match=r"169\.254\.169\.254"):
        await http_get.fn(allow_server.url("/redirect?to=http://169.254.169.254/latest/meta-data/"))
    assert {host for host, _ in connections} == {"127.0.0.1"}


async def test_redirect_to_an_allowlisted_metadata_address_is_still_refused(
    settings, allow_server: LocalServer, connections: list[tuple[str, int]]
) -> None:
    settings.TOOLS_HTTP_ALLOWED_HOSTS = [f"127.0.0.1:{allow_server.port}", "169.254.169.254"]
    with pytest.raises(BlockedDestination, match=r"169\.254\.169\.254 is link-local"):
        await http_get.fn(allow_server.url("/redirect?to=http://169.254.169.254/latest/meta-data/"))
    assert {host for host, _ in connections} == {"127.0.0.1"}


async def test_redirect_to_a_file_url_is_refused(allow_server: LocalServer) -> None:
    with pytest.raises(BlockedDestination, match="only http and https"):
        await http_get.fn(allow_server.url("/redirect?to=file:///etc/passwd"))


# -- URL rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "ftp://example.com/file", "file:///etc/passwd", "gopher://example.com/", "javascript:alert(1)",
    "dict://example.com:11211/", "//example.com/",
])
async def test_schemes_other_than_http_and_https_are_rejected(settings, url: str) -> None:
    settings.TOOLS_HTTP_ALLOWED_HOSTS = ["example.com"]
    with pytest.raises(ArgumentError, match="only http and https"):
        await http_get.fn(url)


@pytest.mark.parametrize("url", [
    "http://user@example.com/", "http://user:pw@example.com/", "http://example.com@127.0.0.1/",
    "http://example.com%5C@127.0.0.1/",
])
async def test_user_info_in_the_url_is_rejected(settings, url: str) -> None:
    settings.TOOLS_HTTP_ALLOWED_HOSTS = ["example.com", "127.0.0.1"]
    with pytest.raises(ArgumentError, match="user name or password"):
        await http_get.fn(url)


@pytest.mark.parametrize("url", [
    "http://example.com\\@127.0.0.1/", "http://exa mple.com/", "http://example.com/\r\nX: y",
])
async def test_backslashes_whitespace_and_control_characters_are_rejected(settings, url: str) -> None:
    settings.TOOLS_HTTP_ALLOWED_HOSTS = ["example.com"]
    with pytest.raises(ArgumentError, match="whitespace, control characters or a backslash"):
        await http_get.fn(url)


async def test_a_host_that_is_not_allowlisted_is_rejected(settings, connections) -> None:
    settings.TOOLS_HTTP_ALLOWED_HOSTS = ["example.com"]
    with pytest.raises(ArgumentError, match=r"example\.org is not in the list of hosts"):
        await http_get.fn("https://example.org/")
    assert connections == []


async def test_an_explicit_port_needs_an_allowlist_entry_with_that_port(settings, server) -> None:
    settings.TOOLS_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with pytest.raises(ArgumentError, match=f"127.0.0.1:{server.port} is not in the list"):
        await http_get.fn(server.url("/hello"))
    assert server.requests == []


def _target(url: str, *entries: str) -> netguard.Target:
    return netguard.check_url(url, netguard.parse_allowlist(entries))


@pytest.mark.parametrize(("url", "entry"), [
    ("https://en.wikipedia.org/wiki/X", "*.wikipedia.org"),
    ("https://a.b.wikipedia.org/", "*.wikipedia.org"),
    ("https://EN.Wikipedia.ORG/", "*.WIKIPEDIA.org"),
    ("https://example.com./", "example.com"),
    ("https://example.com:443/", "example.com"),
    ("http://example.com:80/", "example.com"),
    ("https://example.com:8443/", "example.com:8443"),
    ("https://bücher.example/", "xn--bcher-kva.example"),
    ("https://xn--bcher-kva.example/", "BÜCHER.example"),
    ("http://[::1]:8080/", "[::1]:8080"),
])
def test_allowlist_matches_names_ports_and_wildcards(url: str, entry: str) -> None:
    assert _target(url, entry)


@pytest.mark.parametrize(("url", "entry"), [
    ("https://wikipedia.org/", "*.wikipedia.org"),  # a wildcard covers subdomains only
    ("https://evilwikipedia.org/", "*.wikipedia.org"),
    ("https://wikipedia.org.evil.com/", "*.wikipedia.org"),
    ("https://sub.example.com/", "example.com"),
    ("https://example.com:8443/", "example.com"),
    ("https://example.com/", "example.com:8443"),
    ("http://example.com:443/", "example.com"),  # 443 is not http's default port
])
def test_allowlist_does_not_match_lookalikes_or_other_ports(url: str, entry: str) -> None:
    with pytest.raises(UrlRejected, match="not in the list of hosts"):
        _target(url, entry)


@pytest.mark.parametrize("entry", ["exa mple.com", "http://example.com/", "*.", "*.127.0.0.1", "user@host"])
def test_a_malformed_allowlist_entry_is_a_configuration_error(entry: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="TOOLS_HTTP_ALLOWED_HOSTS"):
        netguard.parse_allowlist([entry])


def test_a_malformed_extra_network_is_a_configuration_error() -> None:
    with pytest.raises(ImproperlyConfigured, match="TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS"):
        netguard.parse_networks(["10.0.0.0/33"])


@pytest.mark.parametrize("address", [
    "93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::",
])
def test_public_addresses_are_allowed(address: str) -> None:
    assert netguard.address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("10.0.0.1", "private"),
    ("100.64.0.1", "shared address space"), ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "embeds 127.0.0.1"), ("64:ff9b::7f00:1", "embeds 127.0.0.1"),
    ("2002:a9fe:a9fe::", "embeds 169.254.169.254"), ("fec0::1", "site-local"), ("240.0.0.1", "private"),
])
def test_internal_addresses_are_blocked_with_a_reason(address: str, reason: str) -> None:
    problem = netguard.address_problem(ipaddress.ip_address(address))
    assert problem is not None and reason in problem


def test_extra_allowed_networks_open_exactly_those_addresses() -> None:
    extra = netguard.parse_networks(["127.0.0.1/32", "10.20.0.0/16"])
    assert netguard.address_problem(ipaddress.ip_address("127.0.0.1"), extra) is None
    assert netguard.address_problem(ipaddress.ip_address("::ffff:127.0.0.1"), extra) is None
    assert netguard.address_problem(ipaddress.ip_address("10.20.30.40"), extra) is None
    assert netguard.address_problem(ipaddress.ip_address("127.0.0.2"), extra) is not None
    assert netguard.address_problem(ipaddress.ip_address("10.21.0.1"), extra) is not None


# -- failures: what is retried and what is not ----------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_connection_refused_is_a_transient_error(settings) -> None:
    port = _closed_port()
    settings.TOOLS_HTTP_ALLOWED_HOSTS = [f"127.0.0.1:{port}"]
    settings.TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with pytest.raises(TransientToolError, match=f"could not connect to 127.0.0.1:{port}"):
        await http_get.fn(f"http://127.0.0.1:{port}/")


async def test_a_slow_server_times_out_as_a_transient_error(settings, allow_server: LocalServer) -> None:
    settings.TOOLS_HTTP_TIMEOUT = 0.3
    started = time.monotonic()
    with pytest.raises(TransientToolError):
        await http_get.fn(allow_server.url("/slow?s=2"))
    assert time.monotonic() - started < 1.9  # generous: proves it did not wait for the server


async def test_an_unknown_host_name_is_not_retried(settings, resolver) -> None:
    settings.TOOLS_HTTP_ALLOWED_HOSTS = ["nowhere.test"]
    with pytest.raises(LookupError, match=r"nowhere\.test does not resolve"):
        await http_get.fn("http://nowhere.test/")


def _pipeline() -> Pipeline:
    registry = Registry()
    registry.register(http_get)
    return Pipeline(registry, gate=None, access=None, record=False)


async def test_pipeline_reports_a_refused_url_as_a_validation_error(settings) -> None:
    settings.TOOLS_HTTP_ALLOWED_HOSTS = ["example.com"]
    result = await _pipeline().call(ToolCallRequest("http_get", {"url": "http://169.254.169.254/"}),
                                    ToolContext())
    assert result.status == "error"
    assert result.error.type == ErrorType.VALIDATION_ERROR
    assert "169.254.169.254 is not in the list of hosts" in result.error.message
    assert "Do not retry" in result.error.hint


async def test_pipeline_retries_a_refused_connection_once(settings) -> None:
    port = _closed_port()
    settings.TOOLS_HTTP_ALLOWED_HOSTS = [f"127.0.0.1:{port}"]
    settings.TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    result = await _pipeline().call(ToolCallRequest("http_get", {"url": f"http://127.0.0.1:{port}/"}),
                                    ToolContext())
    assert result.error.type == ErrorType.EXECUTION_ERROR
    assert result.attempts == 2


async def test_pipeline_does_not_retry_a_blocked_redirect(allow_server: LocalServer) -> None:
    url = allow_server.url("/redirect?to=http://169.254.169.254/")
    result = await _pipeline().call(ToolCallRequest("http_get", {"url": url}), ToolContext())
    assert result.error.type == ErrorType.EXECUTION_ERROR
    assert "BlockedDestination" in result.error.message
    assert result.attempts == 1
    assert len(allow_server.requests) == 1


async def test_pipeline_returns_the_page_as_the_result(allow_server: LocalServer) -> None:
    result = await _pipeline().call(ToolCallRequest("http_get", {"url": allow_server.url("/hello")}),
                                    ToolContext())
    assert result.status == "ok"
    assert result.output["content"] == "hello, world"


def test_http_get_is_a_medium_risk_read_only_tool() -> None:
    assert (str(http_get.risk), http_get.read_only, http_get.retry.attempts) == ("medium", True, 2)
    assert http_get.parameters["required"] == ["url"]


# -- TLS: the server name and the certificate check use the host name, not the address ---------


@pytest.fixture
def tls_server() -> Iterator[tuple[int, list[str | None]]]:
    """A TLS server on 127.0.0.1 with a self-signed certificate; records the SNI it is sent."""
    crypto = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = crypto.Name([crypto.NameAttribute(crypto.oid.NameOID.COMMON_NAME, "tls.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        crypto.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(crypto.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(crypto.SubjectAlternativeName([crypto.DNSName("tls.test")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = f"{tmp}/cert.pem", f"{tmp}/key.pem"
        with open(cert_path, "wb") as handle:
            handle.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as handle:
            handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
    names: list[str | None] = []
    context.sni_callback = lambda _sock, server_name, _ctx: names.append(server_name)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(5)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn, contextlib.suppress(OSError, ssl.SSLError):
            context.wrap_socket(conn, server_side=True).close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], names
    listener.close()
    thread.join(5)


async def test_tls_uses_the_host_name_for_sni_and_verifies_the_certificate(
    settings, resolver, tls_server: tuple[int, list[str | None]]
) -> None:
    port, names = tls_server
    settings.TOOLS_HTTP_ALLOWED_HOSTS = [f"tls.test:{port}"]
    settings.TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    resolver["tls.test"] = ["127.0.0.1"]
    with pytest.raises(TLSVerificationFailed, match=r"certificate of tls\.test did not verify"):
        await http_get.fn(f"https://tls.test:{port}/")
    assert names == ["tls.test"]
