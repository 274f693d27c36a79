"""Export a whole engagement folder in one call, and vouch for every byte of it against the listing.

``GET /api/2.0/workspace/export?path=<folder>&format=AUTO`` returns a zip of the folder: its
notebooks as source and its workspace files. The zip's layout is not documented, so this module
assumes as little as it can and checks the rest:

- an entry is named by the object's path below the folder, plus, for a notebook, the extension its
  language implies (``NOTEBOOKS/etl.py`` for the Python notebook ``NOTEBOOKS/etl``); files keep
  their name. Entries may also all sit under the folder's own name (``ENG-101/NOTEBOOKS/etl.py``):
  both readings are tried and the one that matches more objects wins;
- the number of entries must equal the number of notebooks and files the listing returned;
- an object whose expected entry is missing, or appears more than once (a notebook ``etl`` beside
  a file ``etl.py``), is not taken from the zip.

Whatever is not vouched for is returned to be exported one object at a time, with the reason, so
a surprise in the layout costs calls, never a wrong byte. The 10 MB export limit applies to the
whole response: a folder over it falls back entirely.
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from airflow_gitsync.diff import ListedObject
from airflow_gitsync.errors import FATAL_ERRORS, TooLargeError, WorkspaceError
from airflow_gitsync.layout import extension_for
from airflow_gitsync.workspace.client import WorkspaceClient


@dataclass
class FolderExport:
    """What one folder export gave: bytes per object it vouches for, the rest, and why."""

    content: dict[str, bytes] = field(default_factory=dict)  # workspace path -> bytes
    rest: list[ListedObject] = field(default_factory=list)
    fallback: str | None = None


def entry_name(folder: str, obj: ListedObject) -> str:
    """The zip entry expected for ``obj`` in the export of ``folder``."""
    return obj.workspace_path[len(folder.rstrip("/")) + 1 :] + extension_for(obj.object_type, obj.language)


def _read(data: bytes) -> dict[str, list[bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries: dict[str, list[bytes]] = {}
        for info in archive.infolist():
            if not info.is_dir():
                entries.setdefault(info.filename, []).append(archive.read(info))
        return entries


def export_folder(
    client: WorkspaceClient, folder: str, objects: Sequence[ListedObject], listed: int
) -> FolderExport:
    """Export ``folder`` once and take from it the bytes of ``objects`` (all of which lie under it).

    :param listed: how many notebooks and files the listing found under ``folder``.
    """
    try:
        entries = _read(client.export(folder, format="AUTO"))
    except FATAL_ERRORS:
        raise
    except TooLargeError:
        return FolderExport(rest=list(objects), fallback="the folder is over the 10 MB export limit")
    except (WorkspaceError, zipfile.BadZipFile) as exc:
        return FolderExport(rest=list(objects), fallback=f"the folder export failed: {exc}")
    count = sum(len(v) for v in entries.values())
    if count != listed:
        return FolderExport(
            rest=list(objects), fallback=f"the zip holds {count} entries where the listing has {listed}"
        )
    prefix = folder.rstrip("/").rsplit("/", 1)[-1] + "/"
    readings = [entries]
    if all(name.startswith(prefix) for name in entries):
        readings.append({name[len(prefix) :]: data for name, data in entries.items()})
    best = max(readings, key=lambda r: sum(len(r.get(entry_name(folder, o), ())) == 1 for o in objects))
    result = FolderExport()
    unmatched: Counter[str] = Counter()
    for obj in objects:
        found = best.get(entry_name(folder, obj), [])
        if len(found) == 1:
            result.content[obj.workspace_path] = found[0]
        else:
            result.rest.append(obj)
            unmatched["missing" if not found else "ambiguous"] += 1
    if unmatched:
        result.fallback = "zip entries " + ", ".join(f"{kind}: {n}" for kind, n in sorted(unmatched.items()))
    return result
