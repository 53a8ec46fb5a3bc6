"""Upstreams for the edge proxy's tests, and the gateway in front of them as a user runs
it: ``consent-gateway serve`` in its own process on a free loopback port (``serve``); the
sites nginx serves (``NGINX_HTTP``, run by ``tests.support.nginx``) and a raw socket server
answering what no real server should (``RawUpstream``)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.support.apps import SECRET
from tests.support.servers import free_port

PAGE = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Static site</title>'
    "</head>\n<body><h1>A static site</h1>\n"
    + "<p>Served by nginx, compressed with gzip on the way.</p>\n" * 200
    + "</body></html>\n"
)


def echoed(response: object) -> dict[str, str]:
    """The request headers nginx's ``/echo`` saw, by short name."""
    text: str = response.text  # type: ignore[attr-defined]
    return dict(line.partition("=")[::2] for line in text.splitlines())


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.05)


@contextmanager
def started(
    command: list[str], port: int, what: str, **options: object
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until the block ends (``stop``); yields the process once ``port``
    answers (to signal it and wait for its exit status)."""
    popen = subprocess.Popen(command, **options)  # type: ignore[call-overload]
    try:
        wait_for_port(port, popen, what)
        yield popen
    finally:
        stop(popen)


@contextmanager
def process(command: list[str], port: int, what: str, **options: object) -> Iterator[int]:
    """Run ``command`` until the block ends; yields its pid once ``port`` answers."""
    with started(command, port, what, **options) as popen:
        yield popen.pid


def stop(popen: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if ``popen`` has not exited within 10 seconds."""
    popen.terminate()
    try:
        popen.wait(10)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()


# The ``http`` block (``tests.support.nginx``) of nginx serving ``{root}/site`` on ``port``,
# gzip on, with a tracking and a session cookie; ``/echo`` answers the request headers.
NGINX_HTTP = """
types {{ text/html html; application/json json; application/octet-stream bin; }}
gzip on;
gzip_types application/json;  # text/html always
gzip_min_length 256;
server {{
    listen 127.0.0.1:{port};
    root {root}/site;
    add_header Set-Cookie "_ga=GA1.1.987.654; Path=/; Max-Age=63072000";
    add_header Set-Cookie "sessionid=n61nx; Path=/; HttpOnly";
    location = /echo {{
        default_type text/plain;
        return 200 "{echo}\\n";
    }}
}}
"""

# nginx with TLS, for ``https://`` upstreams: on ``port`` a certificate for 127.0.0.1 and
# localhost, on ``other_port`` one for another host; ``/sni`` answers the name the client
# sent in SNI, ``/chat`` is the WebSocket server at ``ws_port``.
NGINX_TLS_HTTP = """
types {{ text/html html; }}
server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {root}/local.pem;
    ssl_certificate_key {root}/local.key;
    root {root}/site;
    location = /sni {{
        default_type text/plain;
        return 200 "$ssl_server_name $http_host";
    }}
    location /chat {{
        proxy_pass http://127.0.0.1:{ws_port};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
    }}
}}
server {{
    listen 127.0.0.1:{other_port} ssl;
    ssl_certificate {root}/other.pem;
    ssl_certificate_key {root}/other.key;
    root {root}/site;
}}
"""

# What /echo answers: the request headers nginx received, one ``name=value`` a line.
ECHO = {
    "host": "host",
    "xff": "x_forwarded_for",
    "proto": "x_forwarded_proto",
    "xfh": "x_forwarded_host",
    "forwarded": "forwarded",
    "ae": "accept_encoding",
    "expect": "expect",
    "custom": "x_custom",
}


@contextmanager
def serve(
    tmp_path: Path, *upstreams: str, options: Sequence[str] = (), **environ: str
) -> Iterator[tuple[str, int]]:
    """``consent-gateway serve --upstream ... [options]`` on a free port, with the settings
    ``environ`` names in the environment: its URL and its pid."""
    with serving(tmp_path, *upstreams, options=options, **environ) as (url, started):
        yield url, started.pid


@contextmanager
def serving(
    tmp_path: Path, *upstreams: str, options: Sequence[str] = (), **environ: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``serve``, yielding the process itself (to signal it and wait for its exit status);
    its output goes to ``tmp_path / "serve-<port>.log"``."""
    port = free_port()
    env = {
        **os.environ,
        "CONSENT_GATEWAY_SECRET": SECRET,
        "CONSENT_GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'consent.db'}",
        **{f"CONSENT_GATEWAY_{key.upper()}": value for key, value in environ.items()},
    }
    command = [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)]
    for upstream in upstreams:
        command += ["--upstream", upstream]
    command += options
    with (
        (tmp_path / f"serve-{port}.log").open("wb") as log,
        started(command, port, "consent-gateway serve", env=env, stderr=log, stdout=log) as popen,
    ):
        yield f"http://127.0.0.1:{port}", popen


# 5,000 Set-Cookie lines as a site might send them (some 600 KB, under the gateway's 1 MiB
# limit on an upstream's head), a tracking cookie among them.
MANY_COOKIES = [
    b"c%d=%032x; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Secure; HttpOnly; SameSite=Lax"
    % (n, n * 7919)
    for n in range(4999)
] + [b"_ga=GA1.1.987.654; Path=/; Max-Age=63072000"]
OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
ANSWERS = {
    b"/ok": OK,
    b"/promo": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
    b"Set-Cookie: promo_id=7; Path=/\r\nContent-Length: 2\r\n\r\nok",
    b"/bad-status": b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
    b"/not-http": b"SSH-2.0-OpenSSH_9.2\r\n",
    b"/two-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 30\r\n\r\nok",
    b"/length-and-chunked": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nok\r\n0\r\n\r\n"
    ),
    b"/bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
    b"/smuggled": OK + b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled",
    b"/no-length": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
    b"/no-content": b"HTTP/1.1 204 No Content\r\nX-Kind: none\r\n\r\n",
    b"/interim": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
    + OK,
    b"/switch": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
    b"/huge-head": b"HTTP/1.1 200 OK\r\nX-Big: " + b"x" * (2 * 1024 * 1024),
    b"/many-cookies": b"HTTP/1.1 200 OK\r\n"
    + b"".join(b"Set-Cookie: %s\r\n" % line for line in MANY_COOKIES)
    + b"Content-Length: 2\r\n\r\nok",
}


class RawUpstream:
    """An HTTP server written with sockets: the answer by path (``ANSWERS``, the query
    ignored; 404 for any other path); ``/slow``
    never answers, nor does ``/hang``, which notes the gateway closing it; ``/die``
    announces a megabyte and closes after a kilobyte, ``/die-page`` an HTML page after its
    ``<body>``, ``/die-in-head`` one in its first tag; ``/keep`` answers one request per
    connection and closes at the next."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[bytes] = []
        self.accepted = 0  # connections accepted
        self.hung_up = 0  # connections of /hang the gateway closed
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=1024)
        )
        self._started.set()
        self._loop.run_forever()
        server.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            served = 0  # requests answered on this connection
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                path = head.split(b" ", 2)[1].partition(b"?")[0]
                if path == b"/slow":
                    await asyncio.sleep(3600)
                elif path == b"/hang":
                    await reader.read()  # no answer, until the gateway closes the connection
                    self.hung_up += 1
                elif path == b"/die-in-head":
                    # A page cut off in its first tag: the gateway still holds its start.
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\n"
                        b"\r\n<!doctype ht"
                    )
                    await writer.drain()
                elif path == b"/die-page":
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n"
                        b"1d\r\n<!doctype html><html><body>\r\n"
                    )
                    await writer.drain()
                elif path == b"/die":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
                    writer.write(b"x" * 1000)
                    await writer.drain()
                elif path == b"/keep":
                    # Kept alive for one request: the next one on the connection finds it
                    # closing, as when a server's keep-alive timer fires just then.
                    if served:
                        break
                    for line in head.lower().split(b"\r\n"):
                        if line.startswith(b"content-length:"):
                            await reader.readexactly(int(line.split(b":")[1]))
                    served += 1
                    writer.write(OK)
                    await writer.drain()
                    continue
                else:
                    writer.write(ANSWERS.get(path, NOT_FOUND))
                    await writer.drain()
                    if path == b"/huge-head":
                        await asyncio.sleep(3600)  # and more to come, for all it says
                break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def __enter__(self) -> RawUpstream:
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop.is_closed():
            return  # stopped already, as a test may do to see the gateway without it
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
