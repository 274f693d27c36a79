import logging

from airflow_gitsync.workspace.progress import Progress


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_logs_at_most_every_interval_with_rate_eta_retries_and_429s(caplog):
    clock = Clock()
    stats = {"export": {"retries": 3, "http_429": 1}, "list": {"retries": 1, "http_429": 0}}
    progress = Progress("export", 100, lambda: stats, logging.getLogger("t"), interval=10, clock=clock)
    with caplog.at_level(logging.INFO):
        for _ in range(40):
            clock.now += 0.5
            progress.advance()
        progress.finish()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "export: 20 / 100 objects (20%), 2.0/s, ETA 40 s; 4 retries, 1 429s",
        "export: 40 / 100 objects (40%), 2.0/s, ETA 30 s; 4 retries, 1 429s",
        "export: 40 / 100 objects (40%), 2.0/s, ETA 30 s; 4 retries, 1 429s in 20.0 s",
    ]


def test_an_open_ended_count_has_no_eta():
    clock = Clock()
    clock.now = 0.0
    progress = Progress("list /Clients/2024", None, dict, logging.getLogger("t"), clock=clock)
    progress.advance(5)
    clock.now = 2.0
    assert progress.line() == "list /Clients/2024: 5 objects, 2.5/s; 0 retries, 0 429s"
