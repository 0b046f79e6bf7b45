"""Conformance of the project's EPCIS 2.0 validation with GS1's official JSON schema.

The oracle is the official schema (``../shared/standards/epcis/``, absent from a user's
clone: then these tests skip) run by jsonschema's Draft7Validator with the ``date-time``
(rfc3339-validator) and ``uri`` (rfc3987) format checkers. The project must give the same
accept/reject verdict on every official example, on systematic corruptions of them and of
our own seeds (``_mutations.variants``), and on documents mutated at random by Hypothesis.

``CT_EPCIS_CONFORMANCE=full`` runs the thorough corpus (every change at every position,
about ten times more) and ten times more generated documents; the default keeps the suite
quick.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cloud.provenance.epcis import document_issues, event_issues
from cloud.provenance.epcis_terms import EVENT_TYPES

from . import _mutations as m
from . import _seeds as own
from .conftest import EXAMPLES, MISSING, SCHEMA, example_params, load_example

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (the oracle) is a dev extra")

FULL = os.environ.get("CT_EPCIS_CONFORMANCE", "") == "full"
GENERATED = 5_000 if FULL else 400


class Oracle(NamedTuple):
    document: Any  # jsonschema Draft7Validator of the whole schema
    event: Any  # ... of #/definitions/EPCIS-Document-Event (an eventList item)

    def accepts(self, variant: m.Variant) -> bool:
        if m.inside_event(variant.path):
            # The shell around the event is valid and eventList constrains nothing but its
            # items (checked below), so the verdict is the event's: 3x cheaper to compute.
            where = m.event_list_path(variant.document)
            assert where is not None
            return bool(self.event.is_valid(m.get(variant.document, where)[0]))
        return bool(self.document.is_valid(variant.document))


@functools.cache
def _oracle() -> Oracle:
    if not SCHEMA.is_file():
        pytest.skip(MISSING)
    validator = jsonschema.Draft7Validator
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    checker = validator.FORMAT_CHECKER
    for name, bad in (("date-time", "2024-13-45T99:00:00Z"), ("uri", "not a uri")):
        if checker.conforms(bad, name):
            pytest.fail(f"the {name} format checker is missing: install the dev extra")
    assert schema["definitions"]["eventList"] == {
        "type": "array",
        "items": {"$ref": "#/definitions/EPCIS-Document-Event"},
    }
    event = {"$ref": "#/definitions/EPCIS-Document-Event", "definitions": schema["definitions"]}
    return Oracle(
        validator(schema, format_checker=checker), validator(event, format_checker=checker)
    )


@pytest.fixture(scope="module")
def oracle() -> Oracle:
    return _oracle()


def _seeds() -> list[Any]:
    """Valid documents to corrupt: the official examples, ours, and their events standalone."""
    documents: list[Any] = [load_example(p) for p in EXAMPLES] + own.documents()
    return documents + [e for d in documents for e in own.standalone(d)]


@pytest.fixture(scope="module")
def seeds(oracle: Oracle) -> list[Any]:
    found = _seeds()
    assert len(found) > 47 + 2
    rejected = [i for i, d in enumerate(found) if not oracle.document.is_valid(d)]
    assert rejected == [], "a seed the official schema refuses"
    return found


def test_the_47_official_examples_are_there() -> None:
    if not EXAMPLES:
        pytest.skip(MISSING)
    assert len(EXAMPLES) == 47


@pytest.mark.parametrize("path", example_params())
def test_official_example_is_accepted(path: Path, oracle: Oracle) -> None:
    document = load_example(path)
    assert oracle.document.is_valid(document)
    assert document_issues(document) == ()


def test_seeds_and_standalone_events_are_accepted(seeds: list[Any]) -> None:
    for seed in seeds:
        assert document_issues(seed) == (), json.dumps(seed)[:300]


def test_a_standalone_event_needs_its_context(seeds: list[Any], oracle: Oracle) -> None:
    events = [s for s in seeds if s.get("type") not in ("EPCISDocument", "EPCISQueryDocument")]
    assert len(events) > 60
    for standalone in events:
        bare = {k: v for k, v in standalone.items() if k != "@context"}
        assert not oracle.document.is_valid(bare)
        assert document_issues(bare) == (("", "missing required member '@context'"),)
        assert oracle.event.is_valid(bare)
        assert event_issues(bare) == ()


def _compare(oracle: Oracle, variants: list[m.Variant]) -> tuple[int, int, list[str]]:
    accepted, disagreements = 0, []
    for variant in variants:
        official = oracle.accepts(variant)
        ours = document_issues(variant.document)
        accepted += official
        if official != (not ours):
            verdict = "accepts" if official else "refuses"
            disagreements.append(f"{variant.label}: the schema {verdict}, we say {ours[:2]}")
    return accepted, len(variants) - accepted, disagreements


def test_corrupted_documents_get_the_official_verdict(oracle: Oracle, seeds: list[Any]) -> None:
    if not FULL:  # standalone events: see the @context test and the generated documents
        seeds = [s for s in seeds if s["type"] in ("EPCISDocument", "EPCISQueryDocument")]
    variants = list(m.variants(seeds, thorough=FULL))
    accepted, refused, disagreements = _compare(oracle, variants)
    assert disagreements == []
    assert accepted > 500
    assert refused > 1_000  # most corruptions are errors; some are harmless (extensions)


def _json_values() -> st.SearchStrategy[Any]:
    interesting = sorted(
        {*m.BAD_DATES, *m.BAD_URIS, *m.CBV_FORMS, *m.OFFSETS, *m.OTHER_STRINGS, *EVENT_TYPES}
        | {"EPCISDocument", "EPCISQueryDocument", own.UNIT, own.LOT}
    )
    strings = st.sampled_from(interesting) | st.text(max_size=12)
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | strings
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(_member_names(), inner, max_size=3)
        ),
        max_leaves=6,
    )


def _member_names() -> st.SearchStrategy[str]:
    schema_names = sorted(
        {"@context", "type", "eventID", "eventTime", "epcList", "quantityList", "action", "ilmd"}
        | {"set", "unset", "sensorReport", "value", "epcClass", "bizTransaction", "source"}
        | {"example:x", "cbvmda:lot", "@id", "foo", "urn:x"}
    )
    return st.sampled_from(schema_names) | st.text(max_size=8)


def _edit(value: Any, draw: st.DrawFn) -> Any:
    """A near miss of ``value``: retyped, or a string with one character changed."""
    if isinstance(value, str) and value:
        at = draw(st.integers(0, len(value) - 1))
        char = draw(st.sampled_from(" :/#%[]@Zz+-.\n0Aé") | st.characters())
        return draw(
            st.sampled_from([value[:at] + value[at + 1 :], value[:at] + char + value[at:]])
        )
    if isinstance(value, bool | int | float):
        return draw(st.sampled_from([str(value), [value], not value]))
    if isinstance(value, list):
        return draw(st.sampled_from([value[1:], [*value, *value[:1]], {"0": value}]))
    if isinstance(value, dict):
        return list(value.values())
    return draw(_json_values())


@st.composite
def mutated(draw: st.DrawFn, shells: list[Any]) -> m.Variant:
    document = draw(st.sampled_from(shells))
    labels = []
    changes = draw(st.integers(1, 3))
    for _ in range(changes):
        path = draw(st.sampled_from(list(m.paths(document))))
        value = m.get(document, path)
        how = draw(st.sampled_from(["remove", "replace", "edit", "insert"]))
        if how == "remove" and path:
            document = m.remove(document, path)
        elif how == "insert" and isinstance(value, dict):
            member = draw(_member_names())
            document = m.insert(document, path, member, draw(_json_values()))
        elif how == "edit":
            document = m.replace(document, path, _edit(value, draw))
        else:
            document = m.replace(document, path, draw(_json_values()))
        labels.append(f"{how} {path}")
    # After one change the rest of the shell is still valid; after several, judge it all.
    return m.Variant("; ".join(labels), document, path if changes == 1 else ())


@functools.cache
def _shells() -> list[Any]:
    return [shell for seed in _seeds() for shell, _ in m.shells(seed)]


@settings(
    max_examples=GENERATED,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_generated_documents_get_the_official_verdict(data: st.DataObject) -> None:
    oracle = _oracle()
    variant = data.draw(mutated(_shells()))
    official = oracle.accepts(variant)
    ours = document_issues(variant.document)
    event(f"the official schema {'accepts' if official else 'refuses'}")
    assert official == (not ours), (variant.label, json.dumps(variant.document)[:2000], ours[:3])
