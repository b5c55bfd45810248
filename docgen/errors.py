"""docgen's one error hierarchy, and the exit code each error maps to.

::

    DocgenError                      1  (never raised bare)
    ├── UsageError                   2  a bad flag, config file, manifest or env value
    ├── TemplateError                3  a template that cannot be found, parsed or filled
    ├── OutputError                  4  the output cannot be written, or would clobber work
    │   ├── OutputExistsError        4  the finished output is there already (no --force)
    │   └── ResumeError              4  a partial exists that this run may not continue
    ├── ServerError                     the server answered, or failed to
    │   ├── ConnectError             5  connection refused, DNS failure, connect timeout
    │   ├── AuthError                6  401 / 403
    │   ├── NotFoundError            7  404: a wrong base URL or model name
    │   ├── RejectedError            8  400 / 422 and other 4xx: the request was refused
    │   └── UnavailableError         9  429 / 5xx / 408 / 409 (retried first)
    ├── StreamError                 10  the reply broke off: idle timeout, dropped
    │                                   connection, malformed SSE, a mid-stream error
    ├── BatchError                  11  one or more jobs of a batch failed
    ├── OutlineError                12  the model's outline stayed unusable after retries
    └── UnfinishedError             13  the document could not be finished: the model kept
                                        writing past the continuations, or kept looping

An interruption (Ctrl-C, SIGTERM) exits 130. Anything else that escapes is a bug and
exits 70 with one line asking for a report. ``retryable`` errors are retried, as a
continuation of the partial text, before they reach the user.

Every message and hint passes through ``redact`` when the error is made, so no API key,
bearer token or URL password reaches stderr, ``--json``, a batch report or a journal,
whatever a server chose to echo back.
"""

from __future__ import annotations

import re

_SECRETS: set[str] = set()  # the keys this process was given, to mask wherever they appear
_PATTERNS = (
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://)([^/@\s:]+):([^/@\s]+)@", re.I), r"\1\2:***@"),  # URL passwords
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://)([^/@\s:]+)@", re.I), r"\1***@"),  # a token as the URL's user
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.I), r"\1 ***"),
    (re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_-]{6,}"), r"\1-***"),  # OpenAI-style keys
    (re.compile(r"([?&](?:api[_-]?key|key|token|access_token)=)[^&\s]+", re.I), r"\1***"),
)


def add_secret(secret: str) -> None:
    """Mask ``secret`` in every message from now on (the API key, once it is known)."""
    if len(secret) >= 4:
        _SECRETS.add(secret)


def redact(text: str) -> str:
    """``text`` with API keys, bearer tokens and URL passwords masked."""
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70


class DocgenError(Exception):
    """Base of every error docgen reports to a user."""

    exit_code = 1
    retryable = False

    def __init__(self, message: str, *, hint: str = "") -> None:
        message, hint = redact(message), redact(hint)
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class UsageError(DocgenError):
    exit_code = 2


class TemplateError(DocgenError):
    exit_code = 3


class OutputError(DocgenError):
    exit_code = 4


class OutputExistsError(OutputError):
    pass


class BusyError(OutputError):
    """Another docgen process holds the output: running the command again now would not help."""


class ResumeError(OutputError):
    pass


class ServerError(DocgenError):
    """The server refused or failed a request. ``status`` is None below HTTP."""

    exit_code = 9

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        status: int | None = None,
        url: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.url = url
        self.retry_after = retry_after


class ConnectError(ServerError):
    exit_code = 5
    retryable = True


class AuthError(ServerError):
    exit_code = 6


class NotFoundError(ServerError):
    exit_code = 7


class RejectedError(ServerError):
    exit_code = 8


class UnavailableError(ServerError):
    exit_code = 9
    retryable = True


class StreamError(DocgenError):
    """The reply stopped part-way. The text so far is kept and can be continued."""

    exit_code = 10
    retryable = True

    def __init__(self, message: str, *, hint: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class BatchError(DocgenError):
    exit_code = 11


class OutlineError(DocgenError):
    exit_code = 12


class UnfinishedError(DocgenError):
    """The replies ran out before the document was done; its partial is kept and can be continued."""

    exit_code = 13
