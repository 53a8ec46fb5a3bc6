"""Example cookie names for each pattern in rules/cookies/: ``tests/cookies/test_rules_data.py``
checks the patterns against them and ``benchmarks/bench_classifier.py`` classifies them."""

from __future__ import annotations

# Cookie names each pattern must fully match, and a few it must not. Every pattern in the
# database needs an entry here, so a new pattern comes with proof of what it is for.
PATTERN_EXAMPLES: dict[str, tuple[list[str], list[str]]] = {
    "kndctr_[A-Za-z0-9]+_AdobeOrg_identity": (
        ["kndctr_53A16ACB5CC1D3760A495C99_AdobeOrg_identity"],
        ["kndctr_53A16ACB5CC1D3760A495C99_AdobeOrg_cluster"],
    ),
    "kndctr_[A-Za-z0-9]+_AdobeOrg_cluster": (
        ["kndctr_53A16ACB5CC1D3760A495C99_AdobeOrg_cluster"],
        ["kndctr__AdobeOrg_cluster"],
    ),
    "kndctr_[A-Za-z0-9]+_AdobeOrg_consent(_check)?": (
        [
            "kndctr_53A16ACB5CC1D3760A495C99_AdobeOrg_consent",
            "kndctr_53A16ACB5CC1D3760A495C99_AdobeOrg_consent_check",
        ],
        ["kndctr_53A16ACB5CC1D3760A495C99_AdobeOrg_identity"],
    ),
    "mp_[0-9a-f]+_mixpanel": (["mp_1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f_mixpanel"], ["mp_optout"]),
    "ph_[A-Za-z0-9_-]+_posthog": (["ph_phc_x8ZqG3Vc2fLk9YwQ_posthog"], ["ph_posthog"]),
    "mf_[0-9a-f-]{32,36}": (["mf_0e2f4d8e-1a2b-4c3d-9e8f-0123456789ab"], ["mf_user"]),
    "SL_[CL]_[0-9a-f]+_(SID|KEY|VID|DOMAIN)": (
        ["SL_C_23361dd035530_SID", "SL_L_23361dd035530_KEY", "SL_C_23361dd035530_DOMAIN"],
        ["SL_C_23361dd035530_OTHER"],
    ),
    r"IR_\d+": (["IR_12345"], ["IR_gbd", "IR_PI"]),
    r"visitor_id\d+(-hash)?": (["visitor_id12345", "visitor_id12345-hash"], ["visitor_id"]),
    r"lpv\d+": (["lpv98765"], ["lpv"]),
    r"pi_opt_in\d+": (["pi_opt_in98765"], ["pi_opt_in"]),
    r"prism_\d+": (["prism_223456789"], ["prism_"]),
    r"_drip_client_\d+": (["_drip_client_6789012"], ["_drip_client_"]),
    r"AWSALBAPP-\d+": (["AWSALBAPP-0", "AWSALBAPP-3"], ["AWSALB"]),
    "TS[0-9a-f]{8}(_[0-9]+)?": (["TS01a2b3c4", "TS01a2b3c4_28"], ["TS", "TSESSION"]),
    "_[a-z0-9_]+_session": (["_myapp_session", "_gitlab_session"], ["laravel_session"]),
    "_[a-z0-9_]+_key": (["_my_app_key"], ["_key", "12345_key"]),
    r"auth0\.[A-Za-z0-9]+\.is\.authenticated": (
        ["auth0.Ab12Cd34Ef56.is.authenticated"],
        ["auth0.is.authenticated"],
    ),
    r"_legacy_auth0\.[A-Za-z0-9]+\.is\.authenticated": (
        ["_legacy_auth0.Ab12Cd34Ef56.is.authenticated"],
        ["auth0.Ab12Cd34Ef56.is.authenticated"],
    ),
    r"sb-[a-z0-9]+-auth-token(-code-verifier)?(\.[0-9]+)?": (
        [
            "sb-abcdefghijklmnop-auth-token",
            "sb-abcdefghijklmnop-auth-token.0",
            "sb-abcdefghijklmnop-auth-token-code-verifier",
        ],
        ["sb-access-token"],
    ),
    "store_notice[0-9a-f]+": (["store_notice5c1e2f3a"], ["store_notice"]),
    "S?SESS[0-9a-f]{32}": (
        ["SESS0123456789abcdef0123456789abcdef", "SSESS0123456789abcdef0123456789abcdef"],
        ["SESSION"],
    ),
    "[0-9a-f]{32}": (["0123456789abcdef0123456789abcdef"], ["PHPSESSID"]),
    "[0-9]+_key": (["123456_key"], ["_app_key"]),
    "phpbb[0-9]?_[a-z0-9]+_(sid|u|k)": (
        ["phpbb3_abc12_sid", "phpbb3_abc12_u", "phpbb_xyz_k"],
        ["phpbb3_abc12_x"],
    ),
}
