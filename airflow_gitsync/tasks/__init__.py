"""The task callables of the provider's DAGs: thin glue between Airflow and the plain modules.

Each function takes the run's params and what upstream tasks returned (typed records from
:mod:`airflow_gitsync.results`), opens its :class:`~.context.RunContext` (params checked, the
``[gitsync]`` section, the staging store), builds its hooks through it, calls the module that holds
the logic and returns a typed record. The DAGs (:mod:`airflow_gitsync.dags`) move them through
XCom: :mod:`.backup`, :mod:`.verify`, :mod:`.restore`.
"""
