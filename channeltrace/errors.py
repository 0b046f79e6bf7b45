"""Errors of the command-line shell and the demo."""

from __future__ import annotations

__all__ = ["ApiRequestFailed", "ChannelTraceError", "DemoStepFailed"]


class ChannelTraceError(Exception):
    """Root of the shell's errors."""


class ApiRequestFailed(ChannelTraceError):
    """The demo's API client got an error answer (or none); ``detail`` is the server's words."""

    def __init__(self, method: str, path: str, status: int | None, detail: str) -> None:
        answer = f"answered {status}" if status is not None else "got no answer"
        super().__init__(f"{method} {path} {answer}: {detail}")
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail


class DemoStepFailed(ChannelTraceError):
    """A step of ``channeltrace demo`` failed; the message is one line a person can act on."""

    def __init__(self, step: str, problem: str, hint: str) -> None:
        super().__init__(f"demo step '{step}' failed: {problem} — {hint}")
        self.step = step
        self.problem = problem
        self.hint = hint
