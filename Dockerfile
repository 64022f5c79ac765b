# syntax=docker/dockerfile:1.7
#
# CRM warehouse image: the official Apache Airflow image, extended with this project.
#
# The project's Python dependencies are installed exactly as pinned (and hash-checked) in uv.lock,
# into a dedicated virtual environment that is first on PATH, so the runtime is the environment the
# test suite runs in - not the union of the base image's packages and ours. Nothing is installed at
# container start (no _PIP_ADDITIONAL_REQUIREMENTS).
#
#   docker compose build                  # via docker-compose.yml
#   docker build -t crm-warehouse-airflow .
#
# The Airflow version of the base image and the one pinned in uv.lock must be the same: the build
# stops with an error if they are not (and tests/test_docker_compose.py checks it without Docker).

ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
# The uv release that wrote uv.lock; an older uv may not read the lock format.
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

FROM ${AIRFLOW_IMAGE}

SHELL ["/bin/bash", "-o", "pipefail", "-o", "errexit", "-o", "nounset", "-c"]

USER root
COPY --from=uv /uv /usr/local/bin/uv
# /opt/crm mirrors the repository layout (dags/, dbt_project/, expectations/, data/), so paths that
# the code derives from its own location resolve the same way in the image as in a checkout.
RUN install --directory --owner=airflow --group=0 --mode=0775 /opt/crm /opt/crm/data
USER airflow
WORKDIR /opt/crm

ENV VIRTUAL_ENV=/opt/crm/.venv \
    UV_PROJECT_ENVIRONMENT=/opt/crm/.venv \
    UV_PYTHON=/usr/python/bin/python3 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
ENV PATH="/opt/crm/.venv/bin:${PATH}"

# 1. Dependencies only: this layer is rebuilt when the lock changes, not when the code does.
#    --frozen installs what uv.lock pins (with its hashes) and never re-resolves or edits the lock;
#    --all-extras installs every optional group (PostgreSQL drivers, CLV models, ...), as `make run`
#    does, so the image runs what the test suite runs; --no-dev leaves out the test and lint tools.
#    The project itself is put on PYTHONPATH below instead of being installed, so the dags/ folder
#    that compose mounts is the code that runs.
COPY --chown=airflow:0 pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/tmp/.cache/uv,uid=50000,gid=0 \
    uv sync --frozen --no-dev --all-extras --no-install-project \
    && locked_airflow="$(python -c 'from importlib.metadata import version; print(version("apache-airflow"))')" \
    && if [ "${locked_airflow}" != "${AIRFLOW_VERSION}" ]; then \
           echo "uv.lock pins apache-airflow ${locked_airflow} but the base image is ${AIRFLOW_VERSION}:" \
                "change AIRFLOW_IMAGE or the lock so that they agree" >&2; \
           exit 1; \
       fi \
    && airflow version && dbt --version

# 2. The project: DAGs and the `crm` package, the dbt project, the Great Expectations suites.
COPY --chown=airflow:0 dags ./dags
COPY --chown=airflow:0 dbt_project ./dbt_project
COPY --chown=airflow:0 expectations ./expectations

ENV PYTHONPATH=/opt/crm/dags \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/crm/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=false \
    CRM_DATA_DIR=/opt/crm/data \
    CRM_WAREHOUSE_PATH=/opt/crm/data/warehouse.duckdb \
    CRM_DBT_PROJECT_DIR=/opt/crm/dbt_project \
    CRM_EXPECTATIONS_DIR=/opt/crm/expectations \
    DBT_PROJECT_DIR=/opt/crm/dbt_project \
    DBT_PROFILES_DIR=/opt/crm/dbt_project \
    DBT_TARGET_PATH=/opt/crm/data/dbt/target \
    DBT_LOG_PATH=/opt/crm/data/dbt/logs \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    GX_ANALYTICS_ENABLED=False

# 3. Parse the dbt project at build time into $DBT_TARGET_PATH/manifest.json: a broken project fails
#    the build, and the manifest is ready before any DAG is parsed. Compose copies it into the new
#    data volume; airflow-init parses again the dbt_project/ folder that compose mounts.
RUN dbt parse --quiet
