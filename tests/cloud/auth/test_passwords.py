"""Password hashes, tokens and the rate limiter: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pydantic import SecretStr

from cloud.auth.errors import AuthConfigError
from cloud.auth.passwords import hash_password, verify_password
from cloud.auth.principal import Role
from cloud.auth.ratelimit import RateLimiter
from cloud.auth.tokens import DEV_TOKEN_SECRET, decode_token, issue_token, token_secret
from cloud.auth.users import User
from cloud.settings import Settings

USER = User(7, "acme", "li.wei", Role.DISTRIBUTOR, "dist-east", datetime.now(UTC), None)


def test_password_hash_verifies_only_the_right_password() -> None:
    encoded = hash_password("correct horse")
    assert encoded.startswith("$argon2id$")
    assert verify_password(encoded, "correct horse")
    assert not verify_password(encoded, "correct horsf")
    assert not verify_password(None, "correct horse")
    assert not verify_password("not a hash", "x")
    with pytest.raises(ValueError, match="empty"):
        hash_password("")


def test_token_round_trip_expiry_and_forgery() -> None:
    settings = Settings(auth_token_ttl_seconds=60)
    token = issue_token(settings, USER)
    assert decode_token(settings, token) == 7
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["role"], claims["tenant"], claims["distributor"]) == (
        "distributor", "acme", "dist-east",
    )  # fmt: skip
    old = issue_token(settings, USER, now=datetime.now(UTC) - timedelta(seconds=61))
    assert decode_token(settings, old) is None
    other = Settings(auth_token_secret=SecretStr("x" * 40))
    assert decode_token(other, token) is None  # signed with another secret
    forged = jwt.encode({**claims, "uid": 1}, "g" * 32, algorithm="HS256")
    assert decode_token(settings, forged) is None
    unsigned = jwt.encode({**claims, "uid": 1}, None, algorithm="none")
    assert decode_token(settings, unsigned) is None


def test_token_secret_rules_outside_development() -> None:
    assert token_secret(Settings(environment="development")) == DEV_TOKEN_SECRET.encode()
    with pytest.raises(AuthConfigError, match="required in production"):
        token_secret(Settings(environment="production"))
    with pytest.raises(AuthConfigError, match="refused"):
        token_secret(
            Settings(environment="staging", auth_token_secret=SecretStr(DEV_TOKEN_SECRET))
        )
    with pytest.raises(AuthConfigError, match="at least 32"):
        token_secret(Settings(environment="production", auth_token_secret=SecretStr("s")))
    good = SecretStr("k" * 48)
    assert token_secret(Settings(environment="production", auth_token_secret=good))


def test_rate_limiter_counts_per_client_and_says_when_to_retry() -> None:
    limiter = RateLimiter("3/minute")
    assert [limiter.hit("10.0.0.1").allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.hit("10.0.0.1")
    assert not refused.allowed
    assert 1 <= refused.retry_after_s <= 60
    assert limiter.hit("10.0.0.2").allowed  # another client has its own budget


def test_the_app_refuses_to_start_without_a_token_secret_in_production() -> None:
    from cloud.app import create_app

    with pytest.raises(AuthConfigError, match="CT_AUTH_TOKEN_SECRET is required"):
        create_app(Settings(environment="production"))
