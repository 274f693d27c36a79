from __future__ import annotations

import multiprocessing
import struct
import threading
import time
from pathlib import Path

import pytest

from airflow_gitsync.workspace.ratelimit import (
    DECREASE,
    INCREASE_PER_SECOND,
    MAX_PAUSE,
    FileState,
    RateLimits,
    RedisState,
    TokenBucket,
)
from gitsync_devkit import cluster
from gitsync_devkit.servers import free_port


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_burst_then_steady_rate():
    clock = FakeClock()
    bucket = TokenBucket(10, burst=3, clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(3)]
    assert waits == [0, 0, 0]
    assert bucket.acquire() == pytest.approx(0.1)
    assert bucket.acquire() == pytest.approx(0.1)
    clock.now += 10  # idle time refills up to the burst only
    assert [bucket.acquire() for _ in range(3)] == [0, 0, 0]
    assert bucket.acquire() == pytest.approx(0.1)


def test_pause_holds_everyone_back():
    clock = FakeClock()
    bucket = TokenBucket(10, burst=5, clock=clock, sleep=lambda s: None)
    bucket.pause(2.0)
    assert bucket._reserve() == pytest.approx(2.0)
    assert bucket._reserve() == pytest.approx(2.1)
    bucket.pause(0.5)  # a shorter pause does not shorten the longer one
    assert bucket._reserve() == pytest.approx(2.2)
    clock.now += 10
    assert bucket._reserve() == 0  # the paused time does not count as saved-up burst beyond 5


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0.5)])
def test_bad_parameters(rate, burst):
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


def test_threads_share_the_rate():
    bucket = TokenBucket(200)
    count = 0
    lock = threading.Lock()

    def worker():
        nonlocal count
        for _ in range(20):
            bucket.acquire()
            with lock:
                count += 1

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    assert count == 160
    assert elapsed >= 159 / 200 * 0.95  # never faster than the rate (1 initial token)


def test_a_429_lowers_the_rate_at_most_once_a_second_and_quiet_time_restores_it():
    clock = FakeClock()
    bucket = TokenBucket(10, clock=clock, sleep=clock.sleep)
    bucket.throttled()
    assert bucket.factor == pytest.approx(DECREASE)
    bucket.throttled()  # the same burst of 429s: no second decrease
    assert bucket.factor == pytest.approx(DECREASE)
    clock.now += 1.0
    bucket.throttled()
    assert bucket.factor == pytest.approx((DECREASE + INCREASE_PER_SECOND) * DECREASE)
    bucket.acquire()
    assert bucket.acquire() == pytest.approx(1 / (10 * bucket.factor), rel=0.01)
    clock.now += 100
    assert bucket.factor == 1.0


def _drain(path: str, start: float, seconds: float, out) -> None:
    bucket = TokenBucket(50, state=FileState(Path(path)))
    time.sleep(max(start - time.monotonic(), 0))  # the monotonic clock is the machine's
    deadline = start + seconds
    count = 0
    while time.monotonic() < deadline:
        bucket.acquire()
        count += 1
    out.put(count)


@pytest.mark.realclock
def test_processes_sharing_a_file_share_one_rate(tmp_path):
    """Three processes on one bucket file get 50/s together, not 50/s each, on the real clock: never
    more than the rate, whatever the load (a loaded machine may give them less)."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    start = time.monotonic() + 5  # after the processes have started
    procs = [context.Process(target=_drain, args=(str(tmp_path / "b"), start, 2.0, out)) for _ in range(3)]
    for proc in procs:
        proc.start()
    counts = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join()
    assert sum(counts) <= 2.0 * 50 + 1 + 3  # 100, the burst, one slot per process in flight
    assert min(counts) >= 1  # each process gets a share


def test_a_state_file_from_another_boot_starts_fresh(tmp_path):
    path = tmp_path / "b"
    path.write_bytes(struct.pack("<4d", -500.0, time.monotonic() + 10**7, 0.1, 0.0))
    bucket = TokenBucket(10, state=FileState(path))
    assert bucket.acquire() == 0 and bucket.factor == 1.0


def _saved(path: Path, tokens: float, stamp: float, factor: float, changed: float) -> Path:
    path.write_bytes(struct.pack("<4d", tokens, stamp, factor, changed))
    return path


@pytest.mark.parametrize(
    "state",
    [
        (1.0, 100.0 + 1500, 1.0, 100.0),  # stamped ahead of the clock (a reboot that kept cache_dir)
        (1.0, 100.0, 0.5, 100.0 + 1500),
        (-1e12, 100.0, 1.0, 100.0),  # centuries of debt
        (1e12, 100.0, 1.0, 100.0),  # a burst far beyond the bucket's
        (1.0, 100.0, 0.0, 100.0),  # ZeroDivisionError
        (1.0, 100.0, -1.0, 100.0),  # the rest switch the limit off
        (1.0, 100.0, float("nan"), 100.0),
        (1.0, 100.0, float("inf"), 100.0),
        (1.0, 100.0, 3.0, 100.0),
        (float("nan"), 100.0, 1.0, 100.0),
        (1.0, float("nan"), 1.0, 100.0),
        (1.0, float("-inf"), 1.0, 100.0),
    ],
)
def test_a_state_that_is_not_sane_starts_fresh(tmp_path, state, caplog):
    clock = FakeClock()
    bucket = TokenBucket(10, state=FileState(_saved(tmp_path / "b", *state)), clock=clock, sleep=clock.sleep)
    assert bucket.acquire() == 0
    assert bucket.acquire() == pytest.approx(0.1)  # limited at the configured rate
    assert bucket.factor == 1.0
    assert "starts afresh" in caplog.text


@pytest.mark.parametrize("raw", [bytes(range(32)), b"\xff" * 32, b"junk", bytes(range(40))])
def test_a_state_file_of_other_bytes_starts_fresh(tmp_path, raw, caplog):
    clock = FakeClock()
    (tmp_path / "b").write_bytes(raw)
    bucket = TokenBucket(10, state=FileState(tmp_path / "b"), clock=clock, sleep=clock.sleep)
    assert bucket.acquire() == 0
    assert bucket.acquire() == pytest.approx(0.1)
    assert (tmp_path / "b").stat().st_size == 32
    assert "starts afresh" in caplog.text


def test_a_state_that_is_not_sane_is_reported_once_per_process(tmp_path, caplog):
    clock = FakeClock()
    path = tmp_path / "b"
    bucket = TokenBucket(10, state=FileState(path), clock=clock, sleep=clock.sleep)
    bucket.acquire()
    assert not caplog.records  # a new file is no fault
    for _ in range(3):
        _saved(path, -1e12, clock.now, 1.0, clock.now)
        assert TokenBucket(10, state=FileState(path), clock=clock, sleep=clock.sleep).acquire() == 0
    [record] = caplog.records
    assert record.levelname == "WARNING"
    assert f"{path} starts afresh: it held tokens -1e+12 outside [-256, 1]" in record.getMessage()


def test_sane_states_are_kept(tmp_path, caplog):
    """A pause's stamp ahead of the clock, a queue of callers, a lowered rate: shared as they are."""
    clock = FakeClock()
    path = tmp_path / "b"
    TokenBucket(10, state=FileState(path), clock=clock, sleep=clock.sleep).pause(60)
    assert TokenBucket(10, state=FileState(path), clock=clock, sleep=clock.sleep)._reserve() == pytest.approx(
        60
    )
    _saved(path, -200.0, clock.now, 0.05, clock.now)
    bucket = TokenBucket(10, state=FileState(path), clock=clock, sleep=clock.sleep)
    assert bucket.factor == pytest.approx(0.05)
    assert bucket._reserve() == pytest.approx(201 / 0.5)
    assert not caplog.records


