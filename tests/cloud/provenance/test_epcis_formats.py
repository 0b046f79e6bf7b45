"""The URI and date-time checks against the checkers the official schema is run with."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cloud.provenance.epcis_formats import all_unique, is_date_time, is_uri

rfc3987 = pytest.importorskip("rfc3987", reason="rfc3987 (the oracle's uri checker) is dev-only")
rfc3339 = pytest.importorskip("rfc3339_validator", reason="the oracle's date-time checker")


def _oracle_uri(value: str) -> bool:
    try:
        rfc3987.parse(value, rule="URI")
    except ValueError:
        return False
    return True


def _oracle_date_time(value: str) -> bool:
    return bool(rfc3339.validate_rfc3339(value.upper()))  # as jsonschema calls it


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("urn:epc:id:sgtin:0614141.107346.2017", True),
        ("https://id.gs1.org/01/09506000134352/21/1?17=250101#x", True),
        ("http://[2001:db8::7]:8080/a", True),
        ("http://[v7.a:b]/", True),
        ("http://[V7.a:b]/", False),  # rfc3987 wants a lower-case v
        ("example:field", True),
        ("urn:x\n", True),  # $ before a final newline
        ("urn:x\n\n", False),
        ("http://exa mple", False),
        ("no-scheme", False),
        ("1http://x", False),
        ("http://host:port/", False),
        ("http://a/%zz", False),
        ("urn:é", False),  # an IRI, not a URI
        ("", False),
    ],
)
def test_uri(value: str, valid: bool) -> None:
    assert is_uri(value) is valid
    assert _oracle_uri(value) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2005-04-03T20:33:31.116-06:00", True),
        ("2005-04-03t20:33:31z", True),
        ("2000-02-29T00:00:00Z", True),
        ("1900-02-29T00:00:00Z", False),
        ("0000-01-01T00:00:00Z", False),
        ("2005-13-03T20:33:31Z", False),
        ("2005-04-03T20:33:60Z", False),  # no leap seconds
        ("2005-04-03T20:33:31", False),
        ("2005-04-03 20:33:31Z", False),
        ("2005-04-03T20:33:31Z\n", True),
        ("\u0662005-04-03T20:33:31Z", False),  # ASCII digits only
    ],
)
def test_date_time(value: str, valid: bool) -> None:
    assert is_date_time(value) is valid
    assert _oracle_date_time(value) is valid


_URI_ALPHABET = "aZ09+-.:/?#[]@!$&'()*,;=%~_ vV\n\u00e9fF:"
uri_like = st.text(alphabet=_URI_ALPHABET, max_size=30) | st.builds(
    "{}:{}".format,
    st.sampled_from(["urn", "http", "x1", "a+b", "1a"]),
    st.text(alphabet=_URI_ALPHABET, max_size=25),
)


@settings(max_examples=3000, deadline=None)
@given(uri_like)
@example("http://[::1]:/")
@example("http://u:p@[fe80::1%25]/")
@example("a://[::ffff:1.2.3.4]")
@example("a://[1:2:3:4:5:6:7::]")
@example("a://[1:2:3:4:5:6:7:8:9]")
@example("a:////x")
@example("a://@")
def test_uri_agrees_with_rfc3987(value: str) -> None:
    assert is_uri(value) == _oracle_uri(value)


date_like = st.builds(
    "{:04d}-{:02d}-{:02d}{}{:02d}:{:02d}:{:02d}{}{}".format,
    st.integers(0, 2400),
    st.integers(0, 13),
    st.integers(0, 32),
    st.sampled_from(["T", "t", " ", "TT"]),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["", ".5", ".", ".123456789"]),
    st.sampled_from(["Z", "z", "+14:00", "-23:59", "+24:00", "", "+0100", "Z\n"]),
) | st.text(alphabet="0123456789-T:Z+.z ", max_size=26)


@settings(max_examples=3000, deadline=None)
@given(date_like)
def test_date_time_agrees_with_rfc3339_validator(value: str) -> None:
    assert is_date_time(value) == _oracle_date_time(value)


def test_unique_items_as_json_values() -> None:
    assert all_unique(["a", "b", {"a": 1}, {"a": True}])
    assert not all_unique([{"a": 1}, {"a": 1.0}])  # 1 and 1.0 are the same JSON number
    assert all_unique([1, True, 0, False, None])  # true is not 1
    assert not all_unique([[1, {"b": [2]}], [1, {"b": [2]}]])
