"""The provider's errors that several modules raise or catch: whether retrying can fix them
(:class:`PermanentError`), and the Workspace API's."""


class PermanentError(Exception):
    """An error that a retry of the same task cannot fix: a bad param or setting, refused credentials,
    a missing repository, content the remote refuses, a staged object that must be exported again.
    The provider's tasks fail on it at once instead of spending their retries."""


class ConfigError(PermanentError, ValueError):
    """A ``[gitsync]`` option has a value the provider cannot run with; the message names it."""


class WorkspaceError(Exception):
    """A Workspace API call failed; ``status`` and ``error_code`` as the server sent them."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        status: int | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.status = status
        self.error_code = error_code


class NotFoundError(WorkspaceError):
    """The object does not exist (``RESOURCE_DOES_NOT_EXIST``)."""


class TooLargeError(WorkspaceError):
    """The object is over the export size limit (10 MB)."""


class AuthError(WorkspaceError, PermanentError):
    """The workspace refused the credentials or the permission (401/403)."""


class RateLimitedError(WorkspaceError):
    """Still rate limited (429) when the retry time ran out."""


class TransientError(WorkspaceError):
    """Server errors or dropped connections that outlasted the retry time."""


FATAL_ERRORS = (AuthError, RateLimitedError)
"""Errors that concern the whole task rather than one object: let them fail it."""
