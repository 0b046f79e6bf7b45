"""C2SP signed notes, checked against golang.org/x/mod/sumdb/note's own test data.

Known values come from ``sumdb/note/note_test.go`` in golang/mod (TestNewVerifier,
TestNewSigner, TestSign, TestOpen): the PeterNeumann key pair, its key id
``c74f20a3``, and the exact signed note (Ed25519 is deterministic, so our
signature must be byte-identical).
"""

from __future__ import annotations

import pytest

from ledger import LogKey, NoteError, VerifierKey, key_id, open_note, sign_note

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXg"
    "KvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01o"
    "OTGwnWLox33WWd1RvMc+QQ=\n"
)


def test_known_key_id_and_key_strings() -> None:
    signer = LogKey.parse(PETER_SKEY)
    verifier = VerifierKey.parse(PETER_VKEY)
    assert signer.verifier() == verifier
    assert verifier.key_id.hex() == "c74f20a3"
    assert key_id("PeterNeumann", verifier.public_key) == bytes.fromhex("c74f20a3")
    assert VerifierKey.parse(ENOCH_VKEY).key_id.hex() == "af0cfe78"
    assert signer.to_skey() == PETER_SKEY
    assert verifier.to_vkey() == PETER_VKEY


def test_sign_matches_go_byte_for_byte() -> None:
    assert sign_note(TEXT, LogKey.parse(PETER_SKEY)) == TEXT + "\n" + PETER_SIG


def test_open_ignores_unknown_keys_and_verifies_known_ones() -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [VerifierKey.parse(PETER_VKEY)]) == TEXT
    assert open_note(note.encode(), [VerifierKey.parse(ENOCH_VKEY)]) == TEXT
    with pytest.raises(NoteError, match="no signature from a known key"):
        open_note(note, [])


def test_invalid_signature_from_known_key_rejects_note() -> None:
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteError, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        open_note(TEXT + "\n" + PETER_SIG + bad, [VerifierKey.parse(PETER_VKEY)])


@pytest.mark.parametrize(
    "note",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + "\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2p"
        "ZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * 101,
        TEXT + "\n" + PETER_SIG.replace("\u2014", "--"),
        TEXT + "\n" + PETER_SIG.replace("AM=", "AM"),
    ],
    ids=[
        "no-signatures",
        "blank-only",
        "no-final-newline",
        "control-char",
        "bad-name",
        "unexpected-line",
        "too-many-signatures",
        "not-em-dash",
        "bad-base64",
    ],
)
def test_malformed_notes_are_rejected(note: str) -> None:
    with pytest.raises(NoteError):
        open_note(note, [VerifierKey.parse(PETER_VKEY)])


def test_non_utf8_note_rejected() -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        open_note(b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), [VerifierKey.parse(PETER_VKEY)])


def test_vkey_manglings_rejected() -> None:
    # Same idea as Go's TestNewVerifier: every truncation and byte bump must fail.
    for i in range(len(PETER_VKEY)):
        for bad in (PETER_VKEY[:i], PETER_VKEY[i + 1 :], _bump(PETER_VKEY, i)):
            with pytest.raises(NoteError):
                VerifierKey.parse(bad)


def test_skey_manglings_rejected() -> None:
    for i in range(len(PETER_SKEY)):
        for bad in (PETER_SKEY[:i], PETER_SKEY[i + 1 :], _bump(PETER_SKEY, i)):
            with pytest.raises(NoteError):
                LogKey.parse(bad)


def _bump(s: str, i: int) -> str:
    return s[:i] + chr(ord(s[i]) + 1) + s[i + 1 :]


def test_generated_key_round_trips() -> None:
    key = LogKey.generate("example.com/log")
    assert LogKey.parse(key.to_skey()) == key
    verifier = key.verifier()
    assert VerifierKey.parse(verifier.to_vkey()) == verifier
    assert "seed" not in repr(key)
    assert open_note(sign_note("hello\n", key), [verifier]) == "hello\n"


@pytest.mark.parametrize("name", ["", "a+b", "has space", "tab\there", "nbsp\u00a0x"])
def test_bad_key_names_rejected(name: str) -> None:
    with pytest.raises(NoteError, match="key name"):
        LogKey(name, bytes(32))
