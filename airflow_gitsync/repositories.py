"""The repositories a backup run reads and writes: the connection's single one, or one per year
(:mod:`airflow_gitsync.shards`, ADR 0007). No Airflow import: the hook is passed in.

``prepare`` calls :func:`open_repositories`: each repository's state from its refs (``git ls-remote``,
one round trip, no fetch), then the manifest of every repository that is not closed (a fetch each,
side by side); a closed one's manifest slices come from its archive record in the staging store.
``commit`` calls :func:`commit_repositories`: it starts each repository switched to from the single
repository's content, gathers the run's packs into each repository that has changes, commits, pushes
and tags every open one (the run's tag goes on all of them or none), closes the ones idle for
``archive_after_days`` and, once every shard has started, writes the switch record on the single
repository.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

from airflow_gitsync import messages
from airflow_gitsync.diff import split_manifest
from airflow_gitsync.gather import gather
from airflow_gitsync.git.build import git_time
from airflow_gitsync.git.commit_plan import ChangeSet, CommitInfo
from airflow_gitsync.git.fast_import import FastImport
from airflow_gitsync.git.runner import GitError, GitRemoteNotFound, redact_url
from airflow_gitsync.git.sizes import size_warning
from airflow_gitsync.git.snapshot import SnapshotEngine, SnapshotResult
from airflow_gitsync.manifest import join_lines, load_manifest, manifest_lines
from airflow_gitsync.results import (
    ExportTaskResult,
    PlanResult,
    PrepareResult,
    Repository,
    RepositoryResult,
    RepoState,
)
from airflow_gitsync.shards import (
    ARCHIVE_TAG_PREFIX,
    OTHER,
    REGISTRY_PREFIX,
    SWITCH_PATH,
    SWITCH_TAG_PREFIX,
    ShardingError,
    SwitchRecord,
    archive_tag,
    is_archived,
    parse_registry,
    registry_line,
    shard_of,
    shard_of_path,
    switch_tag,
)
from airflow_gitsync.staging import StagingStore
from airflow_gitsync.workspace.export import ExportResult

_DAY = 86400
MAIN_BRANCH = "main"  # what restore and verify read a closed year's main as (they have no branch param)
MAX_REPOSITORIES = 200  # repositories one run opens: a hostile tag message cannot make it open more
_COMMIT_ID = re.compile(r"[0-9a-f]{7,40}")


class GitAccess(Protocol):
    """What the runs need of the git hook
    (:class:`~airflow_gitsync.hooks.azure_devops_git.AzureDevOpsGitHook`)."""

    @property
    def sharded(self) -> bool: ...
    @property
    def unsharded_url(self) -> str | None: ...
    def repository_url(self, shard: str = "") -> str: ...
    def remote_refs(self, url: str, *patterns: str) -> dict[str, str]: ...
    def repository_size(self, url: str) -> int | None: ...
    def get_engine(
        self, cache_dir: Path | str, branch: str = ..., working_branch: str = ..., url: str | None = None
    ) -> SnapshotEngine: ...


@dataclass(frozen=True)
class Branches:
    """Where a run commits, in every repository."""

    cache_dir: Path
    branch: str
    working_branch: str

    def engine(self, access: GitAccess, url: str) -> SnapshotEngine:
        return access.get_engine(self.cache_dir, self.branch, self.working_branch, url=url)


@dataclass
class Opened:
    """:func:`open_repositories`' answer: the repositories, the manifest file of each open one (by
    shard), the staged manifest slices of each closed one (by year in the repository) and the single
    repository the run switches from (None: no switch)."""

    repositories: list[Repository]
    manifests: dict[str, bytes] = field(default_factory=dict)
    staged_slices: dict[str, str] = field(default_factory=dict)
    switch_from: str | None = None

    def slices(self, log: logging.Logger) -> tuple[dict[str, bytes], set[str]]:
        """The open repositories' manifests cut by year (:func:`~airflow_gitsync.diff.split_manifest`)
        and the roots they were backed up from. A year in a repository that is not its own (someone
        edited a manifest) is left out with a warning: the year's own repository is the authority."""
        slices: dict[str, bytes] = {}
        roots: set[str] = set()
        for shard, manifest in self.manifests.items():
            part, part_roots = split_manifest(manifest)
            for year in sorted(part):
                if shard and shard_of(year) != shard:
                    log.warning("the manifest of %s lists year %r, not its own: ignored", shard, year)
                else:
                    slices[year] = part[year]
            roots |= part_roots
        return slices, roots


