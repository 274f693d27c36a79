"""Airflow in its production shape on this machine: PostgreSQL as the metadata database, Redis as the
Celery broker, Azurite (Azure Blob Storage) as the staging and XCom store, the CeleryExecutor and several
``airflow celery worker`` processes, each with its own ``[gitsync] cache_dir`` as on its own machine.

Every service is a throwaway instance on free ports in temp dirs, so a running system instance is not
touched and a machine with the binaries but no service works too. A missing binary raises
:class:`MissingTool`, one line naming what to install.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from gitsync_devkit.delay_proxy import DelayProxy
from gitsync_devkit.local_airflow import REPO_ROOT, LocalAirflow
from gitsync_devkit.servers import free_port, spawn, wait_ready

AZURITE = REPO_ROOT / "gitsync_devkit" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account and key (published by Microsoft; not a secret anywhere else).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
STAGING_CONN_ID = "gitsync_staging"
CONTAINER = "gitsync"
STAGING, XCOM = "staging", "xcom"  # the prefixes in CONTAINER of the staging store and of the XComs
# XCom values of this many bytes or more go to the object store: at 70,000 notebooks the 20-22 values
# of 0.1-7 MB of a run (64 MB a full sync), not the ~30 small ones (benchmarks/RESULTS.md).
XCOM_THRESHOLD = 65536


class MissingTool(RuntimeError):
    """A binary the cluster needs is not installed; the message is one line naming the package."""


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the workers: their name (``GITSYNC_WORKER_HOSTNAME``), as on a
    machine of its own. Airflow records it as a task instance's ``hostname`` (``--celery-hostname`` not)."""
    return os.environ.get("GITSYNC_WORKER_HOSTNAME") or socket.getfqdn()


