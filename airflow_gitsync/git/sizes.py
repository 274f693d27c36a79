"""Azure DevOps size limits: repository size guidance and its warning, and how pushes are grouped."""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit, urlunsplit

SIZE_API_VERSION = "7.1"

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


AZURE_PUSH_LIMIT_BYTES = 5 * 1024**3  # a single push larger than this is refused
DEFAULT_PUSH_BYTES = 256 * 1024**2
MAX_PUSH_BYTES = AZURE_PUSH_LIMIT_BYTES // 5  # a push budget stays far below the limit


def check_push_bytes(budget: int) -> int:
    """``budget`` if it is a usable push budget (1 byte to 1 GiB), else raise ValueError."""
    if not 0 < budget <= MAX_PUSH_BYTES:
        raise ValueError(f"push_bytes must be between 1 and {MAX_PUSH_BYTES:,}, not {budget:,}")
    return budget


def push_points(sizes: list[int], budget: int) -> list[int]:
    """Indices of the commits to push so each push carries at most ``budget`` bytes of ``sizes``.

    Consecutive commits share a push while their sizes fit; a commit larger than the budget on its
    own is pushed alone. The last commit is always pushed.
    """
    points, pending = [], 0
    for index, size in enumerate(sizes):
        if pending and pending + size > budget:
            points.append(index - 1)
            pending = 0
        pending += size
    return [*points, len(sizes) - 1] if sizes else []


def size_api_url(git_url: str) -> str | None:
    """The Azure DevOps REST URL that reports the size of the repository at ``git_url``
    (``https://dev.azure.com/org/proj/_git/repo`` gives ``.../org/proj/_apis/git/repositories/repo``,
    whose ``size`` is the repository's compressed size in bytes); None for a URL of another shape."""
    parts = urlsplit(git_url)
    base, marker, repo = parts.path.rpartition("/_git/")
    repo = repo.strip("/").removesuffix(".git")
    if parts.scheme not in ("http", "https") or not marker or not repo or "/" in repo:
        return None
    path = f"{base}/_apis/git/repositories/{quote(unquote(repo), safe='')}"
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else ""
    return urlunsplit((parts.scheme, netloc, path, f"api-version={SIZE_API_VERSION}", ""))