def test_a_pause_is_at_most_max_pause(tmp_path):
    clock = FakeClock()
    bucket = TokenBucket(10, state=FileState(tmp_path / "b"), clock=clock, sleep=clock.sleep)
    bucket.pause(10**6)
    assert bucket._reserve() == pytest.approx(MAX_PAUSE)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with cluster.redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["file", "redis"])
def shared(request, tmp_path):
    """Opens the same shared state again, as another process (or machine) would."""
    if request.param == "file":
        return lambda: FileState(tmp_path / "b")
    import redis

    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    key = f"test:{request.node.name}"
    client.delete(key)
    return lambda: RedisState(client, key)


def test_buckets_on_one_state_share_one_rate(shared):
    clock = FakeClock()
    one, two = (TokenBucket(10, state=shared(), clock=clock, sleep=clock.sleep) for _ in range(2))
    assert one._reserve() == 0
    assert two._reserve() == pytest.approx(0.1)
    assert one._reserve() == pytest.approx(0.2)
    clock.now += 10
    assert two._reserve() == 0


def test_a_429_and_a_pause_reach_every_sharer(shared):
    clock = FakeClock()
    one, two = (TokenBucket(10, state=shared(), clock=clock, sleep=clock.sleep) for _ in range(2))
    one.throttled()
    assert two.factor == pytest.approx(DECREASE)
    two.pause(30)
    assert one._reserve() == pytest.approx(30)


def test_a_redis_state_that_is_not_sane_starts_fresh(redis_url, caplog):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.set("test:junk", b"\xff" * 32)
    clock = FakeClock()
    bucket = TokenBucket(10, state=RedisState(client, "test:junk"), clock=clock, sleep=clock.sleep)
    assert bucket.acquire() == 0
    assert bucket.acquire() == pytest.approx(0.1)
    assert "redis key test:junk starts afresh" in caplog.text


def test_a_redis_that_fails_leaves_the_process_to_limit_itself(caplog):
    import redis

    client = redis.Redis(port=free_port(), socket_connect_timeout=1)
    clock = FakeClock()
    bucket = TokenBucket(10, state=RedisState(client, "k"), clock=clock, sleep=clock.sleep)
    assert [bucket._reserve() for _ in range(3)] == pytest.approx([0, 0.1, 0.2])
    [record] = caplog.records  # warned once, not on every call
    assert record.levelname == "WARNING" and "limits itself alone" in record.getMessage()


def test_rate_limits_share_per_workspace_and_endpoint(tmp_path, redis_url):
    first, second, other = (
        RateLimits({"list": 10, "export": 10}, scope, redis_url=redis_url) for scope in ("ws1", "ws1", "ws2")
    )
    try:
        assert first.buckets["list"]._reserve() == 0
        assert second.buckets["list"]._reserve() > 0  # the same workspace's list calls
        assert second.buckets["export"]._reserve() == 0  # another endpoint class
        assert other.buckets["list"]._reserve() == 0  # another workspace
    finally:
        for limits in (first, second, other):
            limits.close()
    files = RateLimits({"list": 10}, "ws1", local_dir=tmp_path)
    assert files.buckets["list"]._reserve() == 0
    files.close()
    assert (tmp_path / "ws1-list.bucket").stat().st_size == 32


def test_a_failing_redis_with_a_password_in_its_url_never_logs_it(caplog):
    limits = RateLimits({"list": 10}, "ws", redis_url=f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0")
    try:
        assert limits.buckets["list"]._reserve() == 0  # limited alone, not failed
    finally:
        limits.close()
    assert "limits itself alone" in caplog.text and "s3cret-pw" not in caplog.text
