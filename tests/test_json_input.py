"""JSON inputs have bounded nesting: the consent API answers a clear 400 to a deeply nested
body, through a real server, and the shared parser counts only brackets outside strings."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from gateway import ConsentMiddleware
from gateway.json_input import MAX_DEPTH, JSONInputError, nesting, parse_json
from tests.support.servers import running

Gateway = Callable[..., ConsentMiddleware]


def test_a_deeply_nested_state_body_is_a_400_and_the_site_keeps_serving(
    make_gateway: Gateway,
) -> None:
    deep = "[" * 2000 + "]" * 2000  # 4,000 bytes: within the API's 4 KB body limit
    with running(make_gateway()) as url, httpx.Client(base_url=url) as client:
        headers = {"origin": url, "content-type": "application/json"}
        response = client.post("/_consent/state", content=deep, headers=headers)
        assert response.status_code == 400
        assert response.json() == {
            "error": f"the body nests arrays or objects more than {MAX_DEPTH} levels deep"
        }
        # Within the bound but not a choice: the API's own message, still a 400.
        shallow = "[" * MAX_DEPTH + "]" * MAX_DEPTH
        response = client.post("/_consent/state", content=shallow, headers=headers)
        assert response.status_code == 400
        assert "send a JSON object" in response.json()["error"]
        assert client.get("/_consent/state").status_code == 200
        saved = client.post("/_consent/state", json={"all": False}, headers={"origin": url})
        assert saved.status_code == 200


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": [[]]}]}', 5),
        ('["[[[[", "]]", "{{"]', 1),  # brackets in strings do not nest
        (r'["\"[[[", "\\", [["\\\"]"]]]', 3),  # escaped quotes and backslashes
        ('["unterminated [[[[', 1),
        ("]]]][[", 0),  # a parser stops at the first "]"
    ],
)
def test_nesting_counts_brackets_outside_strings(text: str, depth: int) -> None:
    assert nesting(text) == depth


def test_the_bound_is_inclusive_and_strings_full_of_brackets_pass() -> None:
    assert parse_json("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(JSONInputError, match="levels deep"):
        parse_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert parse_json('["' + "[" * 5000 + '"]') == ["[" * 5000]
    with pytest.raises(JSONInputError, match="not valid JSON"):
        parse_json('{"a": ')
