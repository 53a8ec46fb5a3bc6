"""``https://`` upstreams: the gateway in front of nginx serving TLS with certificates of a
private CA (``trustme``). The page comes through with the banner when the CA is given, and a
certificate the gateway cannot trust (unknown CA, another host's) is a 502 whose log line
says why."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trustme
from websockets.sync.client import connect

from tests.support.nginx import running_nginx
from tests.support.servers import free_port
from tests.support.upstreams import NGINX_TLS_HTTP, PAGE, serve

pytestmark = pytest.mark.slow  # the gateway in a process of its own, real upstreams

HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@dataclass
class TlsSite:
    url: str  # https://127.0.0.1:port, a certificate for 127.0.0.1 and localhost
    port: int
    other_url: str  # a certificate of the same CA for another host
    ca_file: Path


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory: pytest.TempPathFactory, ws_echo: str) -> Iterator[TlsSite]:
    root = tmp_path_factory.mktemp("nginx-tls")
    os.chmod(root, 0o755)
    (root / "site").mkdir()
    (root / "site" / "index.html").write_text(PAGE)
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    for name, hosts in (("local", ("127.0.0.1", "localhost")), ("other", ("other.example",))):
        cert = ca.issue_cert(*hosts)
        cert.private_key_pem.write_to_path(str(root / f"{name}.key"))
        cert.cert_chain_pems[0].write_to_path(str(root / f"{name}.pem"))
    port, other_port = free_port(), free_port()
    ws_port = ws_echo.rpartition(":")[2]
    http = NGINX_TLS_HTTP.format(root=root, port=port, other_port=other_port, ws_port=ws_port)
    with running_nginx(root, "nginx", http, port, connections=64, stderr=subprocess.DEVNULL):
        yield TlsSite(
            f"https://127.0.0.1:{port}", port, f"https://127.0.0.1:{other_port}", root / "ca.pem"
        )


def logged(tmp_path: Path) -> str:
    return "".join(path.read_text() for path in tmp_path.glob("serve-*.log"))


def test_a_page_comes_through_with_the_banner(tls_site: TlsSite, tmp_path: Path) -> None:
    with serve(tmp_path, tls_site.url, upstream_ca_file=str(tls_site.ca_file)) as (url, _):
        response = httpx.get(url + "/", headers=HTML)
    assert response.status_code == 200
    assert "A static site" in response.text
    assert "/_consent/" in response.text and "banner" in response.text


def test_sni_names_the_upstream_s_host_not_the_client_s(tls_site: TlsSite, tmp_path: Path) -> None:
    upstream = f"https://localhost:{tls_site.port}"
    with serve(tmp_path, upstream, upstream_ca_file=str(tls_site.ca_file)) as (url, _):
        response = httpx.get(url + "/sni", headers={"host": "shop.example"})
    assert response.status_code == 200
    assert response.text == "localhost shop.example"


def test_without_the_ca_file_the_certificate_is_not_trusted(
    tls_site: TlsSite, tmp_path: Path
) -> None:
    with serve(tmp_path, tls_site.url) as (url, _):
        response = httpx.get(url + "/", headers=HTML)
    assert response.status_code == 502
    assert "certificate is not trusted" in logged(tmp_path)
    assert "unable to get local issuer certificate" in logged(tmp_path)


def test_the_ca_file_replaces_the_system_s_cas(
    tls_site: TlsSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``upstream_ca_file`` is the whole trust, as nginx's ``proxy_ssl_trusted_certificate``
    and Caddy's ``tls_trusted_ca_certs`` are: the site's CA made a system CA (OpenSSL's
    ``SSL_CERT_FILE``) is trusted without the setting, and no longer with another CA in it."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_site.ca_file))
    with serve(tmp_path, tls_site.url) as (url, _):
        assert httpx.get(url + "/", headers=HTML).status_code == 200
    private = tmp_path / "private-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(private))
    with serve(tmp_path, tls_site.url, upstream_ca_file=str(private)) as (url, _):
        assert httpx.get(url + "/", headers=HTML).status_code == 502
    assert "unable to get local issuer certificate" in logged(tmp_path)
    # Both trusted: a file holding the system's bundle and the private CA.
    both = tmp_path / "both.pem"
    both.write_text(tls_site.ca_file.read_text() + private.read_text())
    with serve(tmp_path, tls_site.url, upstream_ca_file=str(both)) as (url, _):
        assert httpx.get(url + "/", headers=HTML).status_code == 200


def test_a_certificate_for_another_host_is_a_502(tls_site: TlsSite, tmp_path: Path) -> None:
    ca_file = str(tls_site.ca_file)
    with serve(tmp_path, tls_site.other_url, upstream_ca_file=ca_file) as (url, _):
        response = httpx.get(url + "/", headers=HTML)
    assert response.status_code == 502
    assert "IP address mismatch" in logged(tmp_path)


def test_readiness_checks_the_certificate(tls_site: TlsSite, tmp_path: Path) -> None:
    with serve(tmp_path, tls_site.url) as (url, _):
        assert httpx.get(url + "/_consent/ready").status_code == 503
    with serve(tmp_path, tls_site.url, upstream_ca_file=str(tls_site.ca_file)) as (url, _):
        assert httpx.get(url + "/_consent/ready").status_code == 200


def test_a_websocket_goes_over_wss(tls_site: TlsSite, tmp_path: Path) -> None:
    with (
        serve(tmp_path, tls_site.url, upstream_ca_file=str(tls_site.ca_file)) as (url, _),
        connect("ws" + url.removeprefix("http") + "/chat", open_timeout=10, proxy=None) as ws,
    ):
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"


def test_a_websocket_to_an_untrusted_upstream_is_refused(tls_site: TlsSite, tmp_path: Path) -> None:
    with serve(tmp_path, tls_site.url) as (url, _):
        response = httpx.get(
            url + "/chat",
            headers={
                "connection": "Upgrade",
                "upgrade": "websocket",
                "sec-websocket-version": "13",
                "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        )
    assert response.status_code == 502
    assert "websocket: TLS: the certificate is not trusted" in logged(tmp_path)