def shard_of_engagement(engagement: str) -> str:
    """The shard of an engagement (``2024/ENG-101``), of a year's own objects (``2024``) or of the
    root's (``""``: :data:`~airflow_gitsync.shards.OTHER`)."""
    return shard_of(engagement.split("/")[0]) if engagement else shard_of("")


def belongs(shard: str, engagement: str) -> bool:
    """Whether ``engagement`` goes to ``shard`` (``""``: the single repository holds everything)."""
    return not shard or shard_of_engagement(engagement) == shard


def manifest_by_shard(data: bytes) -> dict[str, bytes]:
    """The lines of a manifest file grouped by the shard of their repo path."""
    parts: dict[str, list[bytes]] = {}
    for line, repo_path, _ in manifest_lines(data):
        parts.setdefault(shard_of_path(repo_path), []).append(line)
    return {shard: join_lines(lines) for shard, lines in parts.items()}


def _switched(access: GitAccess, url: str) -> bool:
    return bool(access.remote_refs(url, f"refs/tags/{SWITCH_TAG_PREFIX}*"))


def _archive_record(staging: StagingStore, commit: str) -> tuple[dict[str, str], set[str]] | None:
    """The staged manifest slices a closed repository held at ``commit`` and the repositories its
    record names; None when the record or a slice is gone (the repository is then fetched as an
    open one would be)."""
    data = staging.archive(commit)
    if data is None:
        return None
    try:
        record = json.loads(data)
        slices = {str(y): str(b) for y, b in record["slices"].items()}
        known = parse_registry(REGISTRY_PREFIX + " ".join(map(str, record.get("repositories", []))))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return (slices, known) if all(staging.has_blob(b) for b in slices.values()) else None


def open_repositories(
    access: GitAccess,
    where: Branches,
    shards: Iterable[str],
    staging: StagingStore,
    log: logging.Logger,
    every: bool = True,
) -> Opened:
    """The run's repositories with their manifests (see the module docstring); ``shards`` are those of
    the year folders the run covers (ignored unless sharded). ``every``: also those the opened
    repositories' tags name (not for a run limited to some years)."""
    if not access.sharded:
        url = access.repository_url()
        engine = where.engine(access, url)
        engine.sync()
        return Opened([Repository("", url, RepoState.ACTIVE)], {"": engine.manifest_file()})
    wanted = set(shards)
    switch_from = access.unsharded_url
    before: dict[str, bytes] = {}
    if switch_from and not _switched(access, switch_from):
        single = where.engine(access, switch_from)
        single.sync()
        before = manifest_by_shard(single.manifest_file())
        wanted |= before.keys()
        log.info("switching from %s: its shards %s", redact_url(switch_from), ", ".join(sorted(before)))
    else:
        switch_from = None

    def one(shard: str) -> tuple[Repository, bytes | None, dict[str, str], set[str]]:
        """A repository, its manifest (None: closed), a closed one's staged slices, the repositories
        its newest tag (or archive record) names."""
        url = access.repository_url(shard)
        try:
            refs = access.remote_refs(
                url, f"refs/heads/{where.branch}", f"refs/heads/{where.working_branch}",
                f"refs/tags/{ARCHIVE_TAG_PREFIX}{shard}*",
            )  # fmt: skip
        except GitRemoteNotFound as exc:
            return Repository(shard, url, RepoState.MISSING, f"{exc}; create the repository"), None, {}, set()
        if switch_from and not refs:
            return Repository(shard, url, RepoState.SWITCHING), before.get(shard, b""), {}, set()
        archived = is_archived(refs, shard, where.branch)
        if archived and (record := _archive_record(staging, refs[f"refs/heads/{where.branch}"])):
            return Repository(shard, url, RepoState.ARCHIVED), None, record[0], record[1]
        engine = where.engine(access, url)
        engine.sync()
        state = RepoState.ARCHIVED if archived else RepoState.ACTIVE
        newest = engine.mirror.newest_tag("")
        known = parse_registry(engine.mirror.tag_message(newest)) if newest else set()
        return Repository(shard, url, state), engine.manifest_file(), {}, known

    opened = Opened([], switch_from=switch_from)
    pending, seen = set(wanted), set()
    with ThreadPoolExecutor(4, thread_name_prefix="open-repo") as pool:
        while pending:  # the repositories the run covers, then those their tags name (a second wave)
            seen |= pending
            named: set[str] = set()
            for repository, manifest, slices, known in pool.map(one, sorted(pending)):
                if repository.state is RepoState.MISSING and repository.shard not in wanted:
                    # Only named by a tag (which anyone who can push may write): no repository, no year.
                    log.warning("a tag names %s, which has no repository: ignored", repository.shard)
                    continue
                opened.repositories.append(repository)
                if manifest is not None:
                    opened.manifests[repository.shard] = manifest
                opened.staged_slices.update(slices)
                named |= known
            pending = set(sorted(named - seen)[: max(0, MAX_REPOSITORIES - len(seen))]) if every else set()
    opened.repositories.sort(key=lambda r: r.shard)
    return opened


