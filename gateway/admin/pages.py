"""The admin page's HTML, from the templates and texts in ``static/admin/`` (English: an
operator's page, not a visitor's) and the figures the routes gather. Every value from the
store or a request is escaped here; the templates hold the prose."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote

from gateway.admin.charts import Series, shares, stacked_bars
from gateway.admin.daily import split_label
from gateway.consent.state import Category
from gateway.resources import static_dir
from gateway.store import ConsentRecord, DailyCount, DecisionCount, UnknownCookie

CHOICE_KEYS = ("accept_all", "custom", "reject_all", "no_choice")
TOP_COUNTRIES = 12
PERIODS = (7, 30, 90, 365)


def admin_static() -> Path:
    return static_dir() / "admin"


@dataclass(frozen=True, slots=True)
class Templates:
    """The page's files, read once."""

    page: Template
    login: Template
    css: bytes
    texts: Mapping[str, Any]

    @classmethod
    def load(cls, directory: Path | None = None) -> Templates:
        directory = directory or admin_static()
        return cls(
            page=Template((directory / "page.html").read_text(encoding="utf-8")),
            login=Template((directory / "login.html").read_text(encoding="utf-8")),
            css=(directory / "admin.css").read_bytes(),
            texts=json.loads((directory / "texts.json").read_text(encoding="utf-8")),
        )

    def series(self) -> list[Series]:
        return [Series(key, self.texts["choices"][key]) for key in CHOICE_KEYS]


@dataclass(slots=True)
class Tallies:
    """Choices by group: ``{group: {choice: count}}`` for each way of grouping."""

    by_day: dict[str, dict[str, int]] = field(default_factory=dict)
    by_regime: dict[str, dict[str, int]] = field(default_factory=dict)
    by_country: dict[str, dict[str, int]] = field(default_factory=dict)
    by_version: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, day: str, regime: str, country: str, version: str, choice: str, n: int) -> None:
        for table, group in (
            (self.by_day, day),
            (self.by_regime, regime),
            (self.by_country, country),
            (self.by_version, version),
        ):
            counts = table.setdefault(group, {})
            counts[choice] = counts.get(choice, 0) + n


def tallies(decisions: Iterable[DecisionCount], shown: Iterable[DailyCount]) -> Tallies:
    """Choices by day, regime, country and policy version; ``no_choice`` is the visits shown
    the banner less the decisions of the same day, regime, country and version (never
    below zero)."""
    result = Tallies()
    decided: dict[tuple[str, str, str, str], int] = {}
    for row in decisions:
        if row.choice == "withdraw":
            continue
        country = row.country or "--"
        result.add(row.day, row.regime, country, row.policy_version, row.choice, row.count)
        key = (row.day, row.regime, country, row.policy_version)
        decided[key] = decided.get(key, 0) + row.count
    for visits in shown:
        regime, country, version = split_label(visits.label)
        missing = visits.count - decided.get((visits.day, regime, country, version), 0)
        if missing > 0:
            result.add(visits.day, regime, country, version, "no_choice", missing)
    return result


def legend(series: Sequence[Series]) -> str:
    items = "".join(
        f'<li><span class="sw s-{s.key}" aria-hidden="true"></span>{escape(s.label)}</li>'
        for s in series
    )
    return f'<ul class="legend" aria-label="Legend">{items}</ul>'


def chart(
    chart_id: str,
    title: str,
    groups: Sequence[str],
    values: Mapping[str, Mapping[str, int]],
    series: Sequence[Series],
    group_name: str,
) -> str:
    """A figure: the SVG, then the same numbers as a table (behind a disclosure)."""
    totals = {g: sum(values.get(g, {}).values()) for g in groups}
    overall = {s.key: sum(values.get(g, {}).get(s.key, 0) for g in groups) for s in series}
    summary = ", ".join(
        f"{s.label} {share:.0f}%" for s, share in zip(series, shares(overall, series), strict=True)
    )
    svg = stacked_bars(
        chart_id, title, f"Over all {group_name}s: {summary}.", groups, values, series
    )
    head = "".join(f'<th scope="col" class="n">{escape(s.label)}</th>' for s in series)
    rows = []
    for group in groups:
        counts = values.get(group, {})
        if not totals[group]:
            continue  # drawn as a gap in the chart; the table lists what happened
        cells = "".join(
            f'<td class="n">{counts.get(s.key, 0)} ({share:.0f}%)</td>'
            for s, share in zip(series, shares(counts, series), strict=True)
        )
        rows.append(
            f'<tr><th scope="row">{escape(group)}</th>{cells}'
            f'<td class="n">{totals[group]}</td></tr>'
        )
    table = (
        f"<details><summary>{escape(title)}: the numbers</summary><table><thead><tr>"
        f'<th scope="col">{escape(group_name.capitalize())}</th>{head}'
        f'<th scope="col" class="n">Total</th></tr></thead><tbody>{"".join(rows)}</tbody>'
        "</table></details>"
    )
    return (
        f'<figure aria-labelledby="{chart_id}-c"><figcaption id="{chart_id}-c">'
        f"{escape(title)}</figcaption>{svg}{table}</figure>"
    )


def top_groups(values: Mapping[str, Mapping[str, int]], limit: int) -> list[str]:
    ranked = sorted(values, key=lambda g: (-sum(values[g].values()), g))
    return sorted(ranked[:limit])


