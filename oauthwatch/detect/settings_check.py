"""``[detect]`` typos are errors, with the closest valid name suggested.

``[detect]`` accepts one table per detector (``[detect.spray]``), so a misspelt setting such as
``window_minuts = 30`` or a ``disabled`` entry naming no detector used to be silently ignored:
the setting kept its default and nobody knew. Every key is now checked against the settings and
the detector ids, and each threshold value against the type of its default.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from oauthwatch.errors import ConfigError

if TYPE_CHECKING:
    from oauthwatch.config import Settings


def closest(word: str, options: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the closest option, or nothing when none is close."""
    match = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def check_detect_settings(settings: Settings) -> None:
    """Refuse unknown ``[detect]`` keys and unknown ids in ``disabled`` (the thresholds themselves
    are checked by :meth:`oauthwatch.detect.base.Detector.thresholds`)."""
    from oauthwatch.detect.registry import all_detectors

    ids = {d.id for d in all_detectors()}
    own = set(type(settings.detect).model_fields)
    for key, value in (settings.detect.model_extra or {}).items():
        if key not in ids:
            raise ConfigError(f"[detect] {key!r} is not a setting or a detector id{closest(key, own | ids)}")
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"[detect] {key} must be a table of thresholds: write [detect.{key}] above them"
            )
    for org in settings.orgs:
        for key, value in org.detect.items():
            if key not in ids:
                raise ConfigError(f"orgs {org.name}: detect.{key} is not a detector id{closest(key, ids)}")
            if not isinstance(value, Mapping):
                raise ConfigError(f"orgs {org.name}: detect.{key} must be a table of thresholds")
    for name in settings.detect.disabled:
        if name not in ids:
            raise ConfigError(
                f"[detect] disabled: {name!r} is not a detector id{closest(name, ids)} (known: {', '.join(sorted(ids))})"
            )


def coerce_threshold(detector_id: str, key: str, default: Any, value: Any) -> Any:
    """``value`` as the type of ``default``, or a :class:`ConfigError` naming the setting and the type."""
    if default is None:
        return value
    kind = type(default)
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif isinstance(value, bool | Mapping | list):
        pass  # true is not a number, a table is not a threshold
    else:
        try:
            return kind(value)
        except (TypeError, ValueError):
            pass
    example = {"int": "10", "float": "2.5", "bool": "true", "str": '"text"'}.get(kind.__name__, repr(default))
    raise ConfigError(
        f"[detect.{detector_id}] {key} must be a {kind.__name__} (e.g. {key} = {example}), not {value!r:.60}"
    )
