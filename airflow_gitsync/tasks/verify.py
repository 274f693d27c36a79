"""The verify DAG's task callables (:mod:`airflow_gitsync.dags.verify` moves their records through
XCom): plan the verify, check one year.

With a repository per year (:mod:`airflow_gitsync.shards`) the plan reads the repository of each
year folder the workspace lists, and of each year its tags name (a deleted year folder): at ``ref``
as a restore would (a closed year that lacks it at its archive tag, a tag of the single repository
of before the switch there), else at its newest backup tag (a closed year at its archive tag: its
newest state). Each year's check reads its own repository.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from airflow_gitsync.compat import UTC
from airflow_gitsync.diff import ItemFailure
from airflow_gitsync.errors import NotFoundError
from airflow_gitsync.git.mirror import Mirror
from airflow_gitsync.git.runner import GitRemoteNotFound, redact_url
from airflow_gitsync.manifest import MANIFEST_PATH, ManifestEntry, load_manifest
from airflow_gitsync.params import SettingsError, VerifySettings
from airflow_gitsync.repositories import MAIN_BRANCH as BRANCH
from airflow_gitsync.repositories import MAX_REPOSITORIES, GitAccess, closed_at, read_sources
from airflow_gitsync.restore import RestoreError, backup_root, resolve_ref
from airflow_gitsync.results import CheckTaskResult
from airflow_gitsync.shards import OTHER, archive_tag, parse_registry, shard_of
from airflow_gitsync.tasks.context import RunContext
from airflow_gitsync.verify import (
    FULL,
    PROBLEMS_LISTED,
    Sample,
    ShardSource,
    VerifyPlan,
    YearToVerify,
    backup_problems,
    repo_year,
    verify_year,
    years_to_verify,
)
from airflow_gitsync.workspace.scan import list_years

if TYPE_CHECKING:
    from airflow_gitsync.hooks.azure_devops_git import AzureDevOpsGitHook

log = logging.getLogger(__name__)


def _manifest(mirror: Mirror, commit: str, ref: str) -> dict[str, ManifestEntry]:
    data = mirror.read_file(commit, MANIFEST_PATH)
    if data is None:
        raise SettingsError(f"ref {ref!r} ({commit}) has no {MANIFEST_PATH}: not a backup commit")
    return load_manifest(data)


def prepare(params: Mapping | None) -> VerifyPlan:
    """Refresh the mirror, find the backup to compare with, check its tree against its manifest and
    list the workspace's years; with a repository per year, each listed year's repository."""
    run = RunContext.of(VerifySettings, params)
    settings = run.settings
    hook = run.git_hook()
    if hook.sharded:
        return _prepare_sharded(run, hook)
    mirror = hook.get_mirror(run.config.cache_dir)
    with mirror.lock("a verify"):
        mirror.sync()
        ref = settings.ref or mirror.newest_tag(settings.tag_prefix)
        if ref is None:
            raise SettingsError(
                f"ref: no tag starts with {settings.tag_prefix!r}; run a backup, or give a ref"
            )
        try:
            commit = resolve_ref(mirror, ref)
        except RestoreError as exc:
            raise SettingsError(str(exc)) from None
        manifest = _manifest(mirror, commit, ref)
        tree = mirror.ls_tree(commit)
    problems, problem_count = backup_problems(manifest, tree)
    root = settings.workspace_root or backup_root(manifest.values())
    if root is None:
        raise SettingsError(f"workspace_root: {ref} holds no objects; give the folder to compare")
    return _plan(run, ref, commit, root, manifest, (problems, problem_count), _list_years(run, root))


def _list_years(run: RunContext[VerifySettings], root: str) -> list[str]:
    with run.workspace_client() as client:
        try:
            return list_years(client, root)
        except NotFoundError:
            raise SettingsError(f"workspace_root {root!r}: no such folder in the workspace") from None


def _sample(run: RunContext[VerifySettings]) -> Sample:
    settings = run.settings
    seed = settings.seed if settings.seed is not None else random.SystemRandom().randrange(2**31)
    share = 1.0 if settings.mode == FULL else run.config.verify_sample_percent / 100
    return Sample(share, seed)


def _plan(
    run: RunContext[VerifySettings],
    ref: str,
    commit: str,
    root: str,
    manifest: Mapping[str, ManifestEntry],
    problems: tuple[list[ItemFailure], int],
    listed: list[str],
    shards: dict[str, ShardSource] | None = None,
) -> VerifyPlan:
    """The plan of a verify of ``root`` against the backup ``manifest`` (one repository's, or the
    repositories' merged with each year's source in ``shards``)."""
    return VerifyPlan(
        ref=ref,
        commit=commit,
        backup_root=backup_root(manifest.values()) or root,
        root=root,
        mode=run.settings.mode,
        sample=_sample(run),
        years=years_to_verify(listed, manifest.values()),
        backup_problems=problems[0],
        backup_problem_count=problems[1],
        shards=shards or {},
    )


@dataclass(frozen=True)
class _Backup:
    """One repository's backup as read for a plan: where, its manifest, its tree, and the repositories
    its tag names (:func:`~airflow_gitsync.shards.parse_registry`)."""

    source: ShardSource
    manifest: dict[str, ManifestEntry]
    tree: dict[str, tuple[str, str]]
    registry: frozenset[str]


def _where(access: GitAccess, shard: str, settings: VerifySettings) -> tuple[str, str | None]:
    """The repository holding ``shard``'s years and the ref to read there (None: its newest tag)."""
    if settings.ref:
        [source] = read_sources(access, settings.ref, [shard], branch=BRANCH)
        return source.url, source.ref
    url = access.repository_url(shard)  # a closed year: at its archive tag, as a restore reads it
    refs = access.remote_refs(url, f"refs/heads/{BRANCH}", f"refs/tags/{archive_tag(shard)}*")
    return url, closed_at(refs, shard, BRANCH)