def unknown_table(
    cookies: Sequence[UnknownCookie],
    categories: Mapping[str, str | None],
    base: str,
    csrf: str | None,
    empty: str,
) -> str:
    """One row per unknown name, with a form that classifies it."""
    if not cookies:
        return f"<p>{escape(empty)}</p>"
    csrf_field = (
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">' if csrf is not None else ""
    )
    rows = []
    for index, cookie in enumerate(cookies):
        name = escape(cookie.name)
        now = categories.get(cookie.name)
        options = "".join(
            f'<option value="{c.value}"{" selected" if c.value == (now or "marketing") else ""}>'
            f"{c.value}</option>"
            for c in Category
        )
        margin = f" (±{cookie.error})" if cookie.error else ""
        status = f"classified: {escape(now)}" if now else "unclassified"
        rows.append(
            f'<tr><th scope="row"><code>{name}</code></th>'
            f'<td class="n">{cookie.count}{margin}</td>'
            f"<td>{_time(cookie.first_seen)}</td><td>{_time(cookie.last_seen)}</td>"
            f"<td>{status}</td><td>"
            f'<form class="inline" method="post" action="{base}/classify">'
            f'<input type="hidden" name="name" value="{name}">{csrf_field}'
            f'<label class="visually-hidden" for="cat-{index}">Category of {name}</label>'
            f'<select id="cat-{index}" name="category">{options}</select>'
            f'<button type="submit">Classify<span class="visually-hidden"> {name}</span>'
            "</button></form></td></tr>"
        )
    return (
        '<table><thead><tr><th scope="col">Name</th><th scope="col" class="n">Seen</th>'
        '<th scope="col">First seen</th><th scope="col">Last seen</th>'
        '<th scope="col">Status</th><th scope="col">Classify as</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


@dataclass(frozen=True, slots=True)
class ProviderFigures:
    name: str
    backlog: int | None  # None: the store did not answer
    breaker: str
    forwarded: int
    dropped: Mapping[str, int]


def outbox_table(providers: Sequence[ProviderFigures], empty: str) -> str:
    if not providers:
        return f"<p>{escape(empty)}</p>"
    rows = []
    for p in providers:
        dropped = ", ".join(f"{escape(k)} {v}" for k, v in sorted(p.dropped.items()) if v)
        backlog = "store unavailable" if p.backlog is None else str(p.backlog)
        rows.append(
            f'<tr><th scope="row">{escape(p.name)}</th><td class="n">{backlog}</td>'
            f'<td>{escape(p.breaker)}</td><td class="n">{p.forwarded}</td>'
            f"<td>{dropped or '0'}</td></tr>"
        )
    return (
        '<table><thead><tr><th scope="col">Provider</th><th scope="col" class="n">Backlog</th>'
        '<th scope="col">Breaker (this worker)</th>'
        '<th scope="col" class="n">Forwarded (this worker)</th>'
        '<th scope="col">Dropped (this worker), by reason</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def skipped_table(counts: Iterable[DailyCount], reasons: Mapping[str, str], empty: str) -> str:
    totals: dict[str, int] = {}
    for row in counts:
        totals[row.label] = totals.get(row.label, 0) + row.count
    if not totals:
        return f"<p>{escape(empty)}</p>"
    rows = "".join(
        f'<tr><th scope="row"><code>{escape(reason)}</code></th>'
        f'<td>{escape(reasons.get(reason, ""))}</td><td class="n">{count}</td></tr>'
        for reason, count in sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    )
    return (
        '<table><thead><tr><th scope="col">Reason</th><th scope="col">Meaning</th>'
        f'<th scope="col" class="n">Pages</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def records_table(
    records: Sequence[ConsentRecord] | None,
    consent_id: str,
    base: str,
    csrf: str | None,
    texts: Mapping[str, Any],
) -> str:
    """The records of one consent id, oldest first, with a JSON download and a form that
    erases them."""
    if records is None:
        return ""
    if not records:
        return f"<p>{escape(texts['empty']['records'])}</p>"
    rows = []
    for r in records:
        granted = ", ".join(name for name, on in r.categories.items() if on)
        rows.append(
            f"<tr><td>{_time(r.decided_at)}</td><td>{escape(r.method or r.action)}</td>"
            f"<td>{escape(granted)}</td><td>{escape(r.regime)}</td>"
            f"<td>{escape(r.country or '')}{'-' + escape(r.subdivision) if r.subdivision else ''}"
            f"</td><td>{escape(r.policy_version)}</td><td>{escape(r.layer or r.source)}"
            f"{' ' + escape(r.path) if r.path else ''}</td>"
            f"<td>{escape(r.user_agent or '')}</td></tr>"
        )
    quoted = quote(consent_id, safe="")
    csrf_field = (
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">' if csrf is not None else ""
    )
    return (
        '<table><thead><tr><th scope="col">Decided (UTC)</th><th scope="col">Method</th>'
        '<th scope="col">Granted</th><th scope="col">Regime</th><th scope="col">Place</th>'
        '<th scope="col">Policy</th><th scope="col">Where</th><th scope="col">Browser</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f'<p><a href="{base}/records.json?consent_id={quoted}" download>'
        "Download these records (JSON)</a></p>"
        f'<form method="post" action="{base}/erase">'
        f'<input type="hidden" name="consent_id" value="{escape(consent_id)}">{csrf_field}'
        f'<p class="note">{escape(texts["records_erase"])}</p>'
        '<p><input type="checkbox" id="erase-confirm" name="confirm" value="yes" required>'
        ' <label for="erase-confirm">I want these records erased</label></p>'
        '<button type="submit">Erase these records</button></form>'
    )


def day_options(chosen: int) -> str:
    return "".join(
        f'<option value="{days}"{" selected" if days == chosen else ""}>last {days} days</option>'
        for days in PERIODS
    )


def _time(value: datetime) -> str:
    return escape(value.strftime("%Y-%m-%d %H:%M"))
