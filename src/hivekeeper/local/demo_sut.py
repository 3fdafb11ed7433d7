"""A small, fast HTTP service to aim a swarm at when you have no system under test at hand.

It pretends to be a cards API. Stateless routes (the quickstart's): ``GET /cards/{id}/balance`` and
``POST /cards/{id}/topup`` answer 200 for any id. Stateful routes (journeys, in memory per server):

    POST /customers {name?, segment?}      201 {"id": "cus-<n>", ...} + Location: /customers/cus-<n>
    POST /customers/{id}/accounts          201 {"id": "acc-<n>", "customerId", "currency"} | 404
    POST /accounts/{id}/cards              201 {"id": "crd-<n>", "accountId", "customerId", "status", "balance"} | 404
    GET  /cards/{id}                       200 the card (404 for an unknown crd- id)
    POST /cards/{id}/topup {amount}        200 {"id", "balance"} for a known card
    POST /cards/{id}/suspend | /activate   200 {"id", "status"} | 404
    POST /payments {cardId, amount}        200 {"paymentId", "code", "status"} + X-Decision: the business answer is
                                           in the body: code 00 APPROVED (0 < amount <= 500), 51 DECLINED
                                           (amount > 500), 13 DECLINED (no positive amount); 400 for a non-JSON body
    GET  /stats                            200 {"customers", "accounts", "cards", "calls": {...}, "auth": {...}}
    GET  /health
    POST /oauth/token                      an OAuth2 token (client credentials or password grant), short-lived
    any  /secure/<path>                    401 without a valid token, else what /<path> answers

The token endpoint and the demo's credentials are in ``local/demo_auth.py``; ``--token-ttl`` sets how long a
token lives (2 s by default).

Anything else is a 404. It speaks HTTP/1.1 with keep-alive on ``asyncio.Protocol`` + httptools, so
that on a laptop the swarm, not the demo service, is the bottleneck. ``--delay-ms`` adds server-side
latency, ``--error-pct`` answers a share of requests with 503, ``--flaky-every N`` answers every Nth
``POST /customers`` with 503 (to see retries). It keeps the newest ``MAX_RECORDS`` records (of
all kinds); older ones are forgotten (404), so long runs do not grow without bound.

    python -m hivekeeper.local.demo_sut --port 8080
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import re
import sys
from dataclasses import dataclass, field
from typing import Any, cast

import httptools
import orjson

from hivekeeper.local import demo_auth

MAX_RECORDS = 1_000_000
PAYMENT_LIMIT = 500
"""``POST /payments`` approves amounts up to this (code 00) and declines larger ones (code 51), answering 200."""

_BALANCE = re.compile(rb"^/cards/([^/]+)/balance$")
_TOPUP = re.compile(rb"^/cards/([^/]+)/topup$")
_CARD = re.compile(rb"^/cards/([^/]+)$")
_CARD_STATUS = re.compile(rb"^/cards/([^/]+)/(suspend|activate)$")
_ACCOUNTS = re.compile(rb"^/customers/([^/]+)/accounts$")
_CARDS = re.compile(rb"^/accounts/([^/]+)/cards$")
_REASONS = {
    200: b"OK",
    201: b"Created",
    400: b"Bad Request",
    401: b"Unauthorized",
    404: b"Not Found",
    503: b"Service Unavailable",
}

Answer = tuple[int, bytes, bytes]
"""(status, JSON body, extra header lines)."""


@dataclass
class DemoState:
    """The records of one demo service (shared by all its connections) and what it was asked."""

    flaky_every: int = 0
    auth: demo_auth.DemoAuth = field(default_factory=demo_auth.DemoAuth)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    _next: int = 0
    _customer_posts: int = 0

    def new_id(self, prefix: str) -> str:
        self._next += 1
        return f"{prefix}-{self._next}"

    _order: collections.deque[tuple[dict[str, dict[str, Any]], str]] = field(default_factory=collections.deque)

    def keep(self, records: dict[str, dict[str, Any]], record: dict[str, Any]) -> None:
        """Store ``record``; past ``MAX_RECORDS`` of all kinds the oldest one is forgotten."""
        records[record["id"]] = record
        self._order.append((records, record["id"]))
        if len(self._order) > MAX_RECORDS:
            kind, oldest = self._order.popleft()
            kind.pop(oldest, None)

    def count(self, route: str) -> None:
        self.calls[route] = self.calls.get(route, 0) + 1

    def stats(self) -> dict[str, Any]:
        return {
            "customers": len(self.customers),
            "accounts": len(self.accounts),
            "cards": len(self.cards),
            "calls": dict(self.calls),
            "auth": self.auth.stats(),
        }

    def flaky(self) -> bool:
        """Whether this ``POST /customers`` is one of the every-Nth that fail."""
        self._customer_posts += 1
        return self.flaky_every > 0 and self._customer_posts % self.flaky_every == 0


def _json(body: bytes) -> dict[str, Any] | None:
    """The request body as a JSON object; ``{}`` when empty; ``None`` when it is not an object."""
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


_NOT_JSON = (400, b'{"error":"body must be a JSON object"}', b"")
_BAD_TOPUP = (400, b'{"error":"body must be JSON like {\\"amount\\": 10}"}', b"")


def _customers(state: DemoState, body: bytes) -> Answer:
    state.count("POST /customers")
    if state.flaky():
        return 503, b'{"error":"flaky: every Nth customer fails"}', b""
    data = _json(body)
    if data is None:
        return _NOT_JSON
    customer_id = state.new_id("cus")
    customer = {"id": customer_id, "name": data.get("name"), "segment": data.get("segment") or "retail"}
    state.keep(state.customers, customer)
    return 201, orjson.dumps(customer), b"Location: /customers/%s\r\n" % customer_id.encode()


def _open_account(state: DemoState, customer_id: str, body: bytes) -> Answer:
    state.count("POST /customers/{id}/accounts")
    if customer_id not in state.customers:
        return 404, b'{"error":"unknown customer"}', b""
    data = _json(body)
    if data is None:
        return _NOT_JSON
    account_id = state.new_id("acc")
    account = {"id": account_id, "customerId": customer_id, "currency": data.get("currency") or "EUR"}
    state.keep(state.accounts, account)
    return 201, orjson.dumps(account), b"Location: /accounts/%s\r\n" % account_id.encode()


def _issue_card(state: DemoState, account_id: str) -> Answer:
    state.count("POST /accounts/{id}/cards")
    account = state.accounts.get(account_id)
    if account is None:
        return 404, b'{"error":"unknown account"}', b""
    card_id = state.new_id("crd")
    card = {
        "id": card_id,
        "accountId": account_id,
        "customerId": account["customerId"],
        "status": "active",
        "balance": 0,
    }
    state.keep(state.cards, card)
    return 201, orjson.dumps(card), b"Location: /cards/%s\r\n" % card_id.encode()


def _topup(state: DemoState, card_id: str, body: bytes) -> Answer:
    state.count("POST /cards/{id}/topup")
    data = _json(body)
    if data is None:
        return _BAD_TOPUP
    amount = data.get("amount", 0)
    card = state.cards.get(card_id)
    if card is None:
        return 200, orjson.dumps({"cardId": card_id, "toppedUp": amount}), b""
    if not isinstance(amount, int | float) or isinstance(amount, bool):
        return _BAD_TOPUP
    card["balance"] += amount
    return 200, orjson.dumps({"id": card_id, "balance": card["balance"]}), b""


def _payment(state: DemoState, body: bytes) -> Answer:
    """A payment whose business outcome is in a 200's body (what result rules read): 00, 51 or 13."""
    state.count("POST /payments")
    data = _json(body)
    if data is None:
        return _NOT_JSON
    amount = data.get("amount")
    if not isinstance(amount, int | float) or isinstance(amount, bool) or amount <= 0:
        code, status = "13", "DECLINED"
    else:
        code, status = ("00", "APPROVED") if amount <= PAYMENT_LIMIT else ("51", "DECLINED")
    answer = {"paymentId": state.new_id("pay"), "code": code, "status": status}
    return 200, orjson.dumps(answer), b"X-Decision: %s\r\n" % status.encode()


