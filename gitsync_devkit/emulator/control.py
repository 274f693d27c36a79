"""The control surface over HTTP, ``/_emulator/<name>``: the ``WorkspaceEmulator`` test methods as JSON
endpoints, so tests, benchmarks and the demo can drive an emulator running in another process."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gitsync_devkit.emulator.handlers import b64decode
from gitsync_devkit.emulator.replies import error_reply

if TYPE_CHECKING:
    from gitsync_devkit.emulator.workspace_emulator import WorkspaceEmulator


def control(
    emu: WorkspaceEmulator, method: str, name: str, query: dict[str, str], body: dict[str, Any]
) -> Any:
    """Dispatch ``/_emulator/<name>``; returns the JSON payload."""
    routes: dict[tuple[str, str], Callable[[], Any]] = {
        ("POST", "notebooks"): lambda: emu.put_notebook(
            body["path"], b64decode(body["content"]), body.get("language", "PYTHON")
        ),
        ("POST", "files"): lambda: emu.put_file(body["path"], b64decode(body["content"])),
        ("POST", "mkdirs"): lambda: emu.mkdirs(body["path"]),
        ("POST", "delete"): lambda: emu.delete(body["path"], bool(body.get("recursive", False))),
        ("POST", "rename"): lambda: emu.rename(body["old"], body["new"]),
        ("POST", "modify"): lambda: emu.modify_notebook(
            body["path"],
            None if body.get("content") is None else b64decode(body["content"]),
            bool(body.get("touch", True)),
        ),
        ("POST", "modified-at"): lambda: emu.set_modified_at(body["path"], body.get("value")),
        ("POST", "generate"): lambda: {
            "objects": emu.load_generated(
                int(body["n"]), int(body.get("seed", 0)), body.get("root", "/Clients")
            )
        },
        ("GET", "objects"): lambda: {"objects": emu.objects()},
        ("GET", "snapshot"): lambda: {
            "objects": {
                p: base64.b64encode(c).decode() for p, c in emu.snapshot(query.get("root", "/")).items()
            }
        },
        ("GET", "counters"): emu.counters,
        ("POST", "reset-counters"): emu.reset_counters,
        ("POST", "faults"): lambda: emu.set_faults(
            **{k: body[k] for k in ("fault_rate", "drop_rate", "latency_ms", "rates") if k in body}
        ),
        ("POST", "reset-faults"): emu.reset_faults,
        ("POST", "failures"): lambda: emu.inject_failure(
            body["path_prefix"],
            tuple(body.get("endpoints", ("export",))),
            int(body.get("status", 500)),
            body.get("error_code", "INTERNAL_ERROR"),
        ),
        ("POST", "clear-failures"): emu.clear_failures,
        ("POST", "tokens"): lambda: emu.add_token(body["token"]),
    }
    route = routes.get((method, name))
    if route is None:
        raise error_reply(
            404, "ENDPOINT_NOT_FOUND", f"No emulator control endpoint {method} /_emulator/{name}"
        )
    try:
        result = route()
    except KeyError as exc:
        raise error_reply(400, "INVALID_PARAMETER_VALUE", f"Missing required field: {exc.args[0]}") from exc
    except (ValueError, TypeError) as exc:
        raise error_reply(400, "INVALID_PARAMETER_VALUE", str(exc)) from exc
    return result if result is not None else {}
