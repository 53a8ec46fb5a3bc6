"""The Grafana dashboard of ``examples/grafana/`` asks only for what a gateway exports.

No Grafana runs here (neither Debian nor PyPI packages one), so the dashboard's queries are
checked against a real gateway instead: a uvicorn server with the middleware, analytics
forwarded to a stand-in provider that succeeds, fails and refuses, serves some traffic; its
metrics listener is scraped and parsed with ``prometheus_client.parser``. Every metric a
query names must be exported, every label it matches on or groups ``by`` must be one the
metric carries, and every ``{{label}}`` of a legend one the query keeps. A metric renamed
in ``gateway/metrics.py`` fails this test until the dashboard follows. Then Debian's
Prometheus scrapes the same gateway and evaluates every query: valid PromQL, returning
series with the labels its legend shows.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from gateway import ConsentMiddleware, Settings
from tests.support.apps import SECRET
from tests.support.providers import BROWSER_UA, FAST
from tests.support.servers import free_port, running
from tests.support.standin import StandIn
from tests.support.upstreams import process

pytestmark = pytest.mark.slow  # real servers, and a provider failing and recovering

DASHBOARD = Path(__file__).parents[1] / "examples" / "grafana" / "consent-gateway.json"
TARGET_LABELS = frozenset({"job", "instance"})  # added by Prometheus when it scrapes
# Counted only when something fails that this traffic does not break: the labels these
# queries use are checked against the metric's declaration instead of its samples.
FAILURE_ONLY = frozenset({"consent_gateway_store_errors"})
SELECTOR = re.compile(r"\b(consent_gateway_[a-z_]+)\b(\{[^}]*\})?")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LEGEND = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
PAGE = (
    "<!doctype html><html><head><title>Shop</title>"
    '<script async src="https://www.googletagmanager.com/gtag/js?id=G-ABC123"></script>'
    "</head><body><p>Welcome</p></body></html>"
)
EVENT = json.dumps({"n": "pageview", "u": "https://shop.example/?email=a@b.example", "d": "x"})


def _queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(where, PromQL, legend) of every target and variable, rows' panels included."""
    stack = list(dashboard["panels"])
    while stack:
        panel = stack.pop()
        stack.extend(panel.get("panels", ()))
        for target in panel.get("targets", ()):
            yield panel["title"], target["expr"], target.get("legendFormat", "")
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            yield f"variable {variable['name']}", query["query"], ""


def _page(request: Request) -> HTMLResponse:
    response = HTMLResponse(PAGE)
    response.set_cookie("_ga", "GA1.1.1.1")
    response.set_cookie("zq_mystery", "1")
    return response


def _scrape(url: str) -> str:
    response = httpx.get(url)
    assert response.status_code == 200
    return response.text


def _until(url: str, condition: Callable[[str], bool], what: str) -> str:
    deadline = time.monotonic() + 60
    while True:
        text = _scrape(url)
        if condition(text):
            return text
        assert time.monotonic() < deadline, f"never exported: {what}"
        time.sleep(0.05)


def _traffic(site: str, stand_in: StandIn, metrics: str) -> str:
    """Visitors, a bot, a tampered consent cookie, choices and analytics hits through the
    gateway, the provider failing and refusing on the way; the last scrape."""
    browser = {"user-agent": BROWSER_UA}
    with httpx.Client(base_url=site, headers=browser) as visitor:
        assert visitor.get("/").status_code == 200  # no choice: the Google tag neutralised
        visitor.get("/", headers={"cookie": "cg_consent=forged; _ga=GA1.1.2.2"})
        visitor.get("/", headers={"user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"})
        choice = visitor.post(
            "/_consent/state", json={"all": True}, headers={"origin": site}
        )  # then every category granted: the hit below is forwarded whole
        assert choice.status_code == 200
        hit = "/_consent/collect/plausible/api/event"
        headers = {"content-type": "text/plain", "origin": site}
        assert visitor.post(hit, content=EVENT, headers=headers).status_code == 202
        _until(metrics, lambda text: "consent_gateway_analytics_forwarded_total{" in text, "ok")
        stand_in.status = 503
        assert visitor.post(hit, content=EVENT, headers=headers).status_code == 202
        _until(metrics, lambda text: "consent_gateway_analytics_retries_total{" in text, "503")
        stand_in.status = 400
        _until(metrics, lambda text: "consent_gateway_analytics_dropped_total{" in text, "400")
        visitor.delete("/_consent/state", headers={"origin": site})
        visitor.get("/")
    return _scrape(metrics)


@dataclass
class Live:
    """A gateway serving after some traffic: its metrics address, and what it exports, each
    exported sample name -> its family and each family -> the label names its samples carry
    (``FAILURE_ONLY``: the ones it declares)."""

    metrics: str
    names: dict[str, set[str]]
    labels: dict[str, set[str]]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    stand_in = StandIn().start()
    settings = Settings.load(
        environ={},
        secret=SECRET,
        database_url=f"sqlite:///{tmp_path_factory.mktemp('grafana') / 'consent.db'}",
        metrics_listen="127.0.0.1:0",
        analytics={"plausible": {"upstream": stand_in.url}, **FAST},
    )
    app = ConsentMiddleware(Starlette(routes=[Route("/", _page)]), settings)
    try:
        with running(app) as site:
            listener = app.gateway.metrics_listener
            assert listener is not None
            metrics = f"http://127.0.0.1:{listener.port}/metrics"
            text = _traffic(site, stand_in, metrics)
            declared = {
                name: set(collector._labelnames)  # type: ignore[attr-defined]
                for name in FAILURE_ONLY
                for collector in [getattr(app.gateway.metrics, name.split("_", 2)[2])]
            }
            yield Live(metrics, *_exported(text, declared))
    finally:
        stand_in.stop()


