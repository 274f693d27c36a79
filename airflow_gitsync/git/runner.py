"""Running git against one repository: a clean environment, secrets redacted, errors classified."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

from airflow_gitsync.errors import PermanentError
from airflow_gitsync.git.auth import GitAuth

# Variables that would redirect git away from the repository we name, or make it print traffic.
_DROPPED_ENV = re.compile(
    r"GIT_(DIR|WORK_TREE|INDEX_FILE|OBJECT_DIRECTORY|ALTERNATE_OBJECT_DIRECTORIES|"
    r"CONFIG.*|TRACE.*|CURL_VERBOSE|SSH.*|ASKPASS|NAMESPACE|COMMON_DIR)"
)
_AUTH_FAILURE = re.compile(
    r"could not read (Username|Password)|Authentication failed|returned error: 40[13]|HTTP 40[13]"
    r"|Permission denied \(publickey|terminal prompts disabled",
    re.IGNORECASE,
)
# No repository at the URL: HTTP 404 (Azure DevOps adds TF401019), or an SSH server's word for it.
_NOT_FOUND = re.compile(
    r"repository '[^'\n]*' not found|Repository not found|returned error: 404|HTTP 404|TF401019",
    re.IGNORECASE,
)
_TRANSIENT = re.compile(
    r"Could not resolve host|Connection refused|Failed to connect|timed out|Connection reset"
    r"|returned error: (5\d\d|429)|HTTP (5\d\d|429)|early EOF|remote end hung up unexpectedly"
    r"|Empty reply from server|SSL",
    re.IGNORECASE,
)
# A ref update the remote turned down: ``[rejected] (reason)`` decided by our git, ``[remote rejected]``
# by the remote's; the reasons that mean the ref is not where we thought (it moved) are retried.
_REJECTED_REF = re.compile(r"\[(?:remote )?rejected\][^(\n]*\(([^\n]*)\)")
_MOVED = re.compile(r"non-fast-forward|fetch first|stale info|already exists|failed to lock|but expected")
_PROGRESS = re.compile(r"\d+% \(\d+/\d+\)")


class GitError(RuntimeError):
    """A git command failed; the message holds its (redacted) stderr."""


class GitAuthError(GitError, PermanentError):
    """The remote refused our credentials: retrying will not help."""


class GitRemoteNotFound(GitError, PermanentError):
    """No repository at the remote URL: retrying will not help."""


class GitRemoteRefused(GitError, PermanentError):
    """The remote refused a push for a reason of its own (fsck, a hook, a policy): retrying will not help."""


class GitTransientError(GitError):
    """A network failure that outlived the retries."""


class GitPushRejected(GitError):
    """The remote refused a ref update (it moved): fetch, rebuild, push again."""


def redact_url(url: str) -> str:
    """``url`` without any password in its user-info part."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def base_env() -> dict[str, str]:
    """The process environment minus anything that could redirect git or log its traffic."""
    env = {k: v for k, v in os.environ.items() if not _DROPPED_ENV.fullmatch(k)}
    return env | {"GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}


class GitRunner:
    """Run git in the bare repository ``git_dir`` (None: outside any); network commands authenticate."""

    def __init__(
        self,
        git_dir: Path | None,
        remote_url: str,
        auth: GitAuth,
        logger: logging.Logger,
        retries: int = 3,
        backoff: float = 2.0,
    ) -> None:
        self.git_dir = git_dir
        self.remote_url = remote_url
        self.auth = auth
        self.log = logger
        self.retries = retries
        self.backoff = backoff

    def redact(self, text: str) -> str:
        for secret in self.auth.secrets():
            text = text.replace(secret, "***")
        return text

    def argv(self, args: Sequence[str], config: Mapping[str, str] | None = None) -> list[str]:
        """``git [--git-dir=...] [-c key=value ...] args``."""
        settings = [part for key, value in (config or {}).items() for part in ("-c", f"{key}={value}")]
        return ["git", *([f"--git-dir={self.git_dir}"] if self.git_dir else []), *settings, *args]

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
        config: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a local git command (no credentials), ``config`` set for it alone; return its completed
        process."""
        result = subprocess.run(
            self.argv(args, config), input=input, capture_output=True, env=base_env() | (env or {})
        )
        if check and result.returncode:
            raise GitError(f"git {args[0]} failed: {self.redact(result.stderr.decode(errors='replace'))}")
        return result

    def text(self, *args: str, **kwargs) -> str:
        return self.run(*args, **kwargs).stdout.decode().strip()

    def popen(
        self,
        *args: str,
        stdout: IO | int | None = None,
        stderr: IO | int | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen:
        return subprocess.Popen(
            self.argv(args), stdin=subprocess.PIPE, stdout=stdout, stderr=stderr, env=base_env() | (env or {})
        )

    def remote(
        self,
        *args: str,
        input: bytes | None = None,
        config: Mapping[str, str] | None = None,
        timeout: float = 3600,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a network command (fetch, push, ls-remote) with credentials, retrying transient errors;
        ``config`` is set for this command alone."""
        for attempt in range(self.retries + 1):
            with self.auth.env(self.remote_url) as auth_env:
                self.log.info(
                    "git auth: %s to %s as %s", args[0], redact_url(self.remote_url), self.auth.describe()
                )
                result = subprocess.run(
                    self.argv(args, config), input=input, capture_output=True, env=base_env() | auth_env,
                    timeout=timeout,
                )  # fmt: skip
            if result.returncode == 0:
                return result
            output = result.stdout + result.stderr  # push --porcelain reports rejections on stdout
            stderr = self.redact(output.decode(errors="replace")).strip()
            if _AUTH_FAILURE.search(stderr):
                raise GitAuthError(
                    f"authentication failed for {redact_url(self.remote_url)} ({self.auth.describe()}): "
                    "check the connection's PAT, service principal or SSH key, that it has not expired, "
                    "and that it may read and write this repository"
                )
            if _NOT_FOUND.search(stderr):
                raise GitRemoteNotFound(
                    f"git {args[0]}: repository {redact_url(self.remote_url)} not found: check the "
                    f"connection's repository URL and that its credentials may see the repository ({stderr})"
                )
            if args[0] == "push" and (reasons := _REJECTED_REF.findall(stderr)):
                raise self._rejection(reasons, stderr)
            if not _TRANSIENT.search(stderr):
                raise GitError(f"git {args[0]} to {redact_url(self.remote_url)} failed: {stderr}")
            if attempt < self.retries:
                delay = self.backoff * 2**attempt
                self.log.warning(
                    "git %s failed (%s), retrying in %.0f s", args[0], stderr.splitlines()[-1], delay
                )
                time.sleep(delay)
        raise GitTransientError(f"git {args[0]} to {redact_url(self.remote_url)} kept failing: {stderr}")

    def _rejection(self, reasons: list[str], output: str) -> GitError:
        """:class:`GitPushRejected` when the remote moved, else :class:`GitRemoteRefused` with what it
        said (its reasons and ``remote:`` lines, progress left out)."""
        remote = redact_url(self.remote_url)
        if all(_MOVED.search(reason) for reason in reasons):
            return GitPushRejected(f"git push to {remote} rejected: {output}")
        said = [
            line.strip()
            for line in re.split(r"[\r\n]", output)
            if line.startswith("remote:") and line[7:].strip() and not _PROGRESS.search(line)
        ]
        return GitRemoteRefused(
            f"git push to {remote} refused by the remote ({'; '.join(dict.fromkeys(reasons))}); pushing "
            "again cannot change that:\n" + "\n".join(said)
        )