def _read_shard(
    run: RunContext[VerifySettings],
    hook: AzureDevOpsGitHook,
    shard: str,
    read: dict[tuple[str, str | None], _Backup],
) -> _Backup:
    """The backup of ``shard`` (from ``read`` when its repository and ref were read already)."""
    settings = run.settings
    try:
        url, ref = _where(hook, shard, settings)
        if (url, ref) in read:
            return read[url, ref]
        mirror = hook.get_mirror(run.config.cache_dir, url)
        with mirror.lock("a verify"):
            mirror.sync()
            found = ref or mirror.newest_tag(settings.tag_prefix)
            if found is None:
                raise SettingsError(
                    f"ref: no tag starts with {settings.tag_prefix!r} in the repository of {shard} "
                    f"({redact_url(url)}); run a backup, or give a ref"
                )
            try:
                commit = resolve_ref(mirror, found)
            except RestoreError as exc:
                raise SettingsError(f"{shard} ({redact_url(url)}): {exc}") from None
            manifest = _manifest(mirror, commit, found)
            named = frozenset(parse_registry(mirror.tag_message(found)))
            backup = _Backup(ShardSource(url, found, commit), manifest, mirror.ls_tree(commit), named)
    except GitRemoteNotFound as exc:
        raise SettingsError(
            f"the repository of {shard} cannot be read: {exc}; create the repository and run a backup"
        ) from None
    read[url, ref] = backup
    return backup


