"""Dagster's GraphQL API, reached over HTTP (a deployment) or in-process (the local instance).

Both transports answer the same documents (queries.py), so status and sensor ticks are one code path
whichever instance they look at, and they read Dagster's records, never the warehouse file.
"""

import asyncio
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr
from typing import Any, Protocol

from clawdata.cli.errors import ClawdataError

LOCATION = "clawdata"
DEFINITIONS = ("clawdata.definitions", "defs")  # module and attribute of the code location
REPOSITORY = "__repository__"  # the name Dagster gives the repository of a Definitions object


class GraphQL(Protocol):
    where: str

    def __call__(self, query: str, variables: Mapping[str, Any] | None = None) -> dict: ...


class HttpGraphQL:
    def __init__(self, url: str, timeout: float = 30):
        # `localhost:3000`, as `dagster dev` prints the address and people type it: http, as a browser takes it
        self.where = (url if "://" in url else f"http://{url}").rstrip("/")
        self._timeout = timeout

    def __call__(self, query: str, variables: Mapping[str, Any] | None = None) -> dict:
        import requests  # here: the local status never reaches a webserver, and the import costs 0.15-0.3 s

        try:
            response = requests.post(
                f"{self.where}/graphql", json={"query": query, "variables": dict(variables or {})}, timeout=self._timeout
            )
        except requests.RequestException as e:
            raise ClawdataError(
                f"cannot reach the Dagster webserver at {self.where} ({type(e).__name__}). "
                "Is the stack up (`make up`, `make ps`)? Check --url / CLAWDATA_DAGSTER_URL."
            ) from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        # Dagster answers a PythonError result with HTTP 500 and the usual body: read it as one, so
        # the caller names the error (and may wait out a code server that is restarting).
        if response.status_code != 200 and not (isinstance(payload, dict) and ("data" in payload or "errors" in payload)):
            raise ClawdataError(f"{self.where}/graphql answered HTTP {response.status_code}: {response.text[:300]}")
        return _data(payload)


class InProcessGraphQL:
    def __init__(self, context):
        from dagster_graphql.schema import create_schema

        self.where = "the local instance"
        self._context = context
        # Built once: dagster_graphql's execute_query builds the schema anew for every query (0.17 s
        # each; a sensor tick asks four or five).
        self._schema = create_schema()

    def __call__(self, query: str, variables: Mapping[str, Any] | None = None) -> dict:
        # A sensor evaluated here (a dry run: `sensor tick`, the deliveries `--all` registers) logs to
        # a console logger of its own; what it logs is the tick's, not this terminal's.
        with open(os.devnull, "w") as quiet, redirect_stderr(quiet):
            result = asyncio.run(self._schema.execute_async(
                query.strip(), context_value=self._context.create_request_context(), variable_values=dict(variables or {})))
        return _data(result.formatted)


@contextmanager
def in_process_graphql(instance, load_code: bool = True) -> Iterator[InProcessGraphQL]:
    """The code location loaded into this process (no gRPC server), on the given instance; without
    load_code, only the instance's records (runs, events, logs), and no seconds spent loading."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget

    target = InProcessWorkspaceLoadTarget(code_location_origin() if load_code else [])
    with warnings.catch_warnings():
        # Dagster warns with the whole stack trace when the location fails to load; check_location
        # reports the cause in one message instead (a dbt parse error, a refused dbt table).
        warnings.filterwarnings("ignore", message="Error loading repository location")
        context = WorkspaceProcessContext(instance, target)
    with context:
        yield InProcessGraphQL(context)


def code_location_origin():
    """The code location `clawdata`, loaded in this process."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    return InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name=DEFINITIONS[0], attribute=DEFINITIONS[1]),
                                       location_name=LOCATION)


def _data(payload: dict) -> dict:
    if payload.get("errors"):
        raise ClawdataError("GraphQL error: " + "; ".join(e.get("message", str(e)) for e in payload["errors"]))
    return payload["data"]


def expect(result: dict, typename: str, what: str) -> dict:
    """Dagster answers errors as typed results (`PythonError`, `SensorNotFoundError`...): raise them."""
    if result.get("__typename") != typename:
        message = result.get("message") or result.get("__typename")
        raise ClawdataError(f"{what}: {message}")
    return result
