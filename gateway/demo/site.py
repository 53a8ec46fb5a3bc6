"""A small demo site that sets the kinds of cookies real sites set, to watch the gateway work.

Every page sets an essential session cookie, a preference cookie, Google-Analytics-style
cookies and a Meta-pixel-style marketing cookie, and shows which cookies reached the app.
It also carries what the banner gates in the browser: inline and external scripts marked
``type="text/plain" data-consent=...`` (a same-origin analytics script that counts its runs
at ``/demo/collect``, a marketing snippet that sets ``_gcl_au`` from JavaScript), a YouTube
player that loads on click, a ``data-consent-open`` link, and a Google tag pasted the way
sites paste it, which the gateway's tracker neutralisation gates for opt-in visitors.
"""

from __future__ import annotations

import html
import secrets

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

DEMO_SITE_RULES = [
    {
        "name": "demo_theme",
        "category": "preferences",
        "retention": "1 year",
        "purpose": "Remembers the colour theme the visitor picked.",
        "vendor": "Demo site",
    }
]

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · consent-gateway demo</title>
<!-- The Google tag as sites paste it (this property does not exist). -->
<script async src="https://www.googletagmanager.com/gtag/js?id=G-DEMO12345"></script>
<script>
 window.dataLayer = window.dataLayer || [];
 function gtag() {{ dataLayer.push(arguments); }}
 gtag("js", new Date());
 gtag("config", "G-DEMO12345");
</script>
<style>
 body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto;
        padding: 0 1rem; color: #1a1a1a; }}
 code {{ background: #f2f2f2; padding: 0 .25rem; }}
 table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .25rem .5rem; }}
 form {{ display: inline; }}
 iframe {{ max-width: 100%; border: 1px solid #ccc; }}
</style>
</head>
<body>
<header><nav><a href="/">Home</a> · <a href="/about">About</a></nav></header>
<main>
<h1>{title}</h1>
<p>This page tried to set <code>sessionid</code> (essential), <code>demo_theme</code>
(preferences), <code>_ga</code> and <code>_ga_DEMO12345</code> (analytics) and <code>_fbp</code>
(marketing). The gateway let through only what your consent allows.</p>
<h2>Your consent</h2>
<table><tbody>{grants}</tbody></table>
<p>Regime: <code>{regime}</code> · decided: <code>{decided}</code> · source:
<code>{source}</code></p>
<h2>Cookies this page's server code received</h2>
<p>{received}</p>
<h2>What ran in your browser</h2>
<ul>
 <li>Analytics, inline script: <output id="inline-analytics">blocked</output></li>
 <li>Analytics, <code>/demo/analytics.js</code>: <output id="external-analytics">blocked</output>
  (<a href="/demo/collect">runs counted</a>)</li>
 <li>Marketing, inline script that sets <code>_gcl_au</code>:
  <output id="marketing">blocked</output></li>
</ul>
<script type="text/plain" data-consent="analytics">
 document.getElementById("inline-analytics").textContent = "ran";
</script>
<script type="text/plain" data-consent="analytics" src="/demo/analytics.js"></script>
<script type="text/plain" data-consent="marketing">
 document.cookie = "_gcl_au=1.1.1700000000.1700000000; path=/; max-age=7776000; samesite=lax";
 document.getElementById("marketing").textContent = "ran";
</script>
<h2>An embedded video</h2>
<iframe data-consent="marketing" data-src="https://www.youtube-nocookie.com/embed/M7lc1UVf-VE"
 width="560" height="315" title="YouTube video player"
 allow="encrypted-media; picture-in-picture" allowfullscreen></iframe>
<p><a href="#" data-consent-open>Cookie settings</a> opens the banner's preferences.</p>
<h2>Change your choice</h2>
<form method="post" action="/_consent/state"><button name="all" value="accept">Accept all
</button></form>
<form method="post" action="/_consent/state"><button name="all" value="reject">Reject all
</button></form>
<form method="post" action="/_consent/state">
 <label><input type="checkbox" name="preferences" value="on"> Preferences</label>
 <label><input type="checkbox" name="analytics" value="on"> Analytics</label>
 <label><input type="checkbox" name="marketing" value="on"> Marketing</label>
 <button>Save</button>
</form>
<p>The API: <a href="/_consent/state"><code>GET /_consent/state</code></a></p>
</main>
</body>
</html>
"""


async def _page(request: Request) -> HTMLResponse:
    title = "About" if request.url.path == "/about" else "Welcome"
    consent = getattr(request.state, "consent", None)
    grants = (
        "".join(
            f"<tr><th>{html.escape(name)}</th><td>{'granted' if on else 'refused'}</td></tr>"
            for name, on in consent.categories().items()
        )
        if consent
        else "<tr><td>no gateway in front of this app</td></tr>"
    )
    received = (
        ", ".join(f"<code>{html.escape(name)}</code>" for name in sorted(request.cookies)) or "none"
    )
    body = _PAGE.format(
        title=title,
        grants=grants,
        regime=html.escape(str(consent.regime) if consent else "-"),
        decided=consent.decided if consent else "-",
        source=html.escape(str(consent.source) if consent else "-"),
        received=received,
    )
    response = HTMLResponse(body)
    year = 365 * 86_400
    if "sessionid" not in request.cookies:
        response.set_cookie("sessionid", secrets.token_urlsafe(16), httponly=True)
    response.set_cookie("demo_theme", "light", max_age=year)
    response.set_cookie("_ga", f"GA1.1.{secrets.randbelow(10**9)}.1700000000", max_age=2 * year)
    response.set_cookie("_ga_DEMO12345", "GS1.1.1700000000.1.0.1700000000.0.0.0", max_age=year)
    response.set_cookie(
        "_fbp", f"fb.1.1700000000000.{secrets.randbelow(10**9)}", max_age=90 * 86400
    )
    return response


_ANALYTICS_SCRIPT = """\
// The demo's own analytics: it may only run once the visitor allowed analytics.
document.getElementById("external-analytics").textContent = "ran";
fetch("/demo/collect", { method: "POST", keepalive: true });
"""


async def _analytics_script(request: Request) -> Response:
    return Response(_ANALYTICS_SCRIPT, media_type="text/javascript")


async def _collect(request: Request) -> JSONResponse:
    """POST counts one run of the analytics script; GET shows the count."""
    if request.method == "POST":
        request.app.state.analytics_runs += 1
    return JSONResponse({"runs": request.app.state.analytics_runs})


def create_demo_app() -> Starlette:
    """The demo site alone, without the gateway."""
    app = Starlette(
        routes=[
            Route("/", _page),
            Route("/about", _page),
            Route("/demo/analytics.js", _analytics_script),
            Route("/demo/collect", _collect, methods=["GET", "POST"]),
        ]
    )
    app.state.analytics_runs = 0
    return app
