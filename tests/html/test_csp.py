"""Reading Content-Security-Policy headers: may the banner load, and with which nonce.

The long policies are real headers as sites sent them (captured responses), not made up.
"""

from __future__ import annotations

import pytest

from gateway.html.csp import Origin, Verdict, parse, verdict

SCRIPT = "/_consent/banner.0123456789abcdef.js"
STYLE = "/_consent/banner.fedcba9876543210.css"
API = "/_consent/state"

# github.com, 2021-04-01: scripts only from its asset host.
GITHUB = (
    "default-src 'none'; base-uri 'self'; block-all-mixed-content; connect-src 'self' "
    "uploads.github.com www.githubstatus.com collector.githubapp.com api.github.com "
    "github-cloud.s3.amazonaws.com github-production-repository-file-5c1aeb.s3.amazonaws.com "
    "github-production-upload-manifest-file-7fdce7.s3.amazonaws.com "
    "github-production-user-asset-6210df.s3.amazonaws.com cdn.optimizely.com "
    "logx.optimizely.com/v1/events wss://alive.github.com github.githubassets.com; font-src "
    "github.githubassets.com; form-action 'self' github.com gist.github.com; frame-ancestors "
    "'none'; frame-src render.githubusercontent.com; img-src 'self' data: "
    "github.githubassets.com identicons.github.com collector.githubapp.com "
    "github-cloud.s3.amazonaws.com secured-user-images.githubusercontent.com/ "
    "*.githubusercontent.com customer-stories-feed.github.com spotlights-feed.github.com; "
    "manifest-src 'self'; media-src github.githubassets.com; script-src github.githubassets.com; "
    "style-src 'unsafe-inline' github.githubassets.com; worker-src "
    "github.com/socket-worker-3f088aa2.js gist.github.com/socket-worker-3f088aa2.js"
)
# www.google.com sends Google's strict CSP, Report-Only (2025-10-15 capture).
GOOGLE_REPORT_ONLY = (
    "object-src 'none';base-uri 'self';script-src 'nonce-mdHG4l3Mp_gXmBcCtWnyaQ' "
    "'strict-dynamic' 'report-sample' 'unsafe-eval' 'unsafe-inline' https: http:;"
    "report-uri https://csp.withgoogle.com/csp/gws/other-hp"
)
# www.facebook.com: host lists with wildcards, 'self' for scripts.
FACEBOOK = (
    "default-src * data: blob: 'self';script-src *.facebook.com *.fbcdn.net *.facebook.net "
    "*.google-analytics.com *.virtualearth.net *.google.com 127.0.0.1:* *.spotilocal.com:* "
    "'unsafe-inline' 'unsafe-eval' blob: data: 'self';style-src data: blob: 'unsafe-inline' *;"
    "connect-src *.facebook.com facebook.com *.fbcdn.net *.facebook.net *.spotilocal.com:* "
    "wss://*.facebook.com:* https://fb.scanandcleanlocal.com:* attachment.fbsbx.com "
    "ws://localhost:* blob: *.cdninstagram.com 'self' "
    "chrome-extension://boadgeojelhgndaghljhdicfkmllpafd "
    "chrome-extension://dliochdbjfkdbacpmhlcpmleaejidimm;block-all-mixed-content;"
    "upgrade-insecure-requests;"
)
# www.messenger.com: styles only from listed hosts, its own by a subdomain wildcard.
MESSENGER = (
    "default-src data: blob: https://*.fbcdn.net https://*.facebook.com *.fbsbx.com "
    "*.messenger.com;script-src *.facebook.com *.fbcdn.net *.facebook.net "
    "*.google-analytics.com *.google.com 127.0.0.1:* 'unsafe-inline' 'unsafe-eval' blob: data: "
    "'self' connect.facebook.net *.messenger.com;style-src data: blob: 'unsafe-inline' "
    "*.facebook.com *.fbcdn.net *.messenger.com;connect-src *.facebook.com facebook.com "
    "*.fbcdn.net *.facebook.net wss://*.facebook.com:* wss://*.whatsapp.com:* "
    "attachment.fbsbx.com ws://localhost:* blob: *.cdninstagram.com 'self' *.messenger.com "
    "wss://*.messenger.com www.messenger.com www.google-analytics.com wss://*.messenger.com:*"
)
# The strict CSP shape web.dev recommends, with a style policy of its own.
STRICT = (
    "script-src 'nonce-r4nd0m' 'strict-dynamic' https: 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; style-src 'self'"
)