@dataclass
class _Open:
    """One repository the commit writes to."""

    repository: Repository
    engine: SnapshotEngine
    exports: list[ExportResult]


def _seed(single: SnapshotEngine, target: SnapshotEngine, part: bytes, info: CommitInfo, batch: int) -> None:
    """Start the empty ``target`` from its years of the single repository: their blobs, unchanged."""
    entries = list(load_manifest(part).values())
    if entries:
        base = single.mirror.tracking(single.working_branch) or single.mirror.tracking(single.branch)
        ids = {e.blob_id for e in entries}
        single.mirror.fetch_blobs(ids, f"{base}^{{tree}}")
        target.mirror.index_pack(single.mirror.pack_objects(ids))
    target.apply(ChangeSet(upserts=entries), info=info, batch_size=batch)


def _write_switch(single: SnapshotEngine, record: SwitchRecord, when: str) -> None:
    """The single repository's last commit: the switch record on its main branch, tagged."""
    mirror, ref = single.mirror, f"refs/heads/{single.branch}"
    main = mirror.tracking(single.branch)
    message = (
        f"Backups from {record.day} are in a repository per year\n\n"
        + "".join(f"  {shard}: {redact_url(url)}\n" for shard, url in sorted(record.repositories.items()))
        + f"\nThis repository holds the backups before {record.day}; nothing is pushed to it any more.\n"
    )
    with FastImport(mirror.git, "refs/gitsync/switch") as stream:
        mark = stream.begin_commit(ident=single.ident, when=when, message=message, parent=main)
        stream.put(SWITCH_PATH, record.dump())
        commit = stream.finish()[mark]
    tag_id = mirror.make_tag(record.tag, commit, single.ident, when, message)
    mirror.push(commit, ref, main, (tag_id, f"refs/tags/{record.tag}", None))


def _close(
    engine: SnapshotEngine, shard: str, staging: StagingStore, when: str, registry: list[str]
) -> str | None:
    """Tag an idle repository's main as closed and record its manifest slices for later runs."""
    slices, _ = split_manifest(engine.manifest_file())
    record = {
        "slices": {year: staging.put(part) for year, part in sorted(slices.items())},
        "repositories": registry,
    }
    message = f"Closed: idle; daily runs no longer fetch {shard}\n\n{registry_line(registry)}\n"
    name = engine.tag_branch(archive_tag(shard), message, when)
    main = engine.mirror.tracking(engine.branch)
    if name and main:
        staging.put_archive(main, json.dumps(record, sort_keys=True).encode())
    return name


def _total(results: Sequence[SnapshotResult], tag: str | None) -> SnapshotResult:
    """The run's git outcome over its repositories: one repository's own, else commits and bytes
    summed, the largest repository's size, and the run's tag if every repository got it."""
    if len(results) == 1:
        return results[0]
    sizes = [r.repo_size_bytes for r in results if r.repo_size_bytes is not None]
    warnings = [r.size_warning for r in results if r.size_warning]
    seconds: dict[str, float] = {}
    for r in results:
        for phase, value in r.seconds.items():
            seconds[phase] = seconds.get(phase, 0.0) + value
    return SnapshotResult(
        commits=[c for r in results for c in r.commits], head="", previous_head=None,
        tag=tag if results and all(r.tag for r in results) else None,
        tag_created=any(r.tag_created for r in results), merged_main=None,
        pushed_bytes=sum(r.pushed_bytes for r in results), repo_size_bytes=max(sizes) if sizes else None,
        size_warning="; ".join(warnings) or None, changed=any(r.changed for r in results), seconds=seconds,
    )  # fmt: skip


@dataclass(frozen=True)
class RunInfo:
    """The run a commit belongs to: its id, logical date, capture time, ``years`` scope and tag."""

    run_id: str
    logical_date: datetime
    capture_time: str
    years: Sequence[str]
    tag: str


@dataclass(frozen=True)
class Committed:
    """:func:`commit_repositories`' answer."""

    git: SnapshotResult
    complete: bool
    missing: list[str]
    repositories: list[RepositoryResult]
    gather_failures: list[str]


