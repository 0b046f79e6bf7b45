"""Corrupted and mutated EPCIS documents for the conformance tests: pure JSON surgery.

A document is cut into *shells* so that each variant is small: the document with only its
first event (for changes outside the events) and the document with only event *i* (for
changes inside that event). Events of an ``eventList`` are validated independently of each
other, so a shell is valid exactly when the whole document with the same change would be.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from cloud.provenance.vocab import BIZ_STEPS, DISPOSITIONS

Path = tuple[str | int, ...]

EVENT_LIST_PATHS: tuple[Path, ...] = (
    ("epcisBody", "eventList"),
    ("epcisBody", "queryResults", "resultsBody", "eventList"),
)

BAD_DATES = (
    "2005-13-11T11:30:47Z",  # month 13
    "2005-02-30T20:33:31Z",  # 30 February
    "2000-02-29T00:00:00Z",  # leap day: valid
    "1900-02-29T00:00:00Z",  # not a leap year
    "0000-01-01T00:00:00Z",  # year 0
    "2005-04-03 20:33:31Z",  # space for T
    "2005-04-03T20:33:31",  # no zone
    "2005-04-03T20:33Z",  # no seconds
    "2005-04-03T24:00:00Z",
    "2005-04-03T20:33:60Z",  # leap second: refused by the checker
    "2005-04-03t20:33:31.5z",  # lower case: valid
    "2005-04-03T20:33:31+14:00",
    "2005-04-03T20:33:31+24:00",
    "2005-04-03T20:33:31.Z",
    "yesterday",
)
BAD_URIS = (
    "http://exa mple",
    "not a uri",
    "urn:example:x",  # valid
    "example:x",  # valid: a prefixed name is a URI
    "x",
    ":x",
    "1x:y",
    "http://[::1]/",  # valid
    "http://[::g]/",
    "http://[v1.x]/",  # valid
    "http://[V1.x]/",  # the checker wants a lower-case v
    "http://a:b@host:80/p?q#f",  # valid
    "http://host:port/",
    "http://a%2x/",
    "urn:x#a#b",
    "mailto:someone@example.com",  # valid
    "urn:x\n",  # valid: $ before a final newline
    "urn:x\n\n",
    "https://id.gs1.org/01/09506000134352/21/\u00e9",
)
CBV_FORMS = (
    "urn:epcglobal:cbv:bizstep:shipping",
    "urn:epcglobal:cbv:disp:in_transit",
    "https://ns.gs1.org/cbv/BizStep-shipping",
    "http://ns.gs1.org/cbv/x",
    "https://ref.gs1.org/cbv/BizStep-shipping",  # valid: another namespace
    "https://gs1.org/voc/Temperature",
    "https://www.gs1.org/voc/x",
    "https://example.org/voc/Temperature",
    "shipping",
    "in_transit",
    "Temperature",
    "ALARM_CONDITION",
    "owning_party",
    "po",
    "did_not_occur",
    "latitude",
    "OBSERVE",
    "ADD",
    "DELETE",
)
OFFSETS = ("+14:00", "+14:01", "-13:59", "+1:00", "Z", "+01:00\n", "+0100")
OTHER_STRINGS = ("", "2.0", "2", "2.0.", "\u0662.0", "KGM", "kg", "ABCD", "00ff", "0x1")
EXTRA_MEMBERS: tuple[tuple[str, Any], ...] = (
    ("foo", 1),
    ("example:foo", {"a": [1]}),
    ("@id", "urn:x"),
    ("eventID", "urn:x"),
    ("action", "ADD"),
    ("ilmd", {"example:lot": "1"}),
    ("epcList", []),
)
QUICK_CHANGES = 3
SCALARS: tuple[Any, ...] = (None, True, False, 0, -1, 2.5, 1e300, [], {}, ["x"], {"a": 1})


def get(document: Any, path: Path) -> Any:
    for part in path:
        document = document[part]
    return document


def replace(document: Any, path: Path, value: Any) -> Any:
    """A copy of ``document`` (copied along ``path`` only) with ``value`` at ``path``."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy: Any = dict(document) if isinstance(document, dict) else list(document)
    copy[head] = replace(document[head], rest, value)
    return copy


def remove(document: Any, path: Path) -> Any:
    parent = get(document, path[:-1])
    copy: Any = dict(parent) if isinstance(parent, dict) else list(parent)
    del copy[path[-1]]
    return replace(document, path[:-1], copy)


def insert(document: Any, path: Path, key: str, value: Any) -> Any:
    return replace(document, path, {**get(document, path), key: value})


def paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every node of a JSON value, the root first."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def event_list_path(document: Any) -> Path | None:
    for path in EVENT_LIST_PATHS:
        try:
            if isinstance(get(document, path), list):
                return path
        except (KeyError, IndexError, TypeError):
            continue
    return None


def shells(document: Any) -> Iterator[tuple[Any, list[Path]]]:
    """(shell, the paths to change in it): the document part once, then each event."""
    where = event_list_path(document)
    if where is None:
        yield document, list(paths(document))
        return
    events = get(document, where)
    head = replace(document, where, events[:1])
    yield head, [p for p in paths(head) if p[: len(where) + 1] != (*where, 0)]
    for event in events:
        shell = replace(document, where, [event])
        yield shell, list(paths(event, (*where, 0)))


