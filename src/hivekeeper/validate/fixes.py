"""The fix of a role config problem: the worker's own advice when its message gives one, else what the value
must be. Role configs are checked by the workers' code, whose messages say what is wrong; this says what to do."""

from __future__ import annotations

import re

from hivekeeper.api import roles as role_configs

_SHOULD_BE = re.compile(r"Input should be (.+?)(?: \(got .*)?$")
_ADVICE = re.compile(r"; ((?:set|use|remove|give|add|name|choose|fix|pass|put)\b[^;]*)$")
_FIXES = (
    ("unknown key", "remove {path} or fix its spelling (docs/roles.md lists every key of each role)"),
    ("unknown role", "use a role the workers run ({roles}) or a custom image"),
    ("sequence() cannot be used here", "use a literal or sut/vars in this value; sequence() is for per-item templates"),
    ("must start with http:// or https://", "make it (or what it renders) an http:// or https:// URL"),
    ("needs exactly one of", "keep exactly one of the keys the message names"),
)


def config_fix(path: str, message: str) -> str:
    """The fix of a worker's config problem: its own advice when it gives one, else what the value must be."""
    for words, fix in _FIXES:
        if words in message:
            return fix.format(path=path, roles=", ".join(role_configs.ROLES))
    if message.startswith("is required: "):
        return f"set {path.rsplit('.', 1)[-1]}: {message.removeprefix('is required: ')}"
    if advice := _ADVICE.search(message.split(" (got ", maxsplit=1)[0]):
        return advice.group(1)
    if should := _SHOULD_BE.search(message):
        return f"make it {should.group(1)}"
    return "change the value as the message says (docs/roles.md lists each role's keys and their ranges)"


def problem_text(message: str) -> str:
    """A pydantic message without its ``Value error, `` prefix."""
    return message.replace("Value error, ", "")
