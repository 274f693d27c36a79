"""Databricks Workspace API emulator: a threaded HTTP/1.1 server over an in-memory workspace.

Workspace API (``Authorization: Bearer <token>``; missing -> 401, unknown token -> 403)::

    GET  /api/2.0/workspace/list?path=[&notebooks_modified_after=]   {"objects": [...]} or {} when empty
    GET  /api/2.0/workspace/get-status?path=
    GET  /api/2.0/workspace/export?path=&format=SOURCE|AUTO|JUPYTER|HTML|R_MARKDOWN|RAW[&direct_download=true]
    POST /api/2.0/workspace/import   JSON {path, content (base64), format, language, overwrite} or the
                                     multipart form that ``WorkspaceClient.workspace.upload`` sends
    POST /api/2.0/workspace/delete   {path, recursive}
    POST /api/2.0/workspace/mkdirs   {path}

Errors are ``{"error_code": ..., "message": ...}``: 404 RESOURCE_DOES_NOT_EXIST, 400 RESOURCE_ALREADY_EXISTS,
400 DIRECTORY_NOT_EMPTY, 400 MAX_NOTEBOOK_SIZE_EXCEEDED (notebook export or import over 10485760 bytes;
a FILE over the limit gives 400 BAD_REQUEST with the same message), 400 INVALID_PARAMETER_VALUE,
429 REQUEST_LIMIT_EXCEEDED (integer ``Retry-After``), 500 INTERNAL_ERROR, 503 TEMPORARILY_UNAVAILABLE.
A directory exports (SOURCE/AUTO) as a zip of its notebooks' sources and files; listing a notebook or
file path returns that one object. Paths are case-sensitive; request bodies may be chunked.

Knobs (``EmulatorConfig``; all random choices come from one RNG seeded with ``seed``): ``latency_ms`` per
request, ``rates`` per endpoint class ("list", "export", "import", "other"; None/0 = unlimited) as token
buckets with one second of burst, ``fault_rate`` (random 500/503), ``drop_rate`` (connection closed without
an answer), ``missing_modified_at_rate`` (that fraction of notebooks and files, chosen by object id, show
no ``modified_at`` or 0). Per request: latency, auth, rate limit, drop, fault, injected failure, handler.

Control surface, the same bearer token, JSON in and out (content is base64), never throttled or faulted::

    POST /_emulator/notebooks {path, content, language}    POST /_emulator/files {path, content}
    POST /_emulator/mkdirs {path}                          POST /_emulator/delete {path, recursive}
    POST /_emulator/rename {old, new}                      POST /_emulator/modify {path, content?, touch?}
    POST /_emulator/modified-at {path, value}              POST /_emulator/generate {n, seed, root}
    GET  /_emulator/objects                                GET  /_emulator/snapshot?root=  (base64 content)
    GET  /_emulator/counters                               POST /_emulator/reset-counters
    POST /_emulator/faults {fault_rate?, drop_rate?, latency_ms?, rates?}   POST /_emulator/reset-faults
    POST /_emulator/failures {path_prefix, endpoints, status, error_code}   POST /_emulator/clear-failures
    POST /_emulator/tokens {token}

``modify`` with ``"touch": false`` changes the content, not ``modified_at`` (drift a daily backup misses).

CLI: ``python -m gitsync_devkit.emulator --port P (--workspace DIR | --generate N)
--token T [...]``; see ``--help``. Bad input gives one ``error: ...`` line on stderr and exit code 2.

Modules: ``workspace_emulator`` (``WorkspaceEmulator``: lifecycle, content, counters), ``model`` (the
in-memory tree), ``handlers`` (the Workspace API), ``formats`` (export and import formats), ``faults``
(``EmulatorConfig``: rate limits, faults, injected failures), ``control`` (``/_emulator/``), ``server``
(HTTP), ``replies`` (the answers they raise), ``__main__`` (the CLI).
"""

from gitsync_devkit.emulator.faults import EmulatorConfig
from gitsync_devkit.emulator.workspace_emulator import WorkspaceEmulator

__all__ = ["EmulatorConfig", "WorkspaceEmulator"]
