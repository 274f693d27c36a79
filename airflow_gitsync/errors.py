"""What the provider's errors share: whether retrying can fix them."""


class PermanentError(Exception):
    """An error that a retry of the same task cannot fix: a bad param or setting, refused credentials,
    a missing repository, content the remote refuses, a staged object that must be exported again.
    The provider's tasks fail on it at once instead of spending their retries."""