def route(state: DemoState, method: bytes, path: bytes, body: bytes, authorization: bytes | None = None) -> Answer:
    """The answer of the demo service to one request; /oauth/token and /secure/ are the auth server's."""
    if path.startswith(b"/secure/"):
        if not state.auth.allows(authorization):
            state.count("401 /secure/")
            return demo_auth.UNAUTHORIZED
        return _open_route(state, method, path[len(b"/secure") :], body)
    if method == b"POST" and path == b"/oauth/token":
        state.count("POST /oauth/token")
        return state.auth.token(body, authorization)
    return _open_route(state, method, path, body)


def _open_route(state: DemoState, method: bytes, path: bytes, body: bytes) -> Answer:  # noqa: PLR0911, PLR0912 - one branch per route
    if path == b"/health":
        return 200, b'{"status":"ok"}', b""
    if method == b"GET" and (m := _BALANCE.match(path)):
        state.count("GET /cards/{id}/balance")
        card_id = m.group(1).decode()
        card = state.cards.get(card_id)
        balance = card["balance"] if card is not None else 1000 + len(card_id) * 7
        return 200, orjson.dumps({"cardId": card_id, "balance": balance, "currency": "EUR"}), b""
    if method == b"POST" and (m := _TOPUP.match(path)):
        return _topup(state, m.group(1).decode(), body)
    if method == b"POST" and path == b"/customers":
        return _customers(state, body)
    if method == b"POST" and (m := _ACCOUNTS.match(path)):
        return _open_account(state, m.group(1).decode(), body)
    if method == b"POST" and (m := _CARDS.match(path)):
        return _issue_card(state, m.group(1).decode())
    if method == b"GET" and (m := _CARD.match(path)):
        state.count("GET /cards/{id}")
        card_id = m.group(1).decode()
        card = state.cards.get(card_id)
        if card is not None:
            return 200, orjson.dumps(card), b""
        if card_id.startswith("crd-"):
            return 404, b'{"error":"unknown card"}', b""
        return 200, orjson.dumps({"id": card_id, "status": "active", "balance": 1000 + len(card_id) * 7}), b""
    if method == b"POST" and (m := _CARD_STATUS.match(path)):
        action = m.group(2).decode()
        state.count(f"POST /cards/{{id}}/{action}")
        card = state.cards.get(m.group(1).decode())
        if card is None:
            return 404, b'{"error":"unknown card"}', b""
        card["status"] = "suspended" if action == "suspend" else "active"
        return 200, orjson.dumps({"id": card["id"], "status": card["status"]}), b""
    if method == b"POST" and path == b"/payments":
        return _payment(state, body)
    if method == b"GET" and path == b"/stats":
        return 200, orjson.dumps(state.stats()), b""
    return 404, b'{"error":"no such endpoint"}', b""


