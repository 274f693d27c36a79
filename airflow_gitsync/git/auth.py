"""How credentials reach one git command: through its environment, never its argv or config files.

HTTP credentials become an ``http.<remote-url>.extraHeader`` passed with ``GIT_CONFIG_COUNT`` /
``GIT_CONFIG_KEY_n`` / ``GIT_CONFIG_VALUE_n``, so the header goes only to that remote and nothing
is written to ``.git/config``. An SSH key goes to a 0600 temporary file named by
``GIT_SSH_COMMAND`` and is deleted when the command ends.
"""

from __future__ import annotations

import base64
import os
import shlex
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class GitAuth:
    """One way to authenticate to a git remote; build with the class methods."""

    method: str
    identity: str = ""
    _username: str = ""
    _secret: str = field(default="", repr=False)
    _token_provider: Callable[[], str] | None = field(default=None, repr=False)
    _issued: list[str] = field(default_factory=list, repr=False)

    @classmethod
    def none(cls) -> GitAuth:
        """No credentials (a local path, or a remote that needs none)."""
        return cls("none")

    @classmethod
    def basic(cls, username: str, pat: str) -> GitAuth:
        """A personal access token as HTTP Basic password; Azure DevOps ignores the user name."""
        if not pat:
            raise ValueError("a PAT is required for basic authentication")
        return cls("pat", identity=username or "", _username=username or "pat", _secret=pat)

    @classmethod
    def bearer(cls, token_provider: Callable[[], str], identity: str) -> GitAuth:
        """An OAuth bearer token, asked of ``token_provider`` for every command (it should cache)."""
        return cls("bearer", identity=identity, _token_provider=token_provider)

    @classmethod
    def ssh(cls, private_key: str) -> GitAuth:
        """An SSH private key (OpenSSH or PEM text)."""
        if not private_key.strip():
            raise ValueError("the SSH private key is empty")
        return cls("ssh", _secret=private_key if private_key.endswith("\n") else private_key + "\n")

    def describe(self) -> str:
        """What authenticates, for the audit log; never the secret."""
        return f"{self.method} {self.identity}".strip()

    def secrets(self) -> list[str]:
        """Every secret value this auth has used or will use, to register with a secrets masker."""
        values = [self._secret, *self._issued]
        if self.method == "pat":
            values.append(self._basic_credentials())
        values += [base64.b64encode(f"{self._username}:{t}".encode()).decode() for t in self._issued]
        return [v for v in dict.fromkeys(values) if v]

    def _basic_credentials(self) -> str:
        return base64.b64encode(f"{self._username}:{self._secret}".encode()).decode()

    def http_header(self) -> tuple[str, str] | None:
        """The ``Authorization`` header for an HTTPS request to the same host (a REST call), or None
        (SSH, anonymous)."""
        header = self._header()
        return None if header is None else ("Authorization", header.partition(": ")[2])

    def _header(self) -> str | None:
        if self.method == "pat":
            return f"Authorization: Basic {self._basic_credentials()}"
        if self.method == "bearer":
            assert self._token_provider is not None
            token = self._token_provider()
            if token not in self._issued:
                self._issued.append(token)
            return f"Authorization: Bearer {token}"
        return None

    @contextmanager
    def env(self, remote_url: str) -> Iterator[dict[str, str]]:
        """Environment variables that authenticate one git command against ``remote_url``."""
        env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "SSH_ASKPASS": "true"}
        config = [("credential.helper", "")]  # no helper may store or offer credentials
        if header := self._header():
            config.append((f"http.{remote_url}.extraHeader", header))
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for n, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{n}"] = key
            env[f"GIT_CONFIG_VALUE_{n}"] = value
        if self.method != "ssh":
            yield env
            return
        fd, key_file = tempfile.mkstemp(prefix="gitsync-key-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(self._secret)
            env["GIT_SSH_COMMAND"] = (
                f"ssh -i {shlex.quote(key_file)} -o IdentitiesOnly=yes -o BatchMode=yes"
                " -o StrictHostKeyChecking=accept-new"
            )
            yield env
        finally:
            os.unlink(key_file)
