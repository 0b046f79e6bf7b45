"""Ed25519 signing and verification for the agent, without loading `cryptography`.

`cryptography` brings its own statically linked OpenSSL and Rust extension: about 8 MB of
resident memory on a gateway whose whole budget is 40 MB. The agent already has the
system's OpenSSL loaded, because Python's ``hashlib`` (imported by paho) links it, so this
module calls that library's one-shot ``EVP_DigestSign``/``EVP_DigestVerify`` through
ctypes. Ed25519 is deterministic: the signatures are byte for byte those `cryptography`
produces (tests/edge/test_ed25519.py checks it). Where that library cannot be used
(no OpenSSL ≥ 1.1.1 in the process), `cryptography` is used instead, so behaviour never
depends on which backend was found.

Private keys are read from the unencrypted PKCS#8 PEM that `wire.keys.write_private_key`
writes; any other PEM goes through `wire.keys.load_private_key` and its error messages.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from wire.envelope import Signer
from wire.keys import public_key_bytes

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = ["PublicKey", "Signer", "SigningKey", "backend", "load_signing_key", "parse_verify_key"]

_logger = logging.getLogger(__name__)

_NID_ED25519 = 1087  # EVP_PKEY_ED25519 in OpenSSL 1.1.1 and 3.x
_SIGNATURE_SIZE = 64
# DER of an Ed25519 OneAsymmetricKey v1 (RFC 8410): SEQUENCE { INTEGER 0,
# AlgorithmIdentifier { 1.3.101.112 }, OCTET STRING { OCTET STRING (32 bytes) } }.
_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
_PEM_BEGIN = b"-----BEGIN PRIVATE KEY-----"
_PEM_END = b"-----END PRIVATE KEY-----"


class _LibCrypto:
    """The process's OpenSSL libcrypto with the few EVP functions Ed25519 needs."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        vp, sz, cp = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p
        self.new_private = _fn(lib.EVP_PKEY_new_raw_private_key, vp, [ctypes.c_int, vp, cp, sz])
        self.new_public = _fn(lib.EVP_PKEY_new_raw_public_key, vp, [ctypes.c_int, vp, cp, sz])
        self.free_key = _fn(lib.EVP_PKEY_free, None, [vp])
        self.new_ctx = _fn(lib.EVP_MD_CTX_new, vp, [])
        self.free_ctx = _fn(lib.EVP_MD_CTX_free, None, [vp])
        self.sign_init = _fn(lib.EVP_DigestSignInit, ctypes.c_int, [vp, vp, vp, vp, vp])
        self.sign = _fn(lib.EVP_DigestSign, ctypes.c_int, [vp, cp, ctypes.POINTER(sz), cp, sz])
        self.verify_init = _fn(lib.EVP_DigestVerifyInit, ctypes.c_int, [vp, vp, vp, vp, vp])
        self.verify = _fn(lib.EVP_DigestVerify, ctypes.c_int, [vp, cp, sz, cp, sz])
        self.clear_errors = _fn(lib.ERR_clear_error, None, [])


def _fn(
    fn: ctypes._NamedFuncPointer, restype: type | None, argtypes: list[type]
) -> ctypes._NamedFuncPointer:
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


def _find_libcrypto() -> _LibCrypto | None:
    """The libcrypto Python's hashlib already loaded (no second copy), else a system one."""
    candidates: list[str] = []
    try:
        import _hashlib  # noqa: F401  - makes sure the library is mapped

        with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
            for line in maps:
                path = line.rsplit(" ", 1)[-1].strip()
                if "/libcrypto.so" in path and path not in candidates:
                    candidates.append(path)
    except (ImportError, OSError):
        pass
    candidates += ["libcrypto.so.3", "libcrypto.so.1.1"]
    for name in candidates:
        try:
            return _LibCrypto(ctypes.CDLL(name))
        except (OSError, AttributeError):  # missing, or too old for raw Ed25519 keys
            continue
    return None


_lib: _LibCrypto | None = None
_lib_checked = False


def _libcrypto() -> _LibCrypto | None:
    global _lib, _lib_checked  # noqa: PLW0603 - one lookup per process
    if not _lib_checked:
        _lib_checked = True
        _lib = _find_libcrypto()
        if _lib is None:
            _logger.info("no usable system libcrypto; signing with the cryptography package")
    return _lib


def backend() -> str:
    """``"libcrypto"`` or ``"cryptography"``: which implementation keys use here."""
    return "libcrypto" if _libcrypto() is not None else "cryptography"