def commit_repositories(
    access: GitAccess,
    where: Branches,
    prepared: PrepareResult,
    planned: PlanResult,
    exported: Sequence[ExportTaskResult],
    staging: StagingStore,
    run: RunInfo,
    batch_size: int,
    dry_run: bool,
    archive_after_days: int,
    log: logging.Logger,
) -> Committed:
    """Commit the run into its repositories (see the module docstring). A repository whose push fails
    does not stop the others; the failures are raised together once the rest is pushed."""
    failures: list[str] = []
    results: dict[str, RepositoryResult] = {}
    repositories = prepared.repositories or [Repository("", access.repository_url(), RepoState.ACTIVE)]
    with ExitStack() as held:
        single = None
        if prepared.switch_from and not dry_run:
            single = where.engine(access, prepared.switch_from)
            held.enter_context(single.mirror.lock("a switch to a repository per year"))
            single.sync()
        opened: list[_Open] = []
        for repository in repositories:
            shard, state = repository.shard, repository.state
            mine = [t for t in exported if any(belongs(shard, e.engagement) for e in t.exports)]
            changed = any(
                e.upserts or e.deletions for t in mine for e in t.exports if belongs(shard, e.engagement)
            )
            if (
                state is RepoState.MISSING
                or (state is RepoState.ARCHIVED and not changed)
                or (state is RepoState.SWITCHING and single is None)
            ):
                results[shard] = RepositoryResult(shard, repository.url, state, error=repository.reason)
                continue
            engine = where.engine(access, repository.url)
            held.enter_context(engine.mirror.lock("a backup commit"))
            engine.sync()
            if (
                single is not None
                and state is RepoState.SWITCHING
                and engine.mirror.tracking(where.branch) is None
            ):
                part = manifest_by_shard(single.manifest_file()).get(shard, b"")
                _seed(single, engine, part, _seed_info(run, single, shard), batch_size)
            gathered = gather(engine.mirror, staging, mine, log)
            failures += [f for f in gathered.failures if f not in failures]
            ours = [e for e in gathered.exports if belongs(shard, e.engagement)]
            opened.append(_Open(repository, engine, ours))
        exports = [e for o in opened for e in o.exports]
        missing = planned.missing(exports)
        unavailable = [r for r in repositories if r.state is RepoState.MISSING]
        complete = not missing and not planned.missing_years and not unavailable
        info = messages.commit_info(run.run_id, run.logical_date, prepared.capture_time, missing, run.years)
        tag = run.tag if complete else None
        tag_message = messages.tag_message(info, exports, run.years)
        registry = sorted(r.shard for r in repositories if r.shard)
        if registry:  # a repository per year: every tag names them all (shards.registry_line)
            tag_message += registry_line(registry) + "\n"
        errors: list[str] = []
        done: list[SnapshotResult] = []
        for item in opened:
            shard, url = item.repository.shard, item.repository.url
            try:
                result = item.engine.apply(
                    ChangeSet(
                        upserts=[u for e in item.exports for u in e.upserts],
                        deletions=[path for e in item.exports for path in e.deletions],
                    ),
                    info=info, batch_size=batch_size, tag=tag, tag_message=tag_message, dry_run=dry_run,
                )  # fmt: skip
            except GitError as exc:
                errors.append(f"{shard or 'repository'} ({redact_url(url)}): {exc}")
                results[shard] = RepositoryResult(shard, url, item.repository.state, error=str(exc))
                continue
            if result.repo_size_bytes is None and not dry_run:  # a blobless mirror: ask the server
                result = _sized(result, access.repository_size(url), log)
            done.append(result)
            closed = None
            if (
                shard and complete and not dry_run and not result.changed
                and item.repository.state is RepoState.ACTIVE
                and _idle_days(item.engine) >= archive_after_days
            ):  # fmt: skip
                closed = _close(item.engine, shard, staging, git_time(prepared.capture_time), registry)
                log.info("%s: no change for %d days: closed as %s", shard, archive_after_days, closed)
            results[shard] = RepositoryResult(shard, url, item.repository.state, result, closed)
        if single is not None and not errors and not unavailable:
            day = run.logical_date.date()
            record = SwitchRecord(
                day.isoformat(), switch_tag(day), {r.shard: redact_url(r.url) for r in repositories}
            )
            _write_switch(single, record, git_time(prepared.capture_time))
            log.info("switched: %s tagged %s", redact_url(single.remote_url), record.tag)
    if errors:
        raise GitError(f"{len(errors)} repositor(ies) not pushed; the others are:\n" + "\n".join(errors))
    ordered = [results[r.shard] for r in repositories if r.shard in results]
    return Committed(_total(done, tag), complete, missing, ordered, failures)


