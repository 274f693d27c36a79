# The Airflow image with this provider and its [celery] extra, installed with the pinned constraints
# (what `make test` tests), for docker-compose.yaml. `docker compose build` builds it.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

# The backup runs git (fast-import, push) on the workers.
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && apt-get autoremove -yqq --purge \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
USER airflow

COPY --chown=airflow:0 setup.cfg pyproject.toml README.md constraints-3.11.txt /opt/gitsync/
COPY --chown=airflow:0 airflow_gitsync /opt/gitsync/airflow_gitsync
RUN pip install --no-cache-dir "/opt/gitsync[celery]" -c /opt/gitsync/constraints-3.11.txt
COPY --chown=airflow:0 dags /opt/airflow/dags
