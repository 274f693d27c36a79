"""The files with which the backup repository describes itself, at its root, owned by the backup.

No workspace object can take these paths (:data:`airflow_gitsync.layout.OWNED_ROOT_FILES`); every
backup commit that finds them missing or changed writes them again.
"""

from __future__ import annotations

from airflow_gitsync.manifest import MANIFEST_PATH

GITATTRIBUTES = b"""# Written by airflow-gitsync: notebooks are checked out byte for byte as exported.
* -text
"""

README = f"""# Databricks notebook backup

This repository is written by [airflow-gitsync](https://pypi.org/project/airflow-gitsync/): a
backup of the notebooks and workspace files under one Databricks workspace folder, one commit
per backup run and an annotated tag per backup date (`backup/YYYY-MM-DD`).

## Layout

`<year>/<engagement>/NOTEBOOKS/<name>.<ext>` mirrors `<root>/<year>/<engagement>/NOTEBOOKS/<name>`
in the workspace. Notebooks are stored in Databricks' SOURCE format with the extension of their
language (`.py`, `.sql`, `.scala`, `.r`); workspace files keep their name. A name that git or a
file system would misread (such as `.git`, `.gitattributes`, `GIT~1`, `CON`, `a:b`, a trailing dot,
over 255 bytes) is stored escaped: the offending characters become `%XX`, a long name is cut and
ends in `~h` and a hash. The manifest keeps every object's original workspace path.

## Manifest

`{MANIFEST_PATH}`: one JSON object per line, sorted by `repo_path`, written in the same commit as
the content it describes: `repo_path`, `workspace_path`, `object_id`, `object_type` (NOTEBOOK or
FILE), `language` (notebooks), `modified_at` (epoch ms as listed, or null), `blob_id` (the git blob
id of the stored bytes).

## Restore

Trigger the Airflow DAG `databricks_git_restore` with `ref` (a tag such as `backup/2026-11-02`,
a branch or a commit), optionally `paths` and `target_root`. It imports each object under its
original workspace path (or below `target_root`), in the language the manifest records, after
checking its bytes against the manifest's blob id.

Files other than the backup's paths and `{MANIFEST_PATH}` belong to people and are kept.
""".encode()

FILES: dict[str, bytes] = {".gitattributes": GITATTRIBUTES, "README.md": README}