def _sized(result: SnapshotResult, size: int | None, log: logging.Logger) -> SnapshotResult:
    """``result`` with the repository's size as the server reports it, and its warning."""
    if size is None:
        return result
    warning = size_warning(size)
    if warning:
        log.warning("%s", warning)
    return replace(result, repo_size_bytes=size, size_warning=warning)


def _idle_days(engine: SnapshotEngine) -> float:
    """Days since the repository's main branch last changed."""
    main = engine.mirror.tracking(engine.branch)
    return 0.0 if main is None else (time.time() - engine.mirror.commit_time(main)) / _DAY


def _seed_info(run: RunInfo, single: SnapshotEngine, shard: str) -> CommitInfo:
    day = run.logical_date.date()
    return CommitInfo(
        run_id=run.run_id,
        logical_date=run.logical_date.isoformat(),
        capture_time=run.capture_time,
        summary_lines=[
            f"Start of {shard}'s repository: its content in {redact_url(single.remote_url)} at the switch.",
            f"The history before {day} is in that repository (up to its tag {switch_tag(day)}).",
        ],
    )


@dataclass(frozen=True)
class Source:
    """Where a restore (or a verify) reads: a repository, the ref in it, the paths it holds."""

    url: str
    ref: str
    paths: list[str]


FIRST_YEAR = 2000  # a restore of everything looks for the repositories of the years from this one on


def read_sources(
    access: GitAccess, ref: str, paths: Sequence[str], branch: str, today: date | None = None
) -> list[Source]:
    """The repositories that hold ``paths`` (repo paths; none: everything) at ``ref``: the
    connection's repository; or with a repository per year, the single repository of before the
    switch when ``ref`` is one of its tags, else each path's year's repository, where a closed year
    that lacks ``ref`` gives its archive tag (its content since). Everything, with a repository per
    year: every repository of the years :data:`FIRST_YEAR` to next year and ``other`` that exists
    and has ``ref`` (one ``ls-remote`` each, side by side)."""
    if not access.sharded:
        return [Source(access.repository_url(), ref, list(paths))]
    single = access.unsharded_url
    if single and access.remote_refs(single, f"refs/tags/{ref}"):
        return [Source(single, ref, list(paths))]
    groups: dict[str, list[str]] = {}
    for path in paths:  # a path names a folder or a file: "2024" is the year folder
        groups.setdefault(shard_of(path.split("/")[0]), []).append(path)
    last = (today or date.today()).year + 1
    if not paths:
        if _COMMIT_ID.fullmatch(ref):
            raise ShardingError(f"ref {ref!r}: a commit is in one repository; name its year in paths")
        groups = {str(year): [] for year in range(FIRST_YEAR, last + 1)} | {OTHER: []}

    def find(shard: str, chosen: list[str]) -> Source | None:
        url = access.repository_url(shard)
        patterns = (f"refs/tags/{ref}", f"refs/heads/{ref}", f"refs/heads/{branch}")
        try:
            refs = access.remote_refs(url, *patterns, f"refs/tags/{archive_tag(shard)}*")
        except GitRemoteNotFound:
            if paths:
                raise
            return None
        if refs.keys() & set(patterns[:2]) or (paths and _COMMIT_ID.fullmatch(ref)):
            return Source(url, ref, chosen)
        if closed := closed_at(refs, shard, branch):
            return Source(url, closed, chosen)
        if paths:
            raise ShardingError(f"ref {ref!r} is not in the repository of {shard} ({redact_url(url)})")
        return None

    with ThreadPoolExecutor(8, thread_name_prefix="find-ref") as pool:
        sources = [s for s in pool.map(lambda item: find(*item), sorted(groups.items())) if s]
    if not sources:
        raise ShardingError(
            f"ref {ref!r} is in none of the repositories of the years {FIRST_YEAR}-{last} and {OTHER}; "
            "name the years or engagements to restore in paths"
        )
    return sources


def closed_at(refs: dict[str, str], shard: str, branch: str) -> str | None:
    """The archive tag of a repository that is still closed (the tag points at its main), or None."""
    main = refs.get(f"refs/heads/{branch}")
    if main is None or not is_archived(refs, shard, branch):
        return None
    peeled = [r for r, oid in refs.items() if r.endswith("^{}") and oid == main and archive_tag(shard) in r]
    return max(peeled).removeprefix("refs/tags/").removesuffix("^{}")
