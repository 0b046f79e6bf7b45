"""Errors of the console; one root so callers can catch the console's own failures."""

from __future__ import annotations

from cloud.errors import CloudError

__all__ = ["BadInput", "ConsoleError", "CsrfError", "LoginRequired"]


class ConsoleError(CloudError):
    """Root of the console's errors."""


class LoginRequired(ConsoleError):
    """No valid session: the page answers with a redirect to the login form."""

    def __init__(self, next_url: str) -> None:
        super().__init__(f"login required to open {next_url}")
        self.next_url = next_url


class CsrfError(ConsoleError):
    """A form POST whose CSRF token does not match the session."""


class BadInput(ConsoleError):
    """Input no page can use (e.g. a NUL character, which PostgreSQL text cannot hold)."""
