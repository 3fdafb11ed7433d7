"""Redis pushes: which list an item goes to, what is pushed, and which configs are refused (and why)."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from hivekeeper.api import roles as role_configs
from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.outputs import RedisPush, RedisRoute
from hivekeeper.protocol.workitem import WorkItem, new_item
from hivekeeper.templating.engine import TemplateEngine
from hivekeeper.worker.control import WorkerState
from hivekeeper.worker.outputs import redis_push
from hivekeeper.worker.outputs import redis_routes as routes
from hivekeeper.worker.transports.memory import MemoryStore


def _item(payload: str, headers: dict[str, Any] | None = None) -> WorkItem:
    return new_item(payload, swarm="s", service="feeder", instance="feeder-0", headers=headers)


def _routes(*raw: dict[str, Any]) -> tuple[routes.Route, ...]:
    return routes.compile_routes([RedisRoute.model_validate(r) for r in raw])


def test_the_first_matching_route_wins() -> None:
    compiled = _routes(
        {"match": '"segment":"gold"', "list": "customers.gold"},
        {"match": '"segment"', "list": "customers.any-segment"},
        {"match": ".", "list": "customers.other"},
    )
    gold = '{"id":1,"segment":"gold"}'
    assert routes.first_match(compiled, gold, _item(gold)) == "customers.gold"
    silver = '{"id":2,"segment":"silver"}'
    assert routes.first_match(compiled, silver, _item(silver)) == "customers.any-segment"
    assert routes.first_match(compiled, "{}", _item("{}")) == "customers.other"


def test_a_route_with_header_and_match_needs_both_to_hold() -> None:
    [route] = _routes({"match": "gold", "header": "x-ph-redis-list", "headerMatch": r"^cards\.topup$", "list": "t"})
    assert route.matches("gold", _item("gold", {"x-ph-redis-list": "cards.topup"}))
    assert not route.matches("silver", _item("silver", {"x-ph-redis-list": "cards.topup"})), "payload fails"
    assert not route.matches("gold", _item("gold", {"x-ph-redis-list": "cards.active"})), "header fails"


def test_a_missing_header_never_matches_even_a_match_anything_regex() -> None:
    [route] = _routes({"header": "x-ph-redis-list", "headerMatch": ".*", "list": "t"})
    assert not route.matches("x", _item("x"))
    assert route.matches("x", _item("x", {"x-ph-redis-list": ""}))


def test_a_header_is_looked_up_on_the_item_then_on_the_current_step() -> None:
    [route] = _routes({"header": "x-ph-processor-status", "headerMatch": "^5", "list": "failed"})
    item = _item("x").with_step("result", service="caller", instance="c-0", headers={"x-ph-processor-status": 503})
    assert route.matches("result", item), "a step header (an int here) is matched as text"
    assert not route.matches("result", _item("x").with_step("r", service="c", instance="c-0"))


def test_the_target_is_a_route_then_a_non_blank_template_then_the_default_list() -> None:
    compiled = _routes({"match": "gold", "list": "from-route"})

    def target(payload: str, rendered: str | None, default: str = "fallback") -> str | None:
        render = (lambda: rendered) if rendered is not None else None
        return routes.resolve_target(compiled, payload, _item(payload), render, default)

    assert target("gold", "from-template") == "from-route"
    assert target("silver", "from-template") == "from-template"
    assert target("silver", "  from-template \n") == "from-template", "rendered names are stripped"
    assert target("silver", "   ") == "fallback", "a blank render falls through"
    assert target("silver", None) == "fallback"
    assert target("silver", "", default="") is None, "nothing names a list"


def test_the_template_is_not_rendered_when_a_route_matched() -> None:
    compiled = _routes({"match": "gold", "list": "from-route"})

    def render() -> str:
        raise AssertionError("rendered although a route matched")

    assert routes.resolve_target(compiled, "gold", _item("gold"), render, "") == "from-route"


def test_source_step_first_is_the_original_record_and_last_the_current_payload() -> None:
    item = _item('{"cardId":"c-1"}').with_step('{"kind":"http.request"}', service="builder", instance="b-0")
    item = item.with_step('{"kind":"http.result"}', service="caller", instance="c-0")
    assert routes.step_text(routes.source_step(item, "FIRST")) == '{"cardId":"c-1"}'
    assert routes.step_text(routes.source_step(item, "LAST")) == '{"kind":"http.result"}'
    assert routes.step_bytes(routes.source_step(item, "FIRST")) == b'{"cardId":"c-1"}'


def test_base64_payloads_are_pushed_as_their_exact_bytes() -> None:
    item = _item("")
    raw = b"\xff\xfe binary"
    item.steps[0].payload = base64.b64encode(raw).decode()
    item.steps[0].payloadEncoding = "base64"
    assert routes.step_bytes(routes.source_step(item, "FIRST")) == raw
    assert routes.step_text(routes.source_step(item, "FIRST")).endswith(" binary")


# -- configs that are refused -------------------------------------------------------------------

PROCESSOR = {"baseUrl": "http://127.0.0.1:9"}


def _problems(raw: dict[str, Any], role: str = "processor") -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        role_configs.validate(role, {**PROCESSOR, **raw} if role == "processor" else raw)
    return caught.value.problems


def _push(**redis: Any) -> dict[str, Any]:
    return {"outputs": {"type": "REDIS", "redis": redis}}


def test_a_route_without_a_list_is_refused() -> None:
    [(path, message)] = _problems(_push(routes=[{"match": "x"}]))
    assert path == "outputs.redis.routes[0]"
    assert "needs list" in message


def test_a_route_with_neither_match_nor_header_is_refused() -> None:
    [(path, message)] = _problems(_push(routes=[{"list": "a"}]))
    assert path == "outputs.redis.routes[0]"
    assert "match" in message
    assert "header" in message


def test_a_header_without_header_match_is_refused() -> None:
    [(path, message)] = _problems(_push(routes=[{"match": "x", "list": "a"}, {"header": "h", "list": "b"}]))
    assert path == "outputs.redis.routes[1]"
    assert "headerMatch" in message


def test_a_bad_regex_is_refused_naming_the_route_the_regex_and_the_error() -> None:
    [(path, message)] = _problems(_push(routes=[{"match": "(unclosed", "list": "a"}]))
    assert path == "outputs.redis.routes[0].match"
    assert "is not a regular expression RE2 can run (missing ): (unclosed)" in message
    assert "'(unclosed'" in message
    [(path, _)] = _problems(_push(routes=[{"header": "h", "headerMatch": "[", "list": "a"}]))
    assert path == "outputs.redis.routes[0].headerMatch"


def test_route_patterns_run_in_linear_time_and_lookaround_is_refused() -> None:
    [route] = _routes({"match": "^(a|aa)+$", "header": "h", "headerMatch": "^(a+)+$", "list": "t"})
    payload = "a" * 100_000 + "!"  # Python's re needs hours for either pattern on this
    started = time.monotonic()
    assert not route.matches(payload, _item(payload, {"h": payload}))
    assert time.monotonic() - started < 0.5
    [(path, message)] = _problems(_push(routes=[{"match": "(?<!x)y", "list": "a"}]))
    assert path == "outputs.redis.routes[0].match"
    assert "lookaround" in message


def test_a_push_with_no_way_to_name_a_list_is_refused() -> None:
    [(path, message)] = _problems(_push(routes=[], targetListTemplate="  ", maxLen=-1))
    assert path == "outputs.redis"
    assert "defaultList" in message
    [(path, message)] = _problems({"outputs": {"type": "REDIS"}})
    assert (path, "outputs.redis" in message) == ("outputs", True)


@pytest.mark.parametrize(
    "keys", [{"host": "redis", "port": 6379}, {"password": "s3cret"}, {"username": "u", "ssl": True}]
)
def test_connection_keys_are_refused_without_echoing_their_values(keys: dict[str, Any]) -> None:
    [(path, message)] = _problems(_push(defaultList="a", **keys))
    assert path == "outputs.redis"
    assert all(key in message for key in keys)
    assert "HIVEKEEPER_REDIS_URL" in message
    assert "s3cret" not in message
    uploader = {"interceptors": {"redisUploader": {"defaultList": "a", **keys}}}
    [(path, _)] = _problems(uploader)
    assert path == "interceptors.redisUploader"


def test_an_uploader_defaults_to_enabled_after_the_role_pushing_the_last_step() -> None:
    config = role_configs.validate("processor", {**PROCESSOR, "interceptors": {"redisUploader": {"defaultList": "a"}}})
    uploader = config.interceptors.redisUploader
    assert uploader is not None
    assert (uploader.enabled, uploader.phase, uploader.sourceStep, uploader.pushDirection) == (
        True,
        "AFTER",
        "LAST",
        "RPUSH",
    )


# -- what a worker checks when it applies a config --------------------------------------------


def _state(role: str, raw: dict[str, Any]) -> WorkerState:
    return WorkerState.bootstrap(role, raw, has_out=False)


def test_redis_without_a_store_is_refused_with_the_way_to_configure_it() -> None:
    uploader = {"interceptors": {"redisUploader": {"defaultList": "b"}}}
    state = _state("processor", {**PROCESSOR, **_push(defaultList="a"), **uploader})
    with pytest.raises(ConfigError) as caught:
        redis_push.check(state, has_store=False, engine=TemplateEngine())
    paths = [p for p, _ in caught.value.problems]
    assert paths == ["outputs.type", "interceptors.redisUploader"]
    assert all("HIVEKEEPER_REDIS_URL" in m and "hivekeeper run --redis URL" in m for _, m in caught.value.problems)


def test_a_target_template_that_does_not_compile_is_refused() -> None:
    state = _state("processor", {**PROCESSOR, **_push(targetListTemplate="{{ payload.segment ")})
    with pytest.raises(ConfigError) as caught:
        redis_push.check(state, has_store=True, engine=TemplateEngine())
    [(path, message)] = caught.value.problems
    assert path == "outputs.redis.targetListTemplate"
    assert "syntax error" in message


def test_a_postprocessor_with_a_redis_output_must_forward_its_items() -> None:
    state = _state("postprocessor", _push(defaultList="a"))
    with pytest.raises(ConfigError) as caught:
        redis_push.check(state, has_store=True, engine=TemplateEngine())
    [(path, message)] = caught.value.problems
    assert path == "forwardToOutput"
    assert "set forwardToOutput: true" in message
    redis_push.check(
        _state("postprocessor", {**_push(defaultList="a"), "forwardToOutput": True}),
        has_store=True,
        engine=TemplateEngine(),
    )


# -- a pusher on the in-memory store -----------------------------------------------------------


async def test_a_pusher_renders_the_target_template_with_the_pushed_record_and_honours_direction_and_max_len() -> None:
    store = MemoryStore()
    push = RedisPush.model_validate(
        {
            "routes": [{"header": "x-ph-redis-list", "headerMatch": "^vip$", "list": "customers.vip"}],
            "targetListTemplate": "{% if payload.segment is defined %}{{ vars.p }}.{{ payload.segment }}{% endif %}",
            "defaultList": "customers.unknown",
            "pushDirection": "LPUSH",
            "maxLen": 2,
            "sourceStep": "FIRST",
        }
    )
    pusher = redis_push.RedisPusher(push, store, TemplateEngine(), "outputs.redis", {"vars": {"p": "c"}, "sut": {}})
    records = ['{"n":1,"segment":"gold"}', '{"n":2,"segment":"gold"}', '{"n":3,"segment":"gold"}', '{"n":4}']
    targets = []
    for record in records:
        item = _item(record).with_step("a later step", service="caller", instance="c-0")
        targets.append(await pusher.push(item))
    targets.append(await pusher.push(_item('{"n":5}', {"x-ph-redis-list": "vip"})))
    assert targets == ["c.gold", "c.gold", "c.gold", "customers.unknown", "customers.vip"]
    assert [await store.lpop("c.gold") for _ in range(3)] == [
        b'{"n":3,"segment":"gold"}',
        b'{"n":2,"segment":"gold"}',
        None,
    ]
    assert pusher.counts.as_status()["pushed"] == 5
