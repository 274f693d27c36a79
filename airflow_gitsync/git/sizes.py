"""Azure DevOps repository size guidance, and the warning we give as a repository approaches it."""

from __future__ import annotations

RECOMMENDED_MAX_BYTES = 10 * 1024**3  # "below 10 GB for optimal performance"
HARD_LIMIT_BYTES = 250 * 1024**3
WARN_FRACTION = 0.8


def size_warning(size_bytes: int, limit: int = RECOMMENDED_MAX_BYTES) -> str | None:
    """A warning once ``size_bytes`` reaches 80% of Azure DevOps' recommended maximum, else None."""
    if size_bytes < WARN_FRACTION * limit:
        return None
    return (
        f"repository size {size_bytes / 1024**3:.2f} GiB is {size_bytes / limit:.0%} of Azure DevOps' "
        f"recommended maximum of {limit / 1024**3:.0f} GiB (hard limit {HARD_LIMIT_BYTES // 1024**3} GiB): "
        "plan to split the backup (e.g. one repository per year) before it slows down"
    )
