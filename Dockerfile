# One Dockerfile, two images:
#   --target dagster    the webserver and the daemon (Dagster, no dbt or DuckDB)
#   --target user_code  the code server and every run container (the assets, dbt, DuckDB)
# The base image is a build argument, so the stack also builds where no registry can be reached
# (`make images-offline` makes one from Debian packages). No `# syntax=` line: it would pull a frontend.
ARG PYTHON_BASE_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_BASE_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/home
RUN groupadd --system --gid 1000 clawdata \
 && useradd --system --uid 1000 --gid clawdata --home-dir /opt/clawdata --no-create-home --shell /usr/sbin/nologin clawdata
# The instance config has no secrets (only environment variable names), so it is baked into both
# images: run containers launched by the run launcher find it without any mount.
COPY dagster.yaml /opt/dagster/home/dagster.yaml
COPY deploy/healthcheck.py /usr/local/bin/clawdata-healthcheck
# The event log storage that dagster.yaml names; both images load the instance.
COPY deploy/clawdata_storage.py /opt/dagster/lib/clawdata_storage.py
ENV PYTHONPATH=/opt/dagster/lib

# uv, in a throwaway stage. The optional `ca_bundle` secret serves TLS-intercepting proxies; it is
# used for the install steps only and never stored in a layer.
FROM base AS builder
ARG UV_VERSION=0.13.9
COPY deploy/with-ca-bundle.sh /usr/local/bin/with-ca-bundle
RUN --mount=type=secret,id=ca_bundle --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /opt/uv \
 && with-ca-bundle /opt/uv/bin/pip install --disable-pip-version-check -q "uv==${UV_VERSION}"
ENV UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 UV_PYTHON_DOWNLOADS=never
COPY requirements.lock requirements-excludes.txt /tmp/

# Dependencies come before the source, so a code change rebuilds only the last layers. Every version
# is pinned by requirements.lock; each image installs only what its services import.
FROM builder AS dagster-deps
RUN --mount=type=secret,id=ca_bundle --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv venv -q --python "$(command -v python3)" /opt/venv \
 && with-ca-bundle /opt/uv/bin/uv pip install -q --python /opt/venv/bin/python -c /tmp/requirements.lock \
      --excludes /tmp/requirements-excludes.txt \
      dagster dagster-webserver dagster-graphql dagster-postgres dagster-docker dagster-k8s

FROM builder AS user-code-deps
RUN --mount=type=secret,id=ca_bundle --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv venv -q --python "$(command -v python3)" /opt/venv \
 && with-ca-bundle /opt/uv/bin/uv pip install -q --python /opt/venv/bin/python -c /tmp/requirements.lock \
      --excludes /tmp/requirements-excludes.txt \
      dagster dagster-graphql dagster-postgres dagster-docker dagster-k8s dagster-dbt dagster-duckdb \
      dbt-core dbt-duckdb duckdb sqlalchemy rich "dlt[duckdb,sql_database]" pyarrow psycopg2-binary \
 # Lean: the packages' own test suites (but not dbt's `include/` macro tree, where `tests` holds the
 # test materializations), and babel's locale data beyond the root and English ones (dbt's agate
 # formats numbers in en_US; the rest is 30 MB nobody loads).
 && find /opt/venv/lib/python3.11/site-packages -depth -type d -name tests ! -path '*/include/*' -prune -exec rm -rf {} + \
 && find /opt/venv/lib/python3.11/site-packages/babel/locale-data -type f \
      ! -name root.dat ! -name en.dat ! -name 'en_US*.dat' -delete \
 # pyarrow as if built without S3 and Flight, which pyarrow.fs and pyarrow.flight treat as optional
 # (no other library of the wheel links them), and without its C++ headers: dlt's Arrow path reads
 # from the database and writes local Parquet files. 55 MB of the wheel's 160.
 && cd /opt/venv/lib/python3.11/site-packages/pyarrow \
 && rm -rf include libarrow_flight.so* libarrow_python_flight.so* _flight.*.so libarrow_s3.so* _s3fs.*.so
COPY pyproject.toml README.md /src/
COPY src /src/src
RUN --mount=type=secret,id=ca_bundle --mount=type=cache,target=/root/.cache/uv \
    with-ca-bundle /opt/uv/bin/uv pip install -q --python /opt/venv/bin/python --no-deps /src \
 # Every interpreter of this image (code server, run workers) collects garbage less often from its
 # first import on (src/clawdata/gc_tuning.py says why).
 && echo "import clawdata.gc_tuning" > /opt/venv/lib/python3.11/site-packages/clawdata-gc-tuning.pth

FROM base AS dagster
COPY --from=dagster-deps /opt/venv /opt/venv
COPY workspace.yaml /opt/dagster/workspace.yaml
COPY deploy/webserver.py /usr/local/bin/clawdata-webserver
# The compute logs' mount point (dagster.yaml), owned by the unprivileged user like the data volumes.
RUN mkdir -p /var/lib/clawdata/logs && chown -R clawdata:clawdata /var/lib/clawdata
WORKDIR /opt/dagster
USER clawdata
EXPOSE 3000

FROM base AS user_code
COPY --from=user-code-deps /opt/venv /opt/venv
COPY deploy/code_server.py /usr/local/bin/clawdata-code-server
ENV CLAWDATA_PROJECT_DIR=/opt/clawdata \
    CLAWDATA_WAREHOUSE_PATH=/var/lib/clawdata/warehouse/warehouse.duckdb \
    CLAWDATA_INBOX_DIR=/var/lib/clawdata/inbox \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false
WORKDIR /opt/clawdata
COPY --chown=clawdata:clawdata dbt /opt/clawdata/dbt
# The `dg` project file: load_from_defs_folder finds the project (and its defs module) from it.
COPY pyproject.toml /opt/clawdata/pyproject.toml
COPY data/sample /opt/clawdata/data/sample
# The volume mount points exist with the right owner, so fresh named volumes start writable by it.
RUN mkdir -p /var/lib/clawdata/warehouse /var/lib/clawdata/inbox /var/lib/clawdata/logs \
 && chown -R clawdata:clawdata /var/lib/clawdata
USER clawdata
# dbt's --vars (a YAML mapping), part of the project as it ships: the parse here and every run use them.
ARG CLAWDATA_DBT_VARS=
ARG CLAWDATA_DBT_TARGET=
ENV CLAWDATA_DBT_VARS=${CLAWDATA_DBT_VARS} CLAWDATA_DBT_TARGET=${CLAWDATA_DBT_TARGET}
# The dbt manifest is prepared here, once, so the code server never parses dbt at start.
RUN python -m clawdata.gold.project \
 && rm -rf /opt/clawdata/dbt/logs
EXPOSE 4000
CMD ["dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "4000", \
     "--module-name", "clawdata.definitions", "--location-name", "clawdata"]