def judge(
    enforced: tuple[str, ...] = (),
    report_only: tuple[str, ...] = (),
    app_nonce: str | None = None,
    origin: Origin | None = None,
) -> Verdict:
    return verdict(
        enforced,
        report_only,
        app_nonce,
        origin=origin or Origin.of("https", "www.example.com"),
        script_path=SCRIPT,
        style_path=STYLE,
        api_path=API,
    )


def test_no_policy_allows_everything() -> None:
    assert judge() == Verdict(True)


def test_githubs_policy_blocks_a_same_origin_script() -> None:
    result = judge((GITHUB,), origin=Origin.of("https", "github.com"))
    assert not result.allowed and result.blocked_by == "script-src"


def test_googles_report_only_policy_blocks_nothing_but_lends_its_nonce() -> None:
    result = judge(report_only=(GOOGLE_REPORT_ONLY,), origin=Origin.of("https", "www.google.com"))
    assert result == Verdict(True, nonce="mdHG4l3Mp_gXmBcCtWnyaQ")


def test_googles_policy_enforced_admits_the_script_by_its_nonce_only() -> None:
    origin = Origin.of("https", "www.google.com")
    enforced = GOOGLE_REPORT_ONLY.replace("'nonce-mdHG4l3Mp_gXmBcCtWnyaQ' ", "")
    result = judge((enforced,), origin=origin)
    assert not result.allowed and result.blocked_by == "script-src 'strict-dynamic'"
    assert judge((GOOGLE_REPORT_ONLY,), origin=origin).nonce == "mdHG4l3Mp_gXmBcCtWnyaQ"


def test_facebooks_policy_allows_the_banner_by_self_and_wildcards() -> None:
    assert judge((FACEBOOK,), origin=Origin.of("https", "www.facebook.com")).allowed


def test_messengers_style_policy_allows_its_own_subdomain() -> None:
    assert judge((MESSENGER,), origin=Origin.of("https", "www.messenger.com")).allowed
    refused = judge((MESSENGER,), origin=Origin.of("https", "shop.example.com"))
    assert not refused.allowed and refused.blocked_by == "style-src"


def test_the_strict_shape_admits_the_script_with_the_policy_nonce() -> None:
    assert judge((STRICT,)) == Verdict(True, nonce="r4nd0m")


def test_the_apps_nonce_is_used_when_the_policy_has_it() -> None:
    policy = "script-src 'nonce-first' 'nonce-apps' 'strict-dynamic'"
    assert judge((policy,), app_nonce="apps").nonce == "apps"
    assert judge((policy,), app_nonce="unknown").nonce == "first"


def test_the_apps_nonce_is_used_when_no_policy_is_visible() -> None:
    # A CSP added by middleware outside the gateway is not in the headers it sees.
    assert judge(app_nonce="abc123") == Verdict(True, nonce="abc123")


def test_every_enforced_policy_must_allow_it() -> None:
    assert not judge(("script-src 'self'", "script-src https://cdn.example.net")).allowed
    assert not judge(("script-src 'self', script-src 'none'",)).allowed  # one header, two
    assert judge(("script-src 'self'", "default-src 'self'")).allowed


def test_none_and_hashes_do_not_admit_an_external_script() -> None:
    assert not judge(("script-src 'none'",)).allowed
    assert not judge(("script-src 'sha256-abc=' 'unsafe-inline'",)).allowed
    assert judge(("script-src 'none' 'self'",)).allowed  # 'none' only counts alone


