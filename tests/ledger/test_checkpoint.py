"""C2SP tlog-checkpoint signing and opening."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import (
    Checkpoint,
    CheckpointError,
    InMemoryNodeStore,
    LedgerError,
    LogKey,
    MerkleTree,
    VerifierKey,
    leaf_hash,
    open_checkpoint,
    sign_checkpoint,
)

ORIGIN = "channeltrace.example/log"
# The body of the example in the C2SP tlog-checkpoint spec (c2sp.org/tlog-checkpoint).
SPEC_BODY = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


@pytest.fixture(scope="module")
def key() -> LogKey:
    return LogKey.generate(ORIGIN)


@pytest.fixture(scope="module")
def checkpoint() -> Checkpoint:
    tree = MerkleTree(InMemoryNodeStore())
    tree.append_many(leaf_hash(bytes([i])) for i in range(7))
    return Checkpoint(ORIGIN, tree.size, tree.root())


def test_spec_example_body_round_trips() -> None:
    cp = Checkpoint.from_body(SPEC_BODY)
    assert (cp.origin, cp.size) == ("example.com/behind-the-sofa", 20852163)
    assert cp.body() == SPEC_BODY


def test_note_layout(checkpoint: Checkpoint, key: LogKey) -> None:
    note = sign_checkpoint(checkpoint, key)
    body, sig_line = note.split("\n\n")
    root = base64.b64encode(checkpoint.root).decode()
    assert body + "\n" == f"{ORIGIN}\n7\n{root}\n"
    assert sig_line.startswith(f"\u2014 {ORIGIN} ")
    assert sig_line.endswith("\n")
    raw = base64.b64decode(sig_line.split(" ")[2])
    assert raw[:4] == key.verifier().key_id
    assert len(raw) == 4 + 64


def test_round_trip(checkpoint: Checkpoint, key: LogKey) -> None:
    note = sign_checkpoint(checkpoint, key)
    assert open_checkpoint(note, key.verifier()) == checkpoint
    assert open_checkpoint(note.encode(), key.verifier(), origin=ORIGIN) == checkpoint


def test_round_trip_with_vkey_string(checkpoint: Checkpoint, key: LogKey) -> None:
    shared = key.verifier().to_vkey()
    assert (
        open_checkpoint(sign_checkpoint(checkpoint, key), VerifierKey.parse(shared)) == checkpoint
    )


def test_extension_lines_are_kept(key: LogKey) -> None:
    cp = Checkpoint(ORIGIN, 3, bytes(32), ("ext one", "ext two"))
    assert open_checkpoint(sign_checkpoint(cp, key), key.verifier()) == cp


def test_empty_tree_checkpoint(key: LogKey) -> None:
    from ledger import EMPTY_ROOT

    cp = Checkpoint(ORIGIN, 0, EMPTY_ROOT)
    assert b"\n0\n" in cp.body()
    assert open_checkpoint(sign_checkpoint(cp, key), key.verifier()) == cp


def test_tampered_body_rejected(checkpoint: Checkpoint, key: LogKey) -> None:
    note = sign_checkpoint(checkpoint, key)
    with pytest.raises(CheckpointError, match="invalid signature"):
        open_checkpoint(note.replace("\n7\n", "\n8\n", 1), key.verifier())


def test_wrong_key_rejected(checkpoint: Checkpoint, key: LogKey) -> None:
    other = LogKey.generate(ORIGIN)
    with pytest.raises(CheckpointError, match="no signature from a known key"):
        open_checkpoint(sign_checkpoint(checkpoint, key), other.verifier())


def test_wrong_name_rejected(checkpoint: Checkpoint, key: LogKey) -> None:
    renamed = LogKey("someone.else/log", key.seed)
    with pytest.raises(CheckpointError, match="no signature from a known key"):
        open_checkpoint(sign_checkpoint(checkpoint, renamed), key.verifier())


def test_unexpected_origin_rejected(checkpoint: Checkpoint, key: LogKey) -> None:
    with pytest.raises(CheckpointError, match="origin"):
        open_checkpoint(sign_checkpoint(checkpoint, key), key.verifier(), origin="other/log")


def test_extra_signature_from_unknown_key_is_ignored(checkpoint: Checkpoint, key: LogKey) -> None:
    witness = LogKey.generate("witness.example")
    note = sign_checkpoint(checkpoint, key)
    cosigned = note + sign_checkpoint(checkpoint, witness).split("\n\n")[1]
    assert open_checkpoint(cosigned, key.verifier()) == checkpoint


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n[: len(n) // 2],
        lambda n: n[:-1],
        lambda n: n + "garbage\n",
        lambda n: n + "\n",
        lambda n: "x" + n,
        lambda n: n.replace("\n\n", "\n"),
        lambda n: n.replace("\u2014", "-"),
        lambda n: n.replace("\n", "\r\n"),
    ],
    ids=[
        "truncated",
        "no-final-newline",
        "trailing-garbage",
        "trailing-blank",
        "leading-garbage",
        "no-blank-line",
        "hyphen",
        "crlf",
    ],
)
def test_mangled_notes_rejected(mangle: object, checkpoint: Checkpoint, key: LogKey) -> None:
    note = sign_checkpoint(checkpoint, key)
    with pytest.raises(CheckpointError):
        open_checkpoint(mangle(note), key.verifier())  # type: ignore[operator]


@pytest.mark.parametrize(
    "body",
    [
        b"origin\n5\n",  # no root
        b"origin\n05\n" + base64.b64encode(bytes(32)) + b"\n",  # leading zero
        b"origin\n-5\n" + base64.b64encode(bytes(32)) + b"\n",
        b"origin\n+5\n" + base64.b64encode(bytes(32)) + b"\n",
        b"origin\n 5\n" + base64.b64encode(bytes(32)) + b"\n",
        b"origin\n18446744073709551616\n" + base64.b64encode(bytes(32)) + b"\n",
        b"origin\n5\n" + base64.b64encode(bytes(31)) + b"\n",  # short root
        b"origin\n5\n" + base64.b64encode(bytes(32)).rstrip(b"=") + b"\n",  # no padding
        b"origin\n5\n" + base64.urlsafe_b64encode(b"\xff" * 32) + b"\n",  # URL alphabet
        b"\n5\n" + base64.b64encode(bytes(32)) + b"\n",  # empty origin
        b"origin\n5\n" + base64.b64encode(bytes(32)) + b"\n\n",  # empty extension line
        b"origin\n5\n" + base64.b64encode(bytes(32)),  # no final newline
        b"\xffrigin\n5\n" + base64.b64encode(bytes(32)) + b"\n",  # not UTF-8
    ],
)
def test_malformed_bodies_rejected(body: bytes) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint.from_body(body)


def test_signed_malformed_body_rejected(key: LogKey) -> None:
    from ledger import sign_note

    note = sign_note("origin\nnot-a-number\nAAAA\n", key)
    with pytest.raises(CheckpointError, match="tree size"):
        open_checkpoint(note, key.verifier())


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [
        ("", 1, bytes(32)),
        ("a\nb", 1, bytes(32)),
        ("o", -1, bytes(32)),
        ("o", 2**64, bytes(32)),
        ("o", 1, bytes(31)),
    ],
)
def test_invalid_checkpoint_values_rejected(origin: str, size: int, root: bytes) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint(origin, size, root)


def test_checkpoint_error_is_a_ledger_error() -> None:
    assert issubclass(CheckpointError, LedgerError)


_line = st.text(st.characters(blacklist_categories=["Cc", "Cs"]), min_size=1, max_size=30)


@settings(max_examples=50, deadline=None, database=None)
@given(
    origin=_line,
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(_line, max_size=3).map(tuple),
)
def test_body_round_trip(origin: str, size: int, root: bytes, extensions: tuple[str, ...]) -> None:
    cp = Checkpoint(origin, size, root, extensions)
    assert Checkpoint.from_body(cp.body()) == cp
