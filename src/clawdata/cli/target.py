"""What the commands drive: the local instance (default) or a deployment's webserver (--url)."""

import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack

from clawdata import settings
from clawdata.cli import definitions_snapshot, local, queries, remote
from clawdata.cli.errors import ClawdataError, CodeLocationNotReady
from clawdata.cli.graphql import LOCATION, GraphQL, HttpGraphQL, expect, in_process_graphql
from clawdata.cli.progress import RunEvent


VIA_MAKE_ENV = "CLAWDATA_VIA_MAKE"


class Target:
    """A context manager exposing `graphql` and `run(...)` (run id, then events, then final status)."""

    graphql: GraphQL
    where: str  # what the output names: "the local instance", or the deployment's URL

    def check_location(self) -> None:
        """Fail clearly when the code location did not load (rather than showing no assets)."""
        workspace = self.graphql(queries.LOCATIONS)["workspaceOrError"]
        if workspace.get("__typename") == "PythonError":
            remote.raise_if_code_server_down(self.where, workspace.get("message"))
        workspace = expect(workspace, "Workspace", "reading the workspace")
        entry = next((e for e in workspace["locationEntries"] if e["name"] == LOCATION), None)
        if entry is None:
            raise ClawdataError(f"{self.where} has no code location named '{LOCATION}'")
        loaded = entry["locationOrLoadError"] or {}
        if loaded.get("__typename") == "PythonError":
            # The root cause (a refused dbt table, dbt's parse error), whole and headline first, not
            # Dagster's wrappers around it.
            chain = [link["error"] for link in loaded.get("errorChain") or []]
            remote.raise_if_code_server_down(self.where, *(e["message"] for e in [loaded, *chain]))
            detail = (chain or [loaded])[-1]["message"].strip()
            raise ClawdataError(f"the code location '{LOCATION}' failed to load:\n{detail}")
        if not loaded:
            raise CodeLocationNotReady(f"the code location '{LOCATION}' is still loading on {self.where}")

    def asset_paths(self) -> list[list[str]]:
        self.check_location()
        return [node["assetKey"]["path"] for node in self.graphql(queries.ASSET_KEYS)["assetNodes"]]

    def when_code_server_answers(self, attempt):
        """attempt(); against a deployment, again while its code server does not answer."""
        return attempt()

    def asset_parents(self) -> dict[str, list[str]]:
        """Each asset (as the UI names it) with the assets it reads, and each check (`asset:check`)
        with its asset and the others it reads (a relationships test's)."""
        self.check_location()
        parents = {}
        for node in self.graphql(queries.ASSET_PARENTS)["assetNodes"]:
            asset = "/".join(node["assetKey"]["path"])
            parents[asset] = ["/".join(d["path"]) for d in node["dependencyKeys"]]
            for check in (node.get("assetChecksOrError") or {}).get("checks") or []:
                parents[f"{asset}:{check['name']}"] = [asset, *("/".join(k["path"]) for k in check["additionalAssetKeys"])]
        return parents

    def run(self, job_name: str, asset_paths: Sequence[list[str]] | None, tags: dict[str, str], checks=None) -> Iterator[RunEvent | str]:
        raise NotImplementedError

    def logs_command(self, run_id: str, step: str | None = None) -> str:
        """The command that shows a run's events and output (its step's alone), for this instance;
        under `make` (the Makefile sets VIA_MAKE_ENV) the make target, since the URL this command was
        given names the webserver inside the stack's network, which the user's shell cannot reach."""
        if os.environ.get(VIA_MAKE_ENV):
            return f"make run-logs RUN={run_id[:8]}" + (f" STEP={step}" if step else "")
        url = f" --url {self.where}" if self.where.startswith("http") else ""
        return f"clawdata dagster{url} logs {run_id[:8]}" + (f" {step}" if step else "")

    def run_page(self, run_id: str) -> str | None:
        """The run's page in the deployment's UI (None locally: no UI is sure to be running)."""
        return None

    def status_data(self, run_limit: int) -> dict:
        """What `status` shows, in the shape of the STATUS query; each asset with its latest attempt."""
        self.check_location()
        data = self.graphql(queries.STATUS, {"runLimit": run_limit})
        keys = [{"path": node["assetKey"]["path"]} for node in data["assetNodes"]]
        latest = {tuple(i["assetKey"]["path"]): i for i in self.graphql(queries.ASSETS_LATEST, {"keys": keys})["assetsLatestInfo"]}
        for node in data["assetNodes"]:
            run = (latest.get(tuple(node["assetKey"]["path"])) or {}).get("latestRun")
            node["latestAttempt"] = {"runId": run["id"], "status": run["status"],
                                     "steps": {s["stepKey"]: s["status"] for s in run["stepStats"]}} if run else None
        failed = {a["runId"] for node in data["assetNodes"] if (a := node["latestAttempt"]) and a["status"] == "FAILURE"}
        failures = {run_id: remote.step_failures(self.graphql, run_id) for run_id in failed}
        for node in data["assetNodes"]:
            if node["latestAttempt"] and node["latestAttempt"]["runId"] in failures:
                node["latestAttempt"]["failures"] = failures[node["latestAttempt"]["runId"]]
        return data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class LocalTarget(Target):
    """The local instance. The definitions are imported in this process; its GraphQL (Dagster's
    workspace on them, or on the records only) is made when first asked for. A run needs neither
    (it executes here: 1.3 s of GraphQL import and schema saved), nor does `status` while the
    definitions' snapshot holds."""

    where = "the local instance"

    def __init__(self, load_code: bool = True):
        self._load_code = load_code
        self._graphql = None
        self._repository = None

    def __enter__(self):
        self._stack = ExitStack()
        self._instance = None
        if self._load_code:
            self.check_location()  # loads the definitions now: a broken project fails first
        return self

    @property
    def instance(self):
        """Dagster's instance, made when first asked for: `status` may read its files alone."""
        if self._instance is None:
            self._instance = self._stack.enter_context(local.local_instance())
        return self._instance

    def check_location(self) -> None:
        self.repository()

    def repository(self):
        """The loaded definitions (Dagster's RepositoryDefinition), or the reason they do not load."""
        if self._repository is None:
            home = local.dagster_home()
            taken = definitions_snapshot.fingerprint()
            try:
                self._repository = local.recon_repository().get_definition()
            except Exception as e:  # the root cause (a refused dbt table, dbt's parse error), whole
                raise ClawdataError(f"the code location '{LOCATION}' failed to load:\n{local.root_cause(e)}") from None
            if definitions_snapshot.stored_fingerprint(home) != taken:  # the next `status`, or misspelt name, without a load
                definitions_snapshot.remember(home, definitions_snapshot.of_repository(self._repository),
                                              list(self.instance.get_required_daemon_types()), taken)
        return self._repository

    def asset_paths(self) -> list[list[str]]:
        return [key.path for key in self.repository().asset_graph.get_all_asset_keys()]

    def asset_parents(self) -> dict[str, list[str]]:
        graph = self.repository().asset_graph
        return {**{key.to_user_string(): [p.to_user_string() for p in graph.get(key).parent_keys]
                   for key in graph.get_all_asset_keys()},
                **{f"{key.asset_key.to_user_string()}:{key.name}": [p.to_user_string() for p in graph.get(key).parent_entity_keys]
                   for key in graph.asset_check_keys}}

    @property
    def graphql(self) -> GraphQL:
        if self._graphql is None:
            if self._load_code:
                self.check_location()  # a load error in one message, before Dagster's workspace loads it again
            self._graphql = self._stack.enter_context(in_process_graphql(self.instance, self._load_code))
        return self._graphql

    def __exit__(self, *exc):
        return self._stack.__exit__(*exc)

    def status_data(self, run_limit: int) -> dict:
        from clawdata.cli import records_sqlite

        home = local.dagster_home()
        stored = definitions_snapshot.recalled(home)
        if stored is not None:  # the records' files alone, where that reading holds (records_sqlite.py)
            data = records_sqlite.status_data(home, stored["definitions"], stored.get("requiredDaemons"), run_limit)
            if data is not None:
                return data
        from clawdata.cli.records import built_elsewhere, status_data

        # A run whose process is gone (killed) is marked so now, as the next run would: it showed STARTED till then.
        released = [event.detail for event in local.release_dead_runs(self.instance)]
        if stored is None:  # the code changed since it was last loaded: load it (and remember it)
            self._load_code = True
            try:
                data = super().status_data(run_limit)
            except ClawdataError as e:  # (a parse error): the runs and the daemon are the instance's, shown beside it
                data = {**status_data(self.instance, {"assetNodes": []}, run_limit),
                        "unavailable": "the code location does not load (below)", "loadError": e}
        else:
            data = status_data(self.instance, stored["definitions"], run_limit)
        elsewhere = None if data.get("loadError") else built_elsewhere(self.instance, data["assetNodes"], run_limit)
        return {**data, "builtElsewhere": elsewhere, "released": released}

    def run(self, job_name, asset_paths, tags, checks=None):
        from dagster import AssetCheckKey, AssetKey

        keys = [AssetKey(p) for p in asset_paths] if asset_paths is not None else None
        check_keys = [AssetCheckKey(AssetKey(p), n) for p, n in checks] if checks is not None else None
        run_id = None
        for item in local.execute(self.instance, job_name, keys, tags, check_keys):
            run_id = run_id or item
            yield item
        yield self.instance.get_run_by_id(run_id).status.value