def test_script_src_elem_wins_over_script_src_and_default_src() -> None:
    assert judge(("default-src 'self'; script-src 'none'; script-src-elem 'self'",)).allowed
    assert not judge(("script-src 'self'; script-src-elem 'none'",)).allowed
    assert not judge(("default-src 'none'",)).allowed


def test_the_first_of_a_repeated_directive_counts() -> None:
    assert not judge(("script-src 'none'; script-src 'self'",)).allowed
    assert parse("a x; A y;; b") == [{"a": ("x",), "b": ()}]


def test_a_blocked_stylesheet_or_api_skips_the_banner() -> None:
    assert judge(("style-src 'unsafe-inline'",)).blocked_by == "style-src"
    assert judge(("default-src 'self'; connect-src https://api.example.net",)).blocked_by == (
        "connect-src"
    )


def test_a_nonce_only_style_policy_admits_the_stylesheet_by_the_pages_nonce() -> None:
    policy = "script-src 'nonce-r4nd0m'; style-src 'nonce-r4nd0m'; connect-src 'self'"
    assert judge((policy,)) == Verdict(True, nonce="r4nd0m")
    other = "script-src 'nonce-r4nd0m'; style-src 'nonce-0ther'"
    assert judge((other,)).blocked_by == "style-src"


def test_a_sandbox_without_scripts_skips_the_banner() -> None:
    assert judge(("sandbox allow-forms",)).blocked_by == "sandbox"
    assert judge(("sandbox allow-scripts allow-same-origin",)).allowed


def test_form_action_decides_the_no_script_form_only() -> None:
    result = judge(("default-src 'self'; form-action https://pay.example.net",))
    assert result.allowed and not result.form
    assert judge(("form-action 'self'",)).form


@pytest.mark.parametrize(
    ("source", "origin", "allowed"),
    [
        ("https://www.example.com", ("https", "www.example.com"), True),
        ("www.example.com", ("https", "www.example.com"), True),
        ("http://www.example.com", ("https", "www.example.com"), True),  # upgrade
        ("https://www.example.com", ("http", "www.example.com"), False),  # no downgrade
        ("https:", ("https", "www.example.com"), True),
        ("http:", ("https", "www.example.com"), True),
        ("https:", ("http", "www.example.com"), False),
        ("*", ("https", "www.example.com"), True),
        ("*.example.com", ("https", "www.example.com"), True),
        ("*.example.com", ("https", "example.com"), False),
        ("WWW.EXAMPLE.COM", ("https", "www.example.com"), True),
        ("www.example.com:8443", ("https", "www.example.com:8443"), True),
        ("www.example.com", ("https", "www.example.com:8443"), False),
        ("www.example.com:*", ("https", "www.example.com:8443"), True),
        ("https://www.example.com:443", ("https", "www.example.com"), True),
        ("https://www.example.com:80", ("https", "www.example.com"), False),
        ("127.0.0.1:*", ("http", "127.0.0.1:8000"), True),
        ("www.example.com/_consent/", ("https", "www.example.com"), True),
        ("www.example.com/static/", ("https", "www.example.com"), False),
        (f"www.example.com{SCRIPT}", ("https", "www.example.com"), True),
        ("www.example.com/_consent", ("https", "www.example.com"), False),  # a file, not a dir
        ("www.example.com/%5Fconsent/", ("https", "www.example.com"), True),
    ],
)
def test_host_and_scheme_sources_match_like_browsers(
    source: str, origin: tuple[str, str], allowed: bool
) -> None:
    policy = f"script-src {source}; style-src 'self'; connect-src 'self'"
    assert judge((policy,), origin=Origin.of(*origin)).allowed is allowed


def test_origins_from_host_headers() -> None:
    assert Origin.of("https", "Shop.Example.com") == Origin("https", "shop.example.com", 443)
    assert Origin.of("http", "localhost:8000") == Origin("http", "localhost", 8000)
    assert Origin.of("http", "[::1]:8080") == Origin("http", "::1", 8080)
    assert Origin.of("http", "[::1]") == Origin("http", "::1", 80)
    assert Origin.of("http", None) == Origin("http", "", 80)
