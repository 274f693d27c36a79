"""The Backups view in the Airflow UI (issue 14).

``history`` (rows, gaps, projections from what runs recorded), ``svg`` (the plots) and ``pages``
(the HTML) are pure and import nothing of Airflow; ``store`` reads the runs in one query and ``app``
is the FastAPI app the plugin mounts, behind Airflow's auth manager.
"""
