"""Gateways with some of their per-request steps replaced by the answer they gave the first
time, to see what each step costs under a real server (``bench_html.py --against``).

Targets (``benchmarks.html_ablation:<name>``), all on the repeated 50 KB gzip page:
  none        the gateway as it is, built like the others here (for the same-run reference)
  visit       the visit look-up answered by a constant
  response    the response-header plan answered by a constant (since a visit remembers its
              last response, asked only when that does not answer)
  page        the page decision answered by a constant (likewise)
  memo        sending the page (the page sent last, the memo, re-encoding) answered by the
              stored start and body
  steps       all four: what is left is the ASGI plumbing around them
  steps_alloc all four, plus 21 small dicts made and dropped per request
  steps_calls all four, plus 20 calls of a builtin per request
  holding     no gateway: a middleware that only holds the start message until the body
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

from benchmarks.html_apps import _page_gzip, _settings
from gateway import ConsentMiddleware

Message = dict[str, Any]


def _first_answer(function: Callable[..., Any]) -> Callable[..., Any]:
    answers: list[Any] = []

    def constant(*args: Any) -> Any:
        if not answers:
            answers.append(function(*args))
        return answers[0]

    return constant


def gateway_with(steps: str) -> ConsentMiddleware:
    gateway = ConsentMiddleware(Starlette(routes=[Route("/", _page_gzip)]), _settings())
    enforcer, injector = gateway.gateway.enforcer, gateway.gateway.injector
    if "visit" in steps:
        enforcer.visit = _first_answer(enforcer.visit)  # type: ignore[method-assign]
    if "response" in steps:
        enforcer.response = _first_answer(enforcer.response)  # type: ignore[method-assign]
    if "page" in steps:
        injector.start = _first_answer(injector.start)  # type: ignore[method-assign]
    if "memo" in steps:
        whole = injector.whole
        stored: list[Message] = []

        async def answer(page: Any, start: Message, body: bytes, send: Any) -> None:
            if not stored:

                async def keep(message: Message) -> None:
                    stored.append(message)

                for _ in range(3):  # the first rewrite, the thorough one, then a memo hit
                    stored.clear()
                    await whole(page, start, body, keep)
            head, rest = stored
            await send({**head, "headers": list(head["headers"])})
            await send({"type": "http.response.body", "body": rest["body"]})

        injector.whole = answer  # type: ignore[method-assign]
    return gateway


def _plus(app: ConsentMiddleware, extra: Callable[[], object]) -> Callable[..., Awaitable[None]]:
    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        extra()
        await app(scope, receive, send)

    return wrapped


ALL = "visit response page memo"
none = gateway_with("")
visit = gateway_with("visit")
response = gateway_with("response")
page = gateway_with("page")
memo = gateway_with("memo")
steps = gateway_with(ALL)
steps_alloc = _plus(gateway_with(ALL), lambda: [{"a": i} for i in range(20)])
steps_calls = _plus(gateway_with(ALL), lambda: [abs(i) for i in range(20)])


def _holding(app: Any) -> Callable[..., Awaitable[None]]:
    """A middleware that only holds the start message back until the body, as the gateway
    does for a page: the floor of any injecting middleware."""

    async def holding(scope: Any, receive: Any, send: Any) -> None:
        held: list[Message] = []

        async def hold(message: Message) -> None:
            if message["type"] == "http.response.start":
                held.append(message)
                return
            if held:
                await send(held.pop())
            await send(message)

        await app(scope, receive, hold)

    return holding


holding = _holding(Starlette(routes=[Route("/", _page_gzip)]))