def _prepare_sharded(run: RunContext[VerifySettings], hook: AzureDevOpsGitHook) -> VerifyPlan:
    """:func:`prepare` with a repository per year: the root is ``workspace_root`` or the one the
    repository of :data:`~airflow_gitsync.shards.OTHER` was backed up from; the repositories are those
    of the years listed there and those their tags' registry lines name."""
    settings = run.settings
    read: dict[tuple[str, str | None], _Backup] = {}
    by_shard: dict[str, _Backup] = {}
    ignored: set[str] = set()
    root = settings.workspace_root
    year = datetime.now(UTC).year
    for shard in (OTHER, str(year), str(year - 1)) if root is None else ():
        try:  # the folder the backup was made from, read from the first of these that has a backup
            by_shard[shard] = _read_shard(run, hook, shard, read)
        except SettingsError:
            continue
        if (root := backup_root(by_shard[shard].manifest.values())) is not None:
            break
    if root is None:
        raise SettingsError(
            f"workspace_root: with a repository per year the folder the backup was made from is read from "
            f"the repository of {OTHER}, {year} or {year - 1}, and none holds a backup; give the folder"
        )
    listed = _list_years(run, root)
    for shard in sorted({shard_of(y.repo_year) for y in years_to_verify(listed, [])} - by_shard.keys()):
        by_shard[shard] = _read_shard(run, hook, shard, read)  # a listed year's: it must be readable
    while named := {n for b in by_shard.values() for n in b.registry} - by_shard.keys() - ignored:
        # Those the tags name (a year folder deleted). Whoever can push writes a tag: a year it names
        # without a readable repository is skipped, and the repositories read stay bounded.
        for shard in sorted(named)[: max(0, MAX_REPOSITORIES - len(by_shard))]:
            try:
                by_shard[shard] = _read_shard(run, hook, shard, read)
            except SettingsError as exc:
                log.warning("a tag names %s, which cannot be read: ignored (%s)", shard, exc)
                ignored.add(shard)
        if len(by_shard) >= MAX_REPOSITORIES:
            break
    backups = list({id(b): b for b in by_shard.values()}.values())
    manifest = {path: entry for b in backups for path, entry in b.manifest.items()}
    sources = {shard: b.source for shard, b in by_shard.items()}
    for b in backups:  # a tag of the single repository also holds the years no folder lists any more
        for entry in b.manifest.values():
            sources.setdefault(shard_of(repo_year(entry)), b.source)
    listed_problems: list[ItemFailure] = []
    problem_count = 0
    for b in backups:
        some, count = backup_problems(b.manifest, b.tree)
        listed_problems += some
        problem_count += count
    ref, commit = _named(sources)
    problems = sorted(listed_problems, key=lambda p: p.path)[:PROBLEMS_LISTED]
    return _plan(run, ref, commit, root, manifest, (problems, problem_count), listed, sources)


def _named(sources: Mapping[str, ShardSource]) -> tuple[str, str]:
    """The plan's ``ref`` (the one every shard is read at, else each shard's) and ``commit`` (each
    commit once, comma-separated) with a repository per year."""
    ordered = sorted(sources.items())
    refs = dict.fromkeys(s.ref for _, s in ordered)
    ref = next(iter(refs)) if len(refs) == 1 else ", ".join(f"{k}: {s.ref}" for k, s in ordered)
    return ref, ",".join(dict.fromkeys(s.commit for _, s in ordered))


def check(work: YearToVerify, plan: VerifyPlan, params: Mapping | None) -> CheckTaskResult:
    """List one year, compare it with the backup's manifest, export the sample and compare blobs."""
    run = RunContext.of(VerifySettings, params)
    ref, commit = plan.ref, plan.commit
    if plan.shards:  # a repository per year: this year's
        source = plan.shards.get(shard_of(work.repo_year))
        if source is None:
            raise SettingsError(f"year {work.year!r}: the plan names no repository for it")
        ref, commit = source.ref, source.commit
        mirror = run.git_hook().get_mirror(run.config.cache_dir, source.url)
    else:
        mirror = run.mirror()
    with mirror.lock("a verify"):
        if mirror.resolve(commit) is None:
            mirror.sync()
        manifest = _manifest(mirror, commit, ref)
    entries = {p: e for p, e in manifest.items() if repo_year(e) == work.repo_year}
    with run.workspace_client() as client:
        year_check = verify_year(client, plan, work, entries)
        api = client.stats()
    return CheckTaskResult(year_check, api, run.metrics())