class RemoteTarget(Target):
    def __init__(self, url: str):
        self.graphql = HttpGraphQL(url)
        self.where = self.graphql.where

    def run_page(self, run_id: str) -> str | None:
        # CLAWDATA_UI_URL where the URL given is the stack's inside name (`make`'s one-off container)
        return f"{settings.ui_url(self.where)}/runs/{run_id}"

    def check_location(self) -> None:
        remote.when_code_server_answers(super().check_location)

    def when_code_server_answers(self, attempt):
        return remote.when_code_server_answers(attempt)

    def status_data(self, run_limit: int) -> dict:
        try:
            remote.when_code_server_answers(super().check_location, wait_seconds=remote.STATUS_WAIT_SECONDS)
        except ClawdataError as e:  # runs, their outcome and the daemon's health live in the instance
            records = self.graphql(queries.STATUS_RECORDS, {"runLimit": run_limit})
            return {"assetNodes": [], **records, "repositoriesOrError": {"__typename": "RepositoryConnection", "nodes": []},
                    "unavailable": str(e)}
        return super().status_data(run_limit)

    def run(self, job_name, asset_paths, tags, checks=None):
        run_id = remote.when_code_server_answers(lambda: remote.launch(self.graphql, job_name, asset_paths, tags, checks))
        yield run_id
        yield from remote.follow_canceling_on_interrupt(self.graphql, run_id)


def open_target(url: str | None, load_code: bool = True) -> Target:
    """load_code=False: a command that reads only records (runs, events, logs) skips the code load."""
    return RemoteTarget(url) if url else LocalTarget(load_code)