def focus(document: Any, path: Path) -> tuple[Any, Path]:
    """The document with every array on the way to ``path`` cut to the one item on the way
    (an array that was valid stays valid: minItems 1 and uniqueItems still hold), and the
    path into it. Small variants keep the official validator fast."""
    focused, node = document, document
    new_path: list[str | int] = []
    for part in path:
        step = part
        if isinstance(node, list) and isinstance(part, int):
            focused = replace(focused, tuple(new_path), [node[part]])
            step = 0
        new_path.append(step)
        node = get(focused, tuple(new_path))
    return focused, tuple(new_path)


class _Rotation:
    """Takes ``n`` values from a pool in turn, so that every value is used somewhere."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def take(self, name: str, pool: tuple[Any, ...], n: int) -> list[Any]:
        start = self._next.get(name, 0)
        self._next[name] = start + n
        return [pool[(start + i) % len(pool)] for i in range(min(n, len(pool)))]


def _string_replacements(value: str, rotation: _Rotation) -> list[Any]:
    out: list[Any] = ["x", value + "\n", value + " ", value.upper(), [value]]
    if value[:1].isdigit() and "T" in value:
        out.extend(rotation.take("dates", BAD_DATES, 5))
    if ":" in value:
        out.extend(rotation.take("uris", BAD_URIS, 5))
        out.append(value.replace(":", "", 1))
    if value in BIZ_STEPS or value in DISPOSITIONS or value.isalpha() or "_" in value:
        out.extend(rotation.take("terms", CBV_FORMS, 5))
        out.append(f"urn:epcglobal:cbv:bizstep:{value}")
    if value[:1] in "+-":
        out.extend(OFFSETS)
    if len(value) <= 4:
        out.extend(OTHER_STRINGS)
    return out


def replacements(value: Any, rotation: _Rotation) -> list[Any]:
    """Values to put where ``value`` is: wrong types, and near misses of its format."""
    out = list(SCALARS)
    if isinstance(value, str):
        out.extend(_string_replacements(value, rotation))
    elif isinstance(value, bool):
        out.extend([1, "true"])
    elif isinstance(value, int | float):
        out.extend([str(value), -value, value + 0.5])
    elif isinstance(value, list) and value:
        out.extend([[*value, value[0]], [*value, 5], value[:1]])
    return out


def _position(shell: Any, path: Path, *, fine: bool) -> tuple[Any, ...]:
    """Where a change lands, up to what decides its verdict: the event type and the path with
    indexes blurred; ``fine`` adds the members beside it and in its event (rules tie them)."""
    where = event_list_path(shell)
    events = get(shell, where) if where else []
    event = events[0] if events and isinstance(events[0], dict) else {}
    blurred = tuple("#" if isinstance(p, int) else p for p in path)
    if not fine:
        return (event.get("type"), blurred)
    parent = get(shell, path[:-1]) if path else None
    siblings = tuple(sorted(parent)) if isinstance(parent, dict) else ()
    return (event.get("type"), tuple(sorted(event)), siblings, blurred)


def _changes(value: Any, rotation: _Rotation) -> list[tuple[str, Any]]:
    """("=", new value) and ("+", (member, value)) changes of a node, besides removing it."""
    out: list[tuple[str, Any]] = [("=", new) for new in replacements(value, rotation)]
    if isinstance(value, dict):
        out.extend(("+", extra) for extra in EXTRA_MEMBERS if extra[0] not in value)
    return out


class Variant(NamedTuple):
    label: str  # what was done, for a failure message
    document: Any
    path: Path  # where


def inside_event(path: Path) -> bool:
    """Whether ``path`` is strictly inside the one event of a shell."""
    return any(
        len(path) > len(where) + 1 and path[: len(where) + 1] == (*where, 0)
        for where in EVENT_LIST_PATHS
    )


def variants(documents: list[Any], *, thorough: bool) -> Iterator[Variant]:
    """Corruptions of valid documents on focused copies
    (:func:`focus`). Each position (:func:`_position`) is removed once and changed: with
    ``thorough``, in every way :func:`replacements` knows at every fine position; otherwise
    in ``QUICK_CHANGES`` of those ways, taken in turn, at every coarse position."""
    seen: set[tuple[Any, ...]] = set()
    rotation = _Rotation()
    for document in documents:
        for shell, where in shells(document):
            for path in where:
                position = _position(shell, path, fine=thorough)
                if position in seen:
                    continue
                seen.add(position)
                focused, at = focus(shell, path)
                value = get(focused, at)
                if at:
                    yield Variant(f"remove {at}", remove(focused, at), at)
                changes = _changes(value, rotation)
                if not thorough:
                    changes = rotation.take("changes", tuple(changes), QUICK_CHANGES)
                for kind, change in changes:
                    if kind == "=":
                        yield Variant(f"{at} = {change!r}", replace(focused, at, change), at)
                    else:
                        yield Variant(f"{at} + {change[0]}", insert(focused, at, *change), at)
