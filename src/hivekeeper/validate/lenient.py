"""A role config with its refused keys taken out, for the reference checks only.

``hivekeeper validate`` reports every finding in one pass: a refused value (a negative rate) must not hide
the problems of the references (a call id with no template). The workers would refuse the config, so this
config never runs and never reaches the offline build or the input/output checks; it only lets the checks
that read call ids, steps and templates see the keys that were accepted. A key is taken out where the
workers named it; a problem that names no key (a rule across keys), or a list item, cannot be taken out
without moving what follows it, and then the references are not checked (a note says so).
"""

from __future__ import annotations

import copy
from typing import Any

from hivekeeper.api import roles as role_configs
from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.common import CommonConfig
from hivekeeper.validate.paths import relative_path

ROUNDS = 5
"""Attempts: taking a key out can reveal a problem the model reported only once that key was valid."""


def without_refused(kind: str, merged: dict[str, Any], error: ConfigError) -> CommonConfig | None:
    """``kind``'s typed config of ``merged`` without the keys ``error`` refused, or None when it cannot be had."""
    config = copy.deepcopy(merged)
    for _ in range(ROUNDS):
        if not all(_take_out(config, relative) for relative, _message in error.problems):
            return None
        try:
            return role_configs.validate(kind, config)
        except ConfigError as again:
            error = again
    return None


def _take_out(config: dict[str, Any], relative: str) -> bool:
    """Remove the mapping key at ``relative``; False when the problem names no key that can be removed."""
    if relative in ("", "(root)", "config", "role"):
        return False
    parts = relative_path(relative)
    holder: Any = config
    for part in parts[:-1]:
        in_list = isinstance(holder, list) and isinstance(part, int) and 0 <= part < len(holder)
        if not (in_list or (isinstance(holder, dict) and part in holder)):
            return False
        holder = holder[part]
    key = parts[-1]
    if not isinstance(holder, dict) or key not in holder:
        return False
    del holder[key]
    return True