class _OsslKey:
    """An EVP_PKEY, freed with the object."""

    def __init__(self, lib: _LibCrypto, raw: bytes, *, private: bool) -> None:
        self._lib = lib
        make = lib.new_private if private else lib.new_public
        self._pkey = make(_NID_ED25519, None, raw, len(raw))
        if not self._pkey:
            lib.clear_errors()
            raise ValueError("OpenSSL refused the Ed25519 key")

    def __del__(self) -> None:
        pkey, self._pkey = getattr(self, "_pkey", None), None
        if pkey:
            self._lib.free_key(pkey)

    def sign(self, data: bytes) -> bytes:
        lib = self._lib
        ctx = lib.new_ctx()
        if not ctx:
            raise MemoryError("EVP_MD_CTX_new failed")
        try:
            signature = ctypes.create_string_buffer(_SIGNATURE_SIZE)
            size = ctypes.c_size_t(_SIGNATURE_SIZE)
            if (
                lib.sign_init(ctx, None, None, None, self._pkey) != 1
                or lib.sign(ctx, signature, ctypes.byref(size), data, len(data)) != 1
                or size.value != _SIGNATURE_SIZE
            ):
                lib.clear_errors()
                raise RuntimeError("OpenSSL failed to sign with Ed25519")
            return signature.raw
        finally:
            lib.free_ctx(ctx)

    def verify(self, signature: bytes, data: bytes) -> bool:
        if len(signature) != _SIGNATURE_SIZE:
            return False
        lib = self._lib
        ctx = lib.new_ctx()
        if not ctx:
            raise MemoryError("EVP_MD_CTX_new failed")
        try:
            if lib.verify_init(ctx, None, None, None, self._pkey) != 1:
                lib.clear_errors()
                raise RuntimeError("OpenSSL failed to set up Ed25519 verification")
            ok = bool(lib.verify(ctx, signature, len(signature), data, len(data)) == 1)
            lib.clear_errors()  # a bad signature leaves an entry on OpenSSL's error queue
            return ok
        finally:
            lib.free_ctx(ctx)


class SigningKey:
    """An Ed25519 private key that signs (`Signer`)."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError(f"an Ed25519 private key is 32 bytes; got {len(seed)}")
        lib = _libcrypto()
        self._impl: _OsslKey | Ed25519PrivateKey
        if lib is not None:
            self._impl = _OsslKey(lib, seed, private=True)
        else:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            self._impl = Ed25519PrivateKey.from_private_bytes(seed)

    def sign(self, data: bytes) -> bytes:
        return self._impl.sign(data)


class PublicKey:
    """An Ed25519 public key that checks signatures."""

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise ValueError(f"an Ed25519 public key is 32 bytes; got {len(raw)}")
        self.raw = raw
        lib = _libcrypto()
        self._impl: _OsslKey | Ed25519PublicKey
        if lib is not None:
            self._impl = _OsslKey(lib, raw, private=False)
        else:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            self._impl = Ed25519PublicKey.from_public_bytes(raw)

    @classmethod
    def of(cls, key: PublicKey | Ed25519PublicKey) -> PublicKey:
        """``key`` as a `PublicKey` (a `cryptography` key is converted by its raw bytes)."""
        return key if isinstance(key, PublicKey) else cls(key.public_bytes_raw())

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``data`` (never raises for a
        wrong signature)."""
        if isinstance(self._impl, _OsslKey):
            return self._impl.verify(signature, data)
        from cryptography.exceptions import InvalidSignature

        try:
            self._impl.verify(signature, data)
        except InvalidSignature:
            return False
        return True


def parse_verify_key(text: str) -> PublicKey:
    """``ed25519:<base64>`` as a `PublicKey`; `wire.WireError` (the same messages as
    `wire.keys.parse_public_key`) when malformed."""
    return PublicKey(public_key_bytes(text))


def load_signing_key(path: Path) -> Signer:
    """The device key in ``path``. The PKCS#8 PEM that provisioning writes is read here;
    anything else is left to `wire.keys.load_private_key` (and `cryptography`)."""
    seed = _pkcs8_seed(path)
    if seed is not None:
        return SigningKey(seed)
    from wire.keys import load_private_key

    return load_private_key(path)


def _pkcs8_seed(path: Path) -> bytes | None:
    try:
        text = path.read_bytes().strip()
    except OSError:
        return None  # load_private_key reports it
    if not (text.startswith(_PEM_BEGIN) and text.endswith(_PEM_END)):
        return None
    body = text[len(_PEM_BEGIN) : -len(_PEM_END)]
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except binascii.Error:
        return None
    if len(der) != len(_PKCS8_PREFIX) + 32 or not der.startswith(_PKCS8_PREFIX):
        return None
    return der[len(_PKCS8_PREFIX) :]
