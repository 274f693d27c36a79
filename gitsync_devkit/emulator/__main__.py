"""The emulator's command line: ``python -m gitsync_devkit.emulator --help``."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from pathlib import Path

import gitsync_devkit.emulator as package
from gitsync_devkit.emulator import EmulatorConfig, WorkspaceEmulator


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _non_negative(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text!r}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port (0-65535): {text!r}")
    return int(text)


def _count_arg(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a non-negative integer: {text!r}")
    return int(text)


def _years(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",")]
    if not parts or not all(len(p) == 4 and p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"not a comma-separated list of years (2019,2020): {text!r}")
    return tuple(int(p) for p in parts)


def _parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog="python -m gitsync_devkit.emulator", description=package.__doc__.split("\n")[0]
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--workspace", type=Path, help="load this directory (notebooks as .py/.sql/.scala/.r sources)"
    )
    source.add_argument(
        "--generate", type=_count_arg, metavar="N", help="generate a synthetic workspace of N notebooks"
    )
    parser.add_argument(
        "--years",
        type=_years,
        metavar="Y,Y,...",
        help="with --generate: the year folders to spread the engagements over (default 2023,2024,2025)",
    )
    parser.add_argument("--port", type=_port, required=True, help="TCP port (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", required=True, help="the accepted bearer token")
    parser.add_argument("--root", default="/Clients", help="workspace folder to load into (default /Clients)")
    parser.add_argument("--latency-ms", type=_non_negative, default=0.0)
    parser.add_argument(
        "--export-rps", type=_non_negative, default=0.0, help="export requests/s (0 = unlimited)"
    )
    parser.add_argument("--list-rps", type=_non_negative, default=0.0, help="list requests/s (0 = unlimited)")
    parser.add_argument(
        "--import-rps", type=_non_negative, default=0.0, help="import requests/s (0 = unlimited)"
    )
    parser.add_argument("--fault-rate", type=_fraction, default=0.0)
    parser.add_argument("--drop-rate", type=_fraction, default=0.0)
    parser.add_argument("--missing-modified-at-rate", type=_fraction, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ready-file", type=Path, help="write the URL here once listening")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.workspace is not None and not args.workspace.is_dir():
        parser.error(f"workspace directory not found: {args.workspace}")
    if args.years is not None and args.generate is None:
        parser.error("--years needs --generate")
    if not args.root.startswith("/"):
        parser.error(f"--root must be an absolute workspace path: {args.root!r}")
    config = EmulatorConfig(
        latency_ms=args.latency_ms,
        rates={
            "export": args.export_rps or None,
            "list": args.list_rps or None,
            "import": args.import_rps or None,
        },
        fault_rate=args.fault_rate,
        drop_rate=args.drop_rate,
        missing_modified_at_rate=args.missing_modified_at_rate,
        seed=args.seed,
    )
    emu = WorkspaceEmulator(token=args.token, config=config)
    if args.workspace is not None:
        count = emu.load_directory(args.workspace, root=args.root)
    else:
        years = {} if args.years is None else {"years": args.years}
        count = emu.load_generated(args.generate, seed=args.seed, root=args.root, **years)
    try:
        emu.start(args.host, args.port)
    except OSError as exc:
        parser.error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"workspace emulator: {count} objects under {args.root}, listening on {emu.url}", flush=True)
    if args.ready_file is not None:
        args.ready_file.write_text(emu.url + "\n")
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