def _exported(
    text: str, declared: dict[str, set[str]]
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    names: dict[str, set[str]] = {}
    labels: dict[str, set[str]] = dict(declared)
    families = list(text_string_to_metric_families(text))
    counters = {family.name for family in families if family.type == "counter"}
    for family in families:
        if family.name.endswith("_created") and family.name[: -len("_created")] in counters:
            continue  # a counter's creation time, which the text format sends on its own
        suffixes = {"counter": ("_total", "_created")}.get(family.type, ("",))
        for suffix in suffixes:
            names[family.name + suffix] = {family.name}
        for sample in family.samples:
            labels.setdefault(family.name, set()).update(sample.labels)
    return names, labels


def test_the_dashboard_is_grafana_json_with_queries() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    queries = list(_queries(dashboard))
    assert len(queries) > 20
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_query_names_exported_metrics_and_labels(live: Live) -> None:
    names, labels = live.names, live.labels
    problems: list[str] = []
    used: set[str] = set()
    for where, expr, legend in _queries(json.loads(DASHBOARD.read_text())):
        families: set[str] = set()
        for metric, matchers in SELECTOR.findall(expr):
            if metric not in names:
                problems.append(f"{where}: {metric} is not exported")
                continue
            family = next(iter(names[metric]))
            families.add(family)
            used.add(family)
            carried = labels.get(family)
            if carried is None:
                problems.append(f"{where}: {metric} has no samples after the traffic")
                continue
            for label in MATCHER.findall(matchers):
                if label not in carried | TARGET_LABELS:
                    problems.append(f"{where}: {metric} has no label {label!r}")
        if not families:
            problems.append(f"{where}: no consent_gateway_ metric in {expr!r}")
        known = set().union(*(labels.get(family, set()) for family in families)) | TARGET_LABELS
        kept: set[str] = set()
        for group in GROUPING.findall(expr):
            for label in filter(None, (part.strip() for part in group.split(","))):
                kept.add(label)
                if label not in known:
                    problems.append(f"{where}: `by ({label})`: no such label on {families}")
        for label in LEGEND.findall(legend):
            if label not in kept:
                problems.append(f"{where}: legend {{{{{label}}}}} is not kept by the query")
    assert not problems, "\n".join(problems)
    # The dashboard shows every family the gateway exports.
    assert set().union(*names.values()) - used == set()


PROMETHEUS = shutil.which("prometheus")
GRAFANA_VARIABLES = {  # what Grafana puts in place of its variables, for a query of its own
    "$__rate_interval": "1m",
    "$__range": "5m",
    "$job": ".*",
    "$instance": ".*",
}
LABEL_VALUES = re.compile(r"label_values\((.*),\s*([a-zA-Z_]+)\)")


@pytest.fixture(scope="module")
def prometheus(live: Live, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's Prometheus server scraping the live gateway every second; its address."""
    if PROMETHEUS is None:
        pytest.fail("prometheus is not installed: apt-get install prometheus")
    root = tmp_path_factory.mktemp("prometheus")
    target = live.metrics.removeprefix("http://").removesuffix("/metrics")
    (root / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: consent-gateway\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    port = free_port()
    command = [
        PROMETHEUS,
        f"--config.file={root / 'prometheus.yml'}",
        f"--storage.tsdb.path={root / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with (
        (root / "prometheus.log").open("wb") as log,
        process(command, port, "prometheus", stdout=log, stderr=log),
    ):
        url = f"http://127.0.0.1:{port}"
        # Three scrapes at least: rate() and increase() need two samples in their window.
        _until_value(url, "min(count_over_time(consent_gateway_rules_stale[5m]))", 3)
        yield url


def _query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(prometheus + "/api/v1/query", params={"query": expr}, timeout=30)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _until_value(prometheus: str, expr: str, at_least: float) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            result = _query(prometheus, expr)
        except (httpx.HTTPError, AssertionError):
            result = []  # not ready yet
        if result and float(result[0]["value"][1]) >= at_least:
            return
        assert time.monotonic() < deadline, f"Prometheus never had {expr} >= {at_least}"
        time.sleep(0.2)


def _as_prometheus_sees_it(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def test_a_real_prometheus_evaluates_every_query(prometheus: str) -> None:
    """Each query, with Grafana's variables filled in, is valid PromQL to Prometheus and,
    unless it only counts failures this traffic does not cause, returns series carrying
    the labels its legend shows."""
    problems: list[str] = []
    for where, expr, legend in _queries(json.loads(DASHBOARD.read_text())):
        expr = _as_prometheus_sees_it(expr)
        wanted = set(LEGEND.findall(legend))
        variable = LABEL_VALUES.fullmatch(expr)
        if variable is not None:  # Grafana's label_values(selector, label)
            expr, label = variable.groups()
            wanted = {label}
        try:
            result = _query(prometheus, expr)
        except AssertionError as error:
            problems.append(f"{where}: {error}")
            continue
        if not result:
            metrics = {metric for metric, _ in SELECTOR.findall(expr)}
            if not metrics <= {family + "_total" for family in FAILURE_ONLY}:
                problems.append(f"{where}: no series for {expr}")
            continue
        for series in result:
            missing = wanted - set(series["metric"])
            if missing:
                problems.append(f"{where}: a series without {sorted(missing)}: {series}")
                break
    assert not problems, "\n".join(problems)
