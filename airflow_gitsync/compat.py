"""What the provider uses from Python 3.11, for Python 3.10: ``UTC``, ``StrEnum``, ``ExceptionGroup``."""

from __future__ import annotations

import sys
from datetime import timezone
from enum import Enum

UTC = timezone.utc

if sys.version_info >= (3, 11):
    from builtins import ExceptionGroup
    from enum import StrEnum  # noqa: TID251
else:  # Python 3.10
    from exceptiongroup import ExceptionGroup

    class StrEnum(str, Enum):
        """Python 3.11's ``enum.StrEnum``: a member is its value, in ``str()`` and ``format()`` too."""

        def __str__(self) -> str:
            return str.__str__(self)


__all__ = ["UTC", "ExceptionGroup", "StrEnum"]
