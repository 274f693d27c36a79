"""The emulator over plain HTTP: status codes, bodies, knobs, counters, failures, the /_emulator/ surface."""

from __future__ import annotations

import base64
import http.client
import io
import json
import threading
import time
import zipfile
from collections.abc import Callable

import pytest
import requests

from gitsync_devkit.emulator import EmulatorConfig, WorkspaceEmulator
from gitsync_devkit.emulator.model import WorkspaceError

Factory = Callable[..., WorkspaceEmulator]
NB = b"# Databricks notebook source\nx = 1\n"


def session(token: str | None = "dapi-test") -> requests.Session:
    s = requests.Session()
    if token is not None:
        s.headers["Authorization"] = f"Bearer {token}"
    return s


def api(
    emu: WorkspaceEmulator, endpoint: str, s: requests.Session | None = None, **params
) -> requests.Response:
    return (s or session()).get(f"{emu.url}/api/2.0/workspace/{endpoint}", params=params, timeout=10)


def post(
    emu: WorkspaceEmulator, endpoint: str, body: dict, s: requests.Session | None = None
) -> requests.Response:
    return (s or session()).post(f"{emu.url}/api/2.0/workspace/{endpoint}", json=body, timeout=10)


def control(emu: WorkspaceEmulator, name: str, body: dict | None = None, method: str = "POST", **params):
    answer = session().request(method, f"{emu.url}/_emulator/{name}", json=body, params=params, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_list_returns_real_fields_and_empty_directory_is_an_empty_object(emulator: WorkspaceEmulator):
    emulator.put_notebook("/Clients/2024/E/NOTEBOOKS/nb", NB, language="PYTHON")
    emulator.mkdirs("/Clients/2024/E/empty")
    answer = api(emulator, "list", path="/Clients/2024/E/NOTEBOOKS")
    assert answer.status_code == 200
    [obj] = answer.json()["objects"]
    assert set(obj) == {
        "object_type",
        "path",
        "language",
        "object_id",
        "resource_id",
        "created_at",
        "modified_at",
        "size",
    }
    assert (obj["object_type"], obj["language"], obj["size"]) == ("NOTEBOOK", "PYTHON", len(NB))
    assert isinstance(obj["modified_at"], int) and obj["modified_at"] > 1_700_000_000_000
    assert api(emulator, "list", path="/Clients/2024/E/empty").json() == {}
    directories = api(emulator, "list", path="/Clients/2024").json()["objects"]
    assert {o["object_type"] for o in directories} == {"DIRECTORY"} and "language" not in directories[0]


def test_missing_path_is_404_resource_does_not_exist(emulator: WorkspaceEmulator):
    for endpoint in ("list", "get-status", "export"):
        answer = api(emulator, endpoint, path="/x")
        assert answer.status_code == 404
        assert answer.json() == {
            "error_code": "RESOURCE_DOES_NOT_EXIST",
            "message": "Path (/x) doesn't exist.",
        }
    assert post(emulator, "delete", {"path": "/x"}).status_code == 404


def test_auth_missing_is_401_and_wrong_is_403(emulator: WorkspaceEmulator):
    missing = api(emulator, "list", session(None), path="/")
    assert missing.status_code == 401 and missing.json()["error_code"] == "UNAUTHENTICATED"
    wrong = api(emulator, "list", session("nope"), path="/")
    assert wrong.status_code == 403 and wrong.json() == {
        "error_code": "PERMISSION_DENIED",
        "message": "Invalid access token.",
    }
    assert requests.get(f"{emulator.url}/_emulator/counters", timeout=10).status_code == 401
    emulator.add_token("eyJ.aad")
    assert api(emulator, "list", session("eyJ.aad"), path="/").status_code == 200
    assert emulator.counters()["list"] == {"requests": 3, "ok": 1, "429": 0, "5xx": 0, "dropped": 0, "4xx": 2}


def test_export_formats_and_direct_download(emulator: WorkspaceEmulator):
    source = b"-- Databricks notebook source\nSELECT 1\n\n-- COMMAND ----------\n\nSELECT 2\n"
    emulator.put_notebook("/Clients/q", source, language="SQL")
    assert api(emulator, "export", path="/Clients/q", direct_download="true").content == source
    as_json = api(emulator, "export", path="/Clients/q", format="SOURCE").json()
    assert as_json == {"content": base64.b64encode(source).decode(), "file_type": "sql"}
    assert api(emulator, "export", path="/Clients/q", format="AUTO").json()["file_type"] == "sql"
    assert api(emulator, "export", path="/Clients/q", format="JUPYTER").json()["file_type"] == "ipynb"
    assert (
        b"SELECT 2"
        in api(emulator, "export", path="/Clients/q", format="HTML", direct_download="true").content
    )
    bad = api(emulator, "export", path="/Clients/q", format="R_MARKDOWN")
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_export_of_a_directory_is_a_zip_and_of_a_library_is_refused(emulator: WorkspaceEmulator):
    emulator.put_notebook("/Z/a", NB)
    emulator.put_file("/Z/sub/b.txt", b"bee")
    zipped = api(emulator, "export", path="/Z", format="AUTO", direct_download="true")
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        assert {n: archive.read(n) for n in archive.namelist()} == {"a.py": NB, "sub/b.txt": b"bee"}
    source = api(emulator, "export", path="/Z", format="SOURCE", direct_download="true")
    with zipfile.ZipFile(io.BytesIO(source.content)) as archive:
        assert archive.namelist() == ["a.py"]  # SOURCE leaves workspace files out
    emulator.put_notebook("/Z/sub/huge", NB + b"#" * 10_485_761)
    too_big = api(emulator, "export", path="/Z", format="AUTO")
    assert too_big.status_code == 400 and too_big.json()["error_code"] == "MAX_NOTEBOOK_SIZE_EXCEEDED"
    library = next(o["path"] for o in emulator.objects() if o["object_type"] == "LIBRARY")
    refused = api(emulator, "export", path=library)
    assert refused.status_code == 400 and refused.json()["error_code"] == "BAD_REQUEST"


def test_export_size_limit(emulator: WorkspaceEmulator):
    emulator.put_notebook("/big/at-limit", NB + b"#" * (10_485_760 - len(NB)))
    emulator.put_file("/big/huge.bin", b"\0" * 10_485_761)
    assert len(api(emulator, "export", path="/big/at-limit", direct_download="true").content) == 10_485_760
    over = next(
        o["path"]
        for o in emulator.objects()
        if o.get("size", 0) > 10_485_760 and o["object_type"] == "NOTEBOOK"
    )
    answer = api(emulator, "export", path=over, direct_download="true")
    assert answer.status_code == 400 and answer.json()["error_code"] == "MAX_NOTEBOOK_SIZE_EXCEEDED"
    assert "exceeded max size (10485760 bytes)" in answer.json()["message"]
    assert api(emulator, "export", path="/big/huge.bin").json()["error_code"] == "BAD_REQUEST"
    assert len(emulator.snapshot("/")[over]) > 10_485_760


def test_import_json_multipart_overwrite_and_parent(emulator: WorkspaceEmulator):
    emulator.mkdirs("/I")
    body = {
        "path": "/I/nb",
        "content": base64.b64encode(b"x = 2").decode(),
        "language": "PYTHON",
        "format": "SOURCE",
    }
    assert post(emulator, "import", body).json() == {}
    again = post(emulator, "import", body)
    assert again.status_code == 400 and again.json() == {
        "error_code": "RESOURCE_ALREADY_EXISTS",
        "message": "Path (/I/nb) already exists.",
    }
    assert post(emulator, "import", body | {"overwrite": True}).status_code == 200
    assert emulator.snapshot("/I") == {"/I/nb": b"# Databricks notebook source\nx = 2"}
    orphan = post(emulator, "import", body | {"path": "/nowhere/nb"})
    assert (
        orphan.status_code == 404
        and orphan.json()["message"] == "The parent folder (/nowhere) does not exist."
    )
    no_language = post(emulator, "import", body | {"path": "/I/other", "language": None})
    assert no_language.status_code == 400 and no_language.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    files = {"content": ("blob", b"raw,csv\n")}
    multipart = session().post(
        f"{emulator.url}/api/2.0/workspace/import",
        data={"path": "/I/data.csv", "format": "AUTO"},
        files=files,
    )
    assert multipart.status_code == 200
    assert emulator.snapshot("/I")["/I/data.csv"] == b"raw,csv\n"
    too_big = post(
        emulator, "import", body | {"path": "/I/big", "content": base64.b64encode(b"x" * 10_485_761).decode()}
    )
    assert too_big.status_code == 400 and too_big.json()["error_code"] == "MAX_NOTEBOOK_SIZE_EXCEEDED"


def test_chunked_request_body_and_lower_case_bearer(emulator: WorkspaceEmulator):
    body = json.dumps(
        {"path": "/chunked", "content": base64.b64encode(b"x = 3").decode(), "language": "PYTHON"}
    )
    s = requests.Session()
    s.headers["Authorization"] = "bearer dapi-test"
    pieces = (part.encode() for part in (body[:10], body[10:]))
    answer = s.post(f"{emulator.url}/api/2.0/workspace/import", data=pieces, timeout=10)
    assert answer.status_code == 200, answer.text
    assert api(emulator, "get-status", s, path="/chunked").json()["language"] == "PYTHON"  # same connection


def test_delete_and_mkdirs_errors(emulator: WorkspaceEmulator):
    emulator.put_notebook("/D/sub/nb", NB)
    not_empty = post(emulator, "delete", {"path": "/D", "recursive": False})
    assert not_empty.status_code == 400 and not_empty.json() == {
        "error_code": "DIRECTORY_NOT_EMPTY",
        "message": "Folder (/D) is not empty.",
    }
    assert post(emulator, "delete", {"path": "/D", "recursive": True}).json() == {}
    assert post(emulator, "mkdirs", {"path": "/D/a/b"}).json() == {}
    emulator.put_notebook("/D/nb", NB)
    crossing = post(emulator, "mkdirs", {"path": "/D/nb/x"})
    assert crossing.status_code == 400 and crossing.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    relative = post(emulator, "mkdirs", {"path": "D/x"})
    assert relative.status_code == 400 and relative.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_rate_limit_answers_429_with_integer_retry_after(emulator_factory: Factory):
    emu = emulator_factory(generate=0, rates={"export": 5.0, "list": 2.0})
    emu.put_notebook("/r/nb", NB)
    s = session()
    statuses = [api(emu, "list", s, path="/r").status_code for _ in range(6)]
    assert statuses[:2] == [200, 200] and 429 in statuses
    limited = api(emu, "list", s, path="/r")
    assert limited.status_code == 429 and limited.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert int(limited.headers["Retry-After"]) >= 1
    assert api(emu, "get-status", s, path="/r").status_code == 200  # "other" class is unlimited
    assert api(emu, "export", s, path="/r/nb").status_code == 200  # separate bucket
    counters = emu.counters()["list"]
    assert counters["429"] == statuses.count(429) + 1 and counters["ok"] == 2
    time.sleep(0.6)
    assert api(emu, "list", s, path="/r").status_code == 200  # the bucket refills


def test_fault_rate_gives_500_and_503_deterministically_by_seed(emulator_factory: Factory):
    def statuses(seed: int) -> list[int]:
        emu = emulator_factory(generate=0, fault_rate=0.5, seed=seed)
        emu.mkdirs("/f")
        return [api(emu, "get-status", path="/f").status_code for _ in range(30)]

    first = statuses(3)
    assert first == statuses(3) and first != statuses(4)
    assert {200, 500, 503} == set(first)


def test_fault_bodies_and_drop(emulator_factory: Factory):
    emu = emulator_factory(generate=0, fault_rate=1.0)
    answers = [api(emu, "list", path="/") for _ in range(8)]
    bodies = {a.status_code: a.json()["error_code"] for a in answers}
    assert bodies == {500: "INTERNAL_ERROR", 503: "TEMPORARILY_UNAVAILABLE"}
    emu.set_faults(fault_rate=0.0, drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        api(emu, "list", path="/")
    emu.reset_faults()  # back to the constructor's knobs: fault_rate 1.0, no drops
    assert api(emu, "list", path="/").status_code in (500, 503)
    assert emu.counters()["list"] == {"requests": 10, "ok": 0, "429": 0, "5xx": 9, "dropped": 1, "4xx": 0}
    emu.reset_counters()
    assert emu.counters()["list"]["requests"] == 0


def test_latency(emulator_factory: Factory):
    emu = emulator_factory(generate=0, latency_ms=150)
    started = time.monotonic()
    assert api(emu, "list", path="/").status_code == 200
    assert time.monotonic() - started >= 0.15


def test_missing_modified_at_rate_hides_or_zeroes_some_and_set_modified_at(emulator_factory: Factory):
    emu = emulator_factory(generate=200, missing_modified_at_rate=0.3, seed=5)
    notebooks = [o for o in emu.objects() if o["object_type"] == "NOTEBOOK"]
    missing = [o for o in notebooks if "modified_at" not in o]
    zero = [o for o in notebooks if o.get("modified_at") == 0]
    assert missing and zero and 0.15 < (len(missing) + len(zero)) / len(notebooks) < 0.45
    assert [o["path"] for o in emu.objects() if "modified_at" not in o] == [o["path"] for o in missing]
    fine = next(o for o in notebooks if o.get("modified_at"))
    emu.set_modified_at(fine["path"], None)
    assert "modified_at" not in api(emu, "get-status", path=fine["path"]).json()
    emu.set_modified_at(fine["path"], 0)
    assert api(emu, "get-status", path=fine["path"]).json()["modified_at"] == 0


def test_inject_failure_fails_only_its_prefix_until_cleared(emulator: WorkspaceEmulator):
    emulator.put_notebook("/Clients/2024/A/NOTEBOOKS/nb", NB)
    emulator.put_notebook("/Clients/2024/B/NOTEBOOKS/nb", NB)
    emulator.inject_failure(
        "/Clients/2024/A", endpoints=("export", "list"), status=503, error_code="TEMPORARILY_UNAVAILABLE"
    )
    failed = api(emulator, "export", path="/Clients/2024/A/NOTEBOOKS/nb")
    assert failed.status_code == 503 and failed.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert api(emulator, "list", path="/Clients/2024/A/NOTEBOOKS").status_code == 503
    assert api(emulator, "get-status", path="/Clients/2024/A/NOTEBOOKS/nb").status_code == 200
    assert api(emulator, "export", path="/Clients/2024/B/NOTEBOOKS/nb").status_code == 200
    assert (
        api(emulator, "export", path="/Clients/2024/AB").status_code == 404
    )  # prefix is a folder, not a string
    emulator.clear_failures()
    assert api(emulator, "export", path="/Clients/2024/A/NOTEBOOKS/nb").status_code == 200
    with pytest.raises(ValueError):
        emulator.inject_failure("/x", endpoints=("explode",))


def test_mutations_keep_object_id_and_bump_modified_at(emulator: WorkspaceEmulator):
    emulator.put_notebook("/M/nb", NB)
    first = api(emulator, "get-status", path="/M/nb").json()
    emulator.modify_notebook("/M/nb")
    emulator.modify_notebook("/M/nb")
    second = api(emulator, "get-status", path="/M/nb").json()
    assert second["object_id"] == first["object_id"] and second["modified_at"] > first["modified_at"]
    content = emulator.snapshot("/M")["/M/nb"]
    assert content.startswith(NB) and content.count(b"# COMMAND ----------") == 2
    other = WorkspaceEmulator()
    other.put_notebook("/M/nb", NB)
    other.modify_notebook("/M/nb")
    other.modify_notebook("/M/nb")
    assert other.snapshot("/M")["/M/nb"].replace(
        str(other.objects()[-1]["object_id"]).encode(), b""
    ) == content.replace(str(first["object_id"]).encode(), b"")
    emulator.modify_notebook("/M/nb", b"# Databricks notebook source\nnew\n")
    emulator.rename("/M", "/M2")
    moved = api(emulator, "get-status", path="/M2/nb").json()
    assert moved["object_id"] == first["object_id"] and emulator.snapshot("/M2") == {
        "/M2/nb": b"# Databricks notebook source\nnew\n"
    }
    emulator.delete("/M2", recursive=True)
    emulator.put_notebook("/M2/nb", NB)
    assert api(emulator, "get-status", path="/M2/nb").json()["object_id"] != first["object_id"]
    with pytest.raises(WorkspaceError) as caught:
        emulator.delete("/nope")
    assert (caught.value.status, caught.value.error_code) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_modify_without_touch_keeps_modified_at(emulator: WorkspaceEmulator):
    emulator.put_notebook("/T/nb", NB)
    before = api(emulator, "get-status", path="/T/nb").json()
    emulator.modify_notebook("/T/nb", touch=False)
    control(
        emulator, "modify", {"path": "/T/nb", "content": base64.b64encode(NB + b"x").decode(), "touch": False}
    )
    after = api(emulator, "get-status", path="/T/nb").json()
    assert (after["modified_at"], after["object_id"]) == (before["modified_at"], before["object_id"])
    assert emulator.snapshot("/T")["/T/nb"] == NB + b"x"
    assert api(emulator, "export", path="/T/nb", direct_download="true").content == NB + b"x"


def test_generated_content_is_stable_until_mutated(emulator: WorkspaceEmulator):
    snapshot = emulator.snapshot("/Clients")
    assert snapshot == emulator.snapshot("/Clients")
    path = next(p for p, c in snapshot.items() if len(c) < 50_000)
    assert api(emulator, "export", path=path, direct_download="true").content == snapshot[path]
    emulator.modify_notebook(path)
    assert emulator.snapshot(path)[path] != snapshot[path]
    assert api(emulator, "export", path=path, direct_download="true").content == emulator.snapshot(path)[path]


def test_control_surface_over_http(emulator: WorkspaceEmulator):
    content = base64.b64encode(NB).decode()
    control(emulator, "notebooks", {"path": "/H/nb", "content": content, "language": "PYTHON"})
    control(emulator, "files", {"path": "/H/f.txt", "content": base64.b64encode(b"f").decode()})
    control(emulator, "modify", {"path": "/H/nb"})
    control(emulator, "rename", {"old": "/H/f.txt", "new": "/H/g.txt"})
    snapshot = control(emulator, "snapshot", method="GET", root="/H")["objects"]
    assert base64.b64decode(snapshot["/H/g.txt"]) == b"f"
    assert base64.b64decode(snapshot["/H/nb"]).startswith(NB)
    control(emulator, "delete", {"path": "/H/g.txt"})
    control(emulator, "modified-at", {"path": "/H/nb", "value": None})
    objects = control(emulator, "objects", method="GET")["objects"]
    assert next(o for o in objects if o["path"].startswith("/H/")).keys() >= {"object_id", "size"}
    assert "modified_at" not in next(o for o in objects if o["path"] == "/H/nb")
    control(emulator, "faults", {"fault_rate": 1.0})
    assert api(emulator, "list", path="/H").status_code in (500, 503)
    control(emulator, "reset-faults")
    control(emulator, "failures", {"path_prefix": "/H", "endpoints": ["list"], "status": 500})
    assert api(emulator, "list", path="/H").status_code == 500
    control(emulator, "clear-failures")
    assert api(emulator, "list", path="/H").status_code == 200
    assert control(emulator, "counters", method="GET")["list"]["5xx"] == 2
    control(emulator, "reset-counters")
    assert control(emulator, "counters", method="GET")["list"]["requests"] == 0
    control(emulator, "tokens", {"token": "second"})
    assert api(emulator, "list", session("second"), path="/H").status_code == 200
    assert control(emulator, "generate", {"n": 10, "seed": 2, "root": "/Other"})["objects"] > 10
    bad = session().post(f"{emulator.url}/_emulator/rename", json={"old": "/H/nb"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    missing = session().post(f"{emulator.url}/_emulator/delete", json={"path": "/nope"}, timeout=10)
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert session().get(f"{emulator.url}/_emulator/nothing", timeout=10).status_code == 404


def test_keep_alive_concurrency_and_stop_cuts_open_connections(emulator: WorkspaceEmulator):
    failures: list[int] = []

    def client() -> None:
        own = session()
        answers = [api(emulator, "list", own, path="/Clients") for _ in range(40)]
        failures.extend(a.status_code for a in answers if a.status_code != 200)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and emulator.counters()["list"]["ok"] == 320
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
    headers = {"Authorization": "Bearer dapi-test"}
    for _ in range(2):  # two requests on one connection: keep-alive
        connection.request("GET", "/api/2.0/workspace/get-status?path=/Clients", headers=headers)
        assert connection.getresponse().read().startswith(b'{"object_type":"DIRECTORY"')
    emulator.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        connection.request("GET", "/api/2.0/workspace/get-status?path=/Clients", headers=headers)
        connection.getresponse().read()


def test_fixtures(emulator: WorkspaceEmulator, emulator_factory: Factory):
    assert sum(o["object_type"] == "NOTEBOOK" for o in emulator.objects()) == 60
    empty = emulator_factory(generate=0, config=EmulatorConfig(latency_ms=1.0))
    assert empty.objects() == [] and empty.config.latency_ms == 1.0 and empty.port != emulator.port
    with pytest.raises(ValueError, match="fault_rate"):
        EmulatorConfig(fault_rate=2)
    with pytest.raises(ValueError, match="rate"):
        EmulatorConfig(rates={"export": -1})
