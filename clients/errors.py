"""The client's exception hierarchy: one base class, so that callers (and the CLI) can map failures to exit codes."""

from __future__ import annotations

from papertrans import exitcodes

__all__ = ["ApiError", "ClientError", "InputError", "JobFailed", "ServerUnavailable"]


class ClientError(Exception):
    """Base class of every error the papertrans client raises; ``exit_code`` is its code in the CLI's one table."""

    @property
    def exit_code(self) -> int:
        return exitcodes.USAGE


class ApiError(ClientError):
    """The server answered with an error status; ``code`` is its machine-readable reason (``{"error": code}``)."""

    def __init__(self, status: int, code: str, detail: str = "", body: object = None) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.body = body
        super().__init__(f"HTTP {status} {code}: {detail}" if detail else f"HTTP {status} {code}")

    @property
    def exit_code(self) -> int:
        return exitcodes.for_http_status(self.status)


class ServerUnavailable(ClientError):
    """The server could not be reached (connection refused, DNS failure, timeout, dropped connection)."""

    def __init__(self, base_url: str, reason: str) -> None:
        self.base_url = base_url
        self.reason = reason
        super().__init__(f"papertrans server at {base_url} is unavailable: {reason}")

    @property
    def exit_code(self) -> int:
        return exitcodes.UNAVAILABLE


class JobFailed(ClientError):
    """A translation job ended in a failed state on the server."""

    def __init__(self, job_id: str, reason: str) -> None:
        self.job_id = job_id
        self.reason = reason
        super().__init__(f"job {job_id} failed: {reason}")

    @property
    def exit_code(self) -> int:
        return exitcodes.FAILED


class InputError(ClientError):
    """A local input cannot be used (missing file, not a PDF, encrypted, no text layer, unreadable LaTeX, ...)."""