def _which(name: str, package: str, folder: str | None = None) -> str:
    path = shutil.which(name, path=folder)
    if not path:
        raise MissingTool(f"{name} not found{f' in {folder}' if folder else ''}: apt-get install {package}")
    return path


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def postgres(workdir: Path) -> Iterator[str]:
    """A PostgreSQL cluster (``initdb``/``pg_ctl`` from ``pg_config --bindir``) with database ``airflow``
    owned by user ``airflow`` (trust auth, 127.0.0.1 only, no fsync); yields its SQLAlchemy URL.

    PostgreSQL refuses to run as root: as root it runs as user ``postgres`` from a data dir of its own.
    """
    bindir = subprocess.run(
        [_which("pg_config", "postgresql"), "--bindir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    initdb, pg_ctl = _which("initdb", "postgresql", bindir), _which("pg_ctl", "postgresql", bindir)
    data = Path(tempfile.mkdtemp(prefix="gitsync-postgres-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    log = workdir / "postgres.log"
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
    try:
        for argv in (
            [initdb, "-D", f"{data}/db", "-U", "airflow", "-A", "trust", "-E", "UTF8", "--no-sync"],
            [pg_ctl, "-D", f"{data}/db", "-l", f"{data}/server.log", "-o", options, "-w", "start"],
            [f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "airflow"],
        ):
            done = subprocess.run(as_user + argv, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
        yield f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", f"{data}/db", "-m", "immediate", "stop"], capture_output=True)
        if (data / "server.log").exists():
            shutil.copy(data / "server.log", log)
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def redis(workdir: Path) -> Iterator[str]:
    """A Redis server keeping nothing on disk; yields its URL."""
    port = free_port()
    (workdir / "redis").mkdir(exist_ok=True)
    argv = [_which("redis-server", "redis-server"), "--port", str(port), "--bind", "127.0.0.1"]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(workdir / "redis")]
    with ExitStack() as stack:
        proc = spawn(stack, "redis", argv, workdir)
        wait_ready("redis", proc, workdir / "redis.log", lambda: _listening(port), 60)
        yield f"redis://127.0.0.1:{port}/0"


def storage_connection_string(port: int) -> str:
    """The connection string of Azurite's development account on 127.0.0.1:``port``."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )


@contextmanager
def azurite(workdir: Path) -> Iterator[str]:
    """Azurite's blob service (the npm package ``make install`` puts into the checkout) with container
    ``gitsync``; yields the storage account's connection string.

    ``<workdir>/azurite.log`` gets its access log, a line per request answered (:data:`ACCESS_LOG`)."""
    _which("node", "nodejs")
    if not AZURITE.exists():
        raise MissingTool(f"{AZURITE} not found: run make install (npm package azurite; apt-get install npm)")
    port = free_port()
    (workdir / "azurite").mkdir(exist_ok=True)
    argv = [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port)]
    argv += ["--location", str(workdir / "azurite"), "--skipApiVersionCheck", "--loose"]
    argv += ["--disableTelemetry"]  # no calls home
    with ExitStack() as stack:
        proc = spawn(stack, "azurite", argv, workdir)
        wait_ready("azurite", proc, workdir / "azurite.log", lambda: _listening(port), 60)
        connection_string = storage_connection_string(port)
        from azure.storage.blob import BlobServiceClient

        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
        BlobServiceClient.from_connection_string(connection_string).create_container(CONTAINER)
        yield connection_string


# A line of Azurite's access log (morgan's "common" format), e.g.
# 127.0.0.1 - - [01/Jan/2025:00:00:00 +0000] "GET /devstoreaccount1/gitsync/xcom/a HTTP/1.1" 200 12
ACCESS_LOG = re.compile(r'\] "(?P<method>[A-Z]+) (?P<target>\S+) HTTP/[\d.]+" (?P<status>\d{3}) ')


def request_kind(method: str, target: str) -> tuple[str, str]:
    """What a request to the storage account (path-style ``/<account>/<container>/<blob>?<query>``) is for:
    ``staging``, ``xcom`` (the prefixes of container ``gitsync`` :func:`cluster_settings` sets) or
    ``other``; and its operation, the HTTP method or ``LIST`` for a listing of the container."""
    path, _, query = target.partition("?")
    params = parse_qs(query)
    parts = unquote(path).split("/", 3)  # "", the account, the container, the blob
    container = parts[2] if len(parts) > 2 else ""
    if params.get("comp") == ["list"]:
        operation, key = "LIST", params.get("prefix", [""])[0]
    else:
        operation, key = method, parts[3] if len(parts) > 3 else ""
    prefix = key.split("/", 1)[0]
    return (prefix if container == CONTAINER and key and prefix in (STAGING, XCOM) else "other"), operation


def cluster_settings(
    database: str, broker: str, storage: str, xcom_threshold: int = XCOM_THRESHOLD
) -> dict[str, str]:
    """The Airflow settings of a Celery deployment whose staging store and large XComs live in Azure Blob
    Storage (``storage``: a connection string); ``docker-compose.yaml`` sets the same keys."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{database}",
        f"AIRFLOW_CONN_{STAGING_CONN_ID.upper()}": json.dumps(
            {"conn_type": "wasb", "extra": {"connection_string": storage}}
        ),
        "AIRFLOW__GITSYNC__STAGING_URL": f"abfs://{CONTAINER}/{STAGING}",
        "AIRFLOW__GITSYNC__STAGING_CONN_ID": STAGING_CONN_ID,
        "AIRFLOW__CORE__XCOM_BACKEND": "airflow.providers.common.io.xcom.backend.XComObjectStorageBackend",
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH": f"abfs://{STAGING_CONN_ID}@{CONTAINER}/{XCOM}",
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD": str(xcom_threshold),
    }


class CeleryAirflow(LocalAirflow):
    """:class:`LocalAirflow` on Postgres + Redis + Azurite with the CeleryExecutor and ``workers``
    (``airflow celery worker`` processes, by name).

    ``workdir`` holds the services' data and logs and each worker's ``cache_dir``; ``xcom_threshold`` is
    the size from which an XCom value goes to the object store. With ``storage_delay_ms``, Airflow reaches
    the storage account through a :class:`DelayProxy` (:attr:`proxy`) that holds back each request by that
    long, as a remote storage account's round trip; :attr:`storage` is Azurite's own connection string.
    With ``fresh_pods``, every task runs with an empty ``cache_dir`` of its own, as in a new Kubernetes pod
    (:mod:`gitsync_devkit.fresh_pods`).
    """

    def __init__(
        self,
        env: dict[str, str],
        workdir: Path,
        workers: tuple[str, ...] = ("worker-a", "worker-b"),
        xcom_threshold: int = XCOM_THRESHOLD,
        parallelism: int = 8,
        storage_delay_ms: float = 0,
        fresh_pods: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(env, parallelism, **kwargs)
        self.overrides = kwargs.get("extra") or {}  # over the cluster's settings too
        self.workdir = workdir
        self.worker_names = workers
        self.xcom_threshold = xcom_threshold
        self.workers: dict[str, subprocess.Popen] = {}
        self.services = ExitStack()
        self.storage = ""
        self.storage_delay_ms = storage_delay_ms
        self.proxy: DelayProxy | None = None
        self.fresh_pods = fresh_pods

    def __enter__(self) -> CeleryAirflow:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with ExitStack() as services:
            database = services.enter_context(postgres(self.workdir))
            broker = services.enter_context(redis(self.workdir))
            self.storage = storage = services.enter_context(azurite(self.workdir))
            if self.storage_delay_ms:
                port = urlsplit(_setting(self.storage, "BlobEndpoint")).port
                self.proxy = services.enter_context(DelayProxy(port, self.storage_delay_ms))
                storage = storage_connection_string(self.proxy.port)
            self.env |= cluster_settings(database, broker, storage, self.xcom_threshold) | self.overrides
            super().__enter__()
            self.services = services.pop_all()
        try:
            for name in self.worker_names:
                self.wait_worker(name)
        except BaseException:
            self.__exit__()
            raise
        return self

    def start_components(self) -> None:
        super().start_components()
        for name in self.worker_names:
            self.start_worker(name)

    def __exit__(self, *exc_info: object) -> None:
        # A worker's children (pool, log server, tasks) may outlive a stopped worker: killed after it.
        children = [child for proc in self.workers.values() for child in _tree(proc.pid)[1:]]
        try:
            super().__exit__(*exc_info)
        finally:
            _signal(children, signal.SIGKILL)
            self.services.close()

    def storage_log_offset(self) -> int:
        """Where Azurite's access log ends now: :meth:`storage_requests` counts from there."""
        return (self.workdir / "azurite.log").stat().st_size

    def storage_requests(self, since: int = 0) -> dict[str, dict[str, int]]:
        """The requests to the storage account Azurite has answered since offset ``since`` of its access
        log: by :func:`request_kind`, ``{kind: {"total": n, operation: n, ..., "4xx/5xx": n}}``."""
        with (self.workdir / "azurite.log").open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
        counts: dict[str, dict[str, int]] = {kind: {"total": 0} for kind in (STAGING, XCOM, "other")}
        for line in text.splitlines():
            if match := ACCESS_LOG.search(line):
                kind, operation = request_kind(match["method"], match["target"])
                for key in ("total", operation) + (("4xx/5xx",) if int(match["status"]) >= 400 else ()):
                    counts[kind][key] = counts[kind].get(key, 0) + 1
        return counts

    def cache_dir(self, name: str) -> Path:
        """The ``[gitsync] cache_dir`` of worker ``name``: its git mirror and rate-limit files (with
        ``fresh_pods``, the folder that holds each running task's own)."""
        return self.workdir / name / "cache"

    def start_worker(self, name: str, concurrency: int = 2) -> None:
        """Start ``airflow celery worker`` named ``name`` (its own cache_dir, log server port and hostname),
        taking tasks from the default queue; :meth:`wait_worker` waits until it has joined."""
        env = {
            "AIRFLOW__GITSYNC__CACHE_DIR": str(self.cache_dir(name)),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
            "GITSYNC_WORKER_HOSTNAME": name,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        }
        if self.fresh_pods:
            env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] = "gitsync_devkit.fresh_pods.CELERY_CONFIG"
        args = ["celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", str(concurrency)]
        self.workers[name] = self.start(name, *args, env=env)

    def wait_worker(self, name: str, timeout: float = 300) -> None:
        """Wait until worker ``name`` has joined: its mailbox is bound in the broker, as a worker's is just
        before it consumes (its "ready" log line depends on the log level)."""
        import redis as redis_client

        broker = redis_client.Redis.from_url(self.env["AIRFLOW__CELERY__BROKER_URL"])
        mailboxes = lambda: broker.smembers("_kombu.binding.celery.pidbox")  # noqa: E731
        joined = lambda: any(f"{name}@".encode() in mailbox for mailbox in mailboxes())  # noqa: E731
        wait_ready(name, self.workers[name], self.home / f"{name}.log", joined, timeout)
        broker.close()

    def kill_worker(self, name: str) -> None:
        """``kill -9`` worker ``name`` and every process under it (its running tasks), as a machine dies."""
        proc = self.workers.pop(name)
        _signal(_tree(proc.pid), signal.SIGSTOP)  # first, so that nothing forks meanwhile
        _signal(_tree(proc.pid), signal.SIGKILL)
        proc.wait()


def _setting(connection_string: str, name: str) -> str:
    """Setting ``name`` of a storage account's connection string."""
    return next(p.split("=", 1)[1] for p in connection_string.split(";") if p.startswith(f"{name}="))


def _tree(pid: int) -> list:
    """The process ``pid`` and all its descendants (``psutil.Process``), or nothing if it has gone."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal(processes: list, signum: int) -> None:
    import psutil

    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signum)