_DEFAULT_STATE = DemoState()
"""Shared by handlers built without a state (one process, one set of records)."""


class DemoHandler(asyncio.Protocol):
    def __init__(self, delay: float, error_pct: float, state: DemoState | None = None) -> None:
        self._delay = delay
        self._error_pct = error_pct
        self._state = state if state is not None else _DEFAULT_STATE
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._body: list[bytes] = []
        self._authorization: bytes | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._write(400, b'{"error":"malformed request"}', b"", keep_alive=False)

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"authorization":
            self._authorization = value

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        method = self._parser.get_method()
        path = self._url.split(b"?", 1)[0]
        keep_alive = bool(self._parser.should_keep_alive())
        body = b"".join(self._body)
        authorization, self._authorization = self._authorization, None
        self._url, self._body = b"", []
        status, payload, extra = route(self._state, method, path, body, authorization)
        if self._error_pct and random.random() * 100 < self._error_pct:
            status, payload, extra = 503, b'{"error":"injected failure"}', b""
        if self._delay:
            asyncio.get_running_loop().call_later(self._delay, self._write, status, payload, extra, keep_alive)
        else:
            self._write(status, payload, extra, keep_alive)

    def _write(self, status: int, payload: bytes, extra: bytes, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        head = b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s%s\r\n" % (
            status,
            _REASONS.get(status, b"OK"),
            len(payload),
            extra,
            b"" if keep_alive else b"Connection: close\r\n",
        )
        transport.write(head + payload)
        if not keep_alive:
            transport.close()


async def serve(
    host: str,
    port: int,
    delay_ms: float = 0.0,
    error_pct: float = 0.0,
    *,
    flaky_every: int = 0,
    token_ttl: float = 2.0,
    state: DemoState | None = None,
) -> asyncio.Server:
    """Serve the demo API; every connection shares ``state`` (a fresh one unless given)."""
    loop = asyncio.get_running_loop()
    shared = state if state is not None else DemoState(flaky_every=flaky_every, auth=demo_auth.DemoAuth(token_ttl))
    if flaky_every:
        shared.flaky_every = flaky_every
    return await loop.create_server(
        lambda: DemoHandler(delay_ms / 1000.0, error_pct, shared), host, port, reuse_address=True, backlog=1024
    )


async def _main(args: argparse.Namespace) -> None:
    server = await serve(
        args.host, args.port, args.delay_ms, args.error_pct, flaky_every=args.flaky_every, token_ttl=args.token_ttl
    )
    port = server.sockets[0].getsockname()[1]
    print(f"demo SUT listening on http://{args.host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port (printed on start)")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--error-pct", type=float, default=0.0)
    parser.add_argument("--flaky-every", type=int, default=0, help="answer every Nth POST /customers with 503")
    parser.add_argument(
        "--token-ttl", type=float, default=2.0, help="seconds an OAuth2 token of /oauth/token lives (default 2)"
    )
    args = parser.parse_args(argv)
    if args.token_ttl <= 0:
        parser.error(f"--token-ttl must be a positive number of seconds (got {args.token_ttl})")
    if args.flaky_every < 0:
        parser.error(f"--flaky-every must be 0 (off) or a positive count (got {args.flaky_every})")
    try:
        import uvloop

        uvloop.run(_main(args))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
