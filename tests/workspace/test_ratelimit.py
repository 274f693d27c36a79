from __future__ import annotations

import threading
import time

import pytest

from airflow_gitsync.workspace.ratelimit import TokenBucket


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
