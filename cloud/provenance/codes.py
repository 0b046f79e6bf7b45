"""Signed trace codes: a GS1 Digital Link URI carrying the brand's Ed25519 signature.

``https://{resolver}/01/{GTIN-14}/10/{lot}/21/{serial}?k={kid}&s={sig}``

* ``kid``: 8 hex digits of SHA-256 of the brand's raw public key (:func:`key_id`), so keys
  can rotate and a resolver picks the right one;
* ``sig``: Ed25519 over ``CONTEXT + canonical URI`` (the URI without query, rebuilt from
  its parsed parts, so percent-encoding variants verify alike), base64url without padding
  (86 characters). The context string keeps these signatures apart from anything else the
  brand key might sign.

Verification is offline (only the keyring) and never raises on untrusted input: it returns a
:class:`CodeCheck` whose status says what was wrong.
"""

from __future__ import annotations

import base64
import binascii
import enum
import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.provenance.errors import CodeVerificationError
from cloud.provenance.keys import Keyring, key_id
from wire.digital_link import DigitalLink
from wire.errors import IdentifierError

__all__ = [
    "CONTEXT",
    "CodeCheck",
    "CodeStatus",
    "SignedCode",
    "check_code",
    "check_signed",
    "sign_link",
]

_logger = logging.getLogger(__name__)

CONTEXT = b"channeltrace/trace-code/v1\n"
_KID = re.compile(r"[0-9a-f]{8}")
_SIG = re.compile(r"[A-Za-z0-9_-]{86}")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _message(link: DigitalLink) -> bytes:
    return CONTEXT + link.uri.encode("ascii")


@dataclass(frozen=True, slots=True)
class SignedCode:
    """A Digital Link with a key id and a 64-byte Ed25519 signature (not yet verified)."""

    link: DigitalLink
    kid: str
    signature: bytes

    def __post_init__(self) -> None:
        if self.link.serial is None:
            raise IdentifierError("a trace code identifies one unit: the link needs a serial")
        if not _KID.fullmatch(self.kid):
            raise IdentifierError(f"key id must be 8 lower-case hex digits; got {self.kid!r}")
        if len(self.signature) != 64:
            raise IdentifierError(f"Ed25519 signature is 64 bytes; got {len(self.signature)}")

    @property
    def uri(self) -> str:
        return f"{self.link.uri}?k={self.kid}&s={_b64url(self.signature)}"

    @classmethod
    def parse(cls, text: str) -> SignedCode:
        """Parse a scanned code; raises :class:`CodeVerificationError` saying what is wrong."""
        try:
            link = DigitalLink.parse(text)
        except IdentifierError as exc:
            raise CodeVerificationError(f"not a GS1 Digital Link trace code: {exc}") from None
        params: dict[str, str] = {}
        for name, value in parse_qsl(urlsplit(text).query, keep_blank_values=True):
            if name in ("k", "s") and name in params:
                raise CodeVerificationError(f"parameter {name!r} appears more than once")
            params[name] = value
        kid, sig = params.get("k"), params.get("s")
        if kid is None or sig is None:
            raise CodeVerificationError("code has no signature (parameters k and s expected)")
        if not _KID.fullmatch(kid):
            raise CodeVerificationError(f"key id must be 8 lower-case hex digits; got {kid!r}")
        if not _SIG.fullmatch(sig):
            raise CodeVerificationError(
                f"signature must be 86 base64url characters; got {len(sig)} characters"
            )
        try:
            raw = base64.urlsafe_b64decode(sig + "==")
        except binascii.Error:
            raise CodeVerificationError("signature is not base64url") from None
        if _b64url(raw) != sig:
            raise CodeVerificationError("signature is not in canonical base64url form")
        try:
            return cls(link, kid, raw)
        except IdentifierError as exc:
            raise CodeVerificationError(str(exc)) from None

    def __str__(self) -> str:
        return self.uri


def sign_link(link: DigitalLink, key: Ed25519PrivateKey) -> SignedCode:
    """Sign one unit's Digital Link with the brand key."""
    return SignedCode(link, key_id(key.public_key()), key.sign(_message(link)))


class CodeStatus(enum.StrEnum):
    VALID = "valid"
    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    REVOKED_KEY = "revoked_key"
    BAD_SIGNATURE = "bad_signature"


@dataclass(frozen=True, slots=True)
class CodeCheck:
    """The outcome of checking a scanned code against the brand keyring."""

    status: CodeStatus
    reason: str
    link: DigitalLink | None = None
    kid: str | None = None

    @property
    def valid(self) -> bool:
        return self.status is CodeStatus.VALID


def check_code(text: str, keyring: Keyring) -> CodeCheck:
    """Verify a scanned code offline. A never-issued or altered code is not ``VALID``."""
    try:
        code = SignedCode.parse(text)
    except CodeVerificationError as exc:
        try:
            link: DigitalLink | None = DigitalLink.parse(text)
        except IdentifierError:
            link = None
        return CodeCheck(CodeStatus.MALFORMED, str(exc), link)
    return check_signed(code, keyring)


def check_signed(code: SignedCode, keyring: Keyring) -> CodeCheck:
    """:func:`check_code` of a code already parsed."""
    entry = keyring.get(code.kid)
    if entry is None:
        return CodeCheck(
            CodeStatus.UNKNOWN_KEY, f"no brand key {code.kid} in keyring", code.link, code.kid
        )
    if entry.revoked is not None:
        reason = f"brand key {code.kid} was revoked at {entry.revoked}"
        return CodeCheck(CodeStatus.REVOKED_KEY, reason, code.link, code.kid)
    if not entry.verify(code.signature, _message(code.link)):
        reason = f"signature does not match {code.link.uri} under key {code.kid}"
        return CodeCheck(CodeStatus.BAD_SIGNATURE, reason, code.link, code.kid)
    return CodeCheck(CodeStatus.VALID, f"signed by brand key {code.kid}", code.link, code.kid)
