"""The commit's first step: bring the run's staged packs into the mirror, and keep what they vouch for.

Each scan or export task staged one pack holding the blob of every upsert it hands on. The packs are
read side by side (each a round trip on an object store), checked by their checksum and then by
``git index-pack`` on their way into the mirror. A task whose pack is missing, corrupt or lacks one
of its blobs is left out: its engagements are not committed, and the commit then fails, naming the
task to clear (with downstream) so that it exports them again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from airflow_gitsync.git.mirror import Mirror
from airflow_gitsync.git.runner import GitError
from airflow_gitsync.results import ExportTaskResult
from airflow_gitsync.staging import StagingCorruptError, StagingMissingError, StagingStore
from airflow_gitsync.workspace.export import ExportResult

PACKS_IN_FLIGHT = 4  # packs read and indexed side by side
_LOG_EVERY = 10.0  # seconds between progress lines


@dataclass
class Gathered:
    """The exports whose blobs are in the mirror, and a line per task whose pack failed."""

    exports: list[ExportResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    packs: int = 0
    pack_bytes: int = 0
    blobs: int = 0


def _hint(result: ExportTaskResult) -> str:
    return f"clear {result.task or 'the task that exported it'} with downstream to export it again"


def gather(
    mirror: Mirror, staging: StagingStore, results: Sequence[ExportTaskResult], log: logging.Logger
) -> Gathered:
    """Index the pack of each of ``results`` into ``mirror``; see the module docstring."""
    gathered = Gathered()
    started = last_log = time.monotonic()
    staged = [r for r in results if r.pack]
    log.info("gathering %d staged pack(s) from %s", len(staged), staging.root)

    def index(result: ExportTaskResult) -> tuple[int, set[str]]:
        data = staging.get_pack(result.pack, _hint(result))
        try:
            return len(data), mirror.index_pack(data)
        except GitError as exc:  # sound checksum, unsound content: no retry makes it sound
            staging.pack_path(result.pack).unlink(missing_ok=True)
            raise StagingCorruptError(
                f"pack {result.pack} failed git index-pack and was removed: {exc}"
            ) from exc

    with ThreadPoolExecutor(PACKS_IN_FLIGHT, thread_name_prefix="gather") as pool:
        futures = [pool.submit(index, r) if r.pack else None for r in results]
        for result, future in zip(results, futures, strict=True):
            if future is None:
                gathered.exports += result.exports  # deletions only: no blob needed
                continue
            try:
                size, ids = future.result()
            except (StagingMissingError, StagingCorruptError) as exc:
                gathered.failures.append(_failure(result, exc.args[0]))  # a KeyError's str() is quoted
                continue
            lacking = sorted({u.blob_id for e in result.exports for u in e.upserts} - ids)
            if lacking:
                reason = f"pack {result.pack} lacks {len(lacking)} of its blobs, e.g. {lacking[0]}"
                gathered.failures.append(_failure(result, f"{reason}; {_hint(result)}"))
                continue
            gathered.exports += result.exports
            gathered.packs += 1
            gathered.pack_bytes += size
            gathered.blobs += len(ids)
            if (now := time.monotonic()) - last_log >= _LOG_EVERY:
                last_log = now
                log.info(
                    "gathered %d of %d pack(s): %d blobs, %.1f MiB in %.0f s",
                    gathered.packs, len(staged), gathered.blobs, gathered.pack_bytes / 2**20, now - started,
                )  # fmt: skip
    log.info(
        "gathered %d pack(s): %d blobs, %.1f MiB in %.1f s%s",
        gathered.packs, gathered.blobs, gathered.pack_bytes / 2**20, time.monotonic() - started,
        f"; {len(gathered.failures)} task(s) left out" if gathered.failures else "",
    )  # fmt: skip
    return gathered


def _failure(result: ExportTaskResult, reason: str) -> str:
    engagements = [e.engagement or "(root)" for e in result.exports]
    shown = ", ".join(engagements[:5]) + (f" and {len(engagements) - 5} more" if len(engagements) > 5 else "")
    return f"{result.task or 'a task'} ({shown}) not committed: {reason}"
