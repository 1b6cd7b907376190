{{/* The Dagster instance (dagster.yaml) of the chart: the Compose dagster.yaml, on Kubernetes. */}}

{{- define "clawdata.instance.postgresDb" -}}
postgres_db:
  hostname: {{ include "clawdata.postgresql.host" . | quote }}
  port: {{ .Values.postgresql.service.port }}
  db_name: {{ .Values.postgresql.postgresqlDatabase | quote }}
  username: {{ .Values.postgresql.postgresqlUsername | quote }}
  # Only the name of the variable: the value comes from the Secret global.postgresqlSecretName.
  password: {env: DAGSTER_PG_PASSWORD}
  {{- with .Values.postgresql.postgresqlParams }}
  params: {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* What every run pod gets: dagster-k8s's K8sRunLauncher config (snake_case), as a dict. */}}
{{- define "clawdata.instance.runLauncherConfig" -}}
{{- $k := .Values.runLauncher.config.k8sRunLauncher }}
{{- $volumeNames := list "warehouse" "inbox" "logs" "replica" }}
{{- $volumes := include "clawdata.volumes" (prepend $volumeNames .) | fromYamlArray }}
{{- $volumes = concat $volumes (include "clawdata.instanceVolume" . | fromYamlArray) $k.volumes }}
{{- $mounts := include "clawdata.volumeMounts" (prepend $volumeNames .) | fromYamlArray }}
{{- $mounts = concat $mounts (include "clawdata.instanceVolumeMount" . | fromYamlArray) $k.volumeMounts }}
{{- $envVars := list }}
{{- $env := include "clawdata.env" . | fromJson }}
{{- range $name := keys $env | sortAlpha }}
{{- $envVars = append $envVars (printf "%s=%s" $name (index $env $name)) }}
{{- end }}
{{- $envVars = concat $envVars $k.envVars }}
{{- $labels := merge (dict "app.kubernetes.io/part-of" "clawdata" "app.kubernetes.io/instance" .Release.Name) $k.labels }}
{{- $podSpec := dict "securityContext" $k.podSecurityContext }}
{{- $affinity := include "clawdata.podAffinity" (prepend (prepend $volumeNames (dict)) .) | fromYaml }}
{{- if $affinity }}
{{- $_ := set $podSpec "affinity" $affinity }}
{{- end }}
{{- $runK8s := dict "pod_spec_config" $podSpec }}
{{- $user := $k.runK8sConfig }}
{{- range $from, $to := dict "containerConfig" "container_config" "podTemplateSpecMetadata" "pod_template_spec_metadata" "podSpecConfig" "pod_spec_config" "jobConfig" "job_config" "jobMetadata" "job_metadata" "jobSpecConfig" "job_spec_config" }}
{{- if hasKey $user $from }}
{{- $_ := set $runK8s $to (mergeOverwrite (deepCopy (default (dict) (index $runK8s $to))) (index $user $from)) }}
{{- end }}
{{- end }}
{{- $config := dict
  "load_incluster_config" $k.loadInclusterConfig
  "job_namespace" (include "clawdata.jobNamespace" .)
  "instance_config_map" (include "clawdata.instanceConfigMapName" .)
  "postgres_password_secret" (include "clawdata.postgresql.secretName" .)
  "dagster_home" .Values.global.dagsterHome
  "job_image" (include "clawdata.image" .Values.userCode.image)
  "image_pull_policy" $k.imagePullPolicy
  "service_account_name" (include "clawdata.serviceAccountName" .)
  "env_config_maps" (list)
  "env_secrets" (list)
  "env_vars" $envVars
  "volumes" $volumes
  "volume_mounts" $mounts
  "labels" $labels
  "resources" $k.resources
  "security_context" $k.securityContext
  "fail_pod_on_run_failure" $k.failPodOnRunFailure
  "run_k8s_config" $runK8s }}
{{- if $k.kubeconfigFile }}
{{- $_ := set $config "kubeconfig_file" $k.kubeconfigFile }}
{{- end }}
{{- with .Values.imagePullSecrets }}
{{- $_ := set $config "image_pull_secrets" . }}
{{- end }}
{{- range $k.envConfigMaps }}
{{- $_ := set $config "env_config_maps" (append $config.env_config_maps .name) }}
{{- end }}
{{- range $k.envSecrets }}
{{- $_ := set $config "env_secrets" (append $config.env_secrets .name) }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{- define "clawdata.instance.computeLogs" -}}
{{- $type := .Values.computeLogManager.type -}}
{{- if eq $type "LocalComputeLogManager" -}}
module: dagster.core.storage.local_compute_log_manager
class: LocalComputeLogManager
config:
  base_dir: /var/lib/clawdata/logs
{{- else if eq $type "S3ComputeLogManager" -}}
{{- $c := .Values.computeLogManager.config.s3ComputeLogManager -}}
# dagster-aws must be installed in both images (not in the default build).
module: dagster_aws.s3.compute_log_manager
class: S3ComputeLogManager
config:
  bucket: {{ required "computeLogManager.config.s3ComputeLogManager.bucket is required for S3ComputeLogManager" $c.bucket | quote }}
  {{- with $c.prefix }}
  prefix: {{ . | quote }}
  {{- end }}
  {{- with $c.region }}
  region: {{ . | quote }}
  {{- end }}
  {{- with $c.endpointUrl }}
  endpoint_url: {{ . | quote }}
  {{- end }}
  {{- if not (kindIs "invalid" $c.useSsl) }}
  use_ssl: {{ $c.useSsl }}
  {{- end }}
  {{- if not (kindIs "invalid" $c.verify) }}
  verify: {{ $c.verify }}
  {{- end }}
  {{- with $c.verifyCertPath }}
  verify_cert_path: {{ . | quote }}
  {{- end }}
  {{- if not (kindIs "invalid" $c.skipEmptyFiles) }}
  skip_empty_files: {{ $c.skipEmptyFiles }}
  {{- end }}
  {{- with $c.uploadInterval }}
  upload_interval: {{ . }}
  {{- end }}
  {{- with $c.localDir }}
  local_dir: {{ . | quote }}
  {{- end }}
{{- else if eq $type "GCSComputeLogManager" -}}
{{- $c := .Values.computeLogManager.config.gcsComputeLogManager -}}
# dagster-gcp must be installed in both images (not in the default build).
module: dagster_gcp.gcs.compute_log_manager
class: GCSComputeLogManager
config:
  bucket: {{ required "computeLogManager.config.gcsComputeLogManager.bucket is required for GCSComputeLogManager" $c.bucket | quote }}
  {{- with $c.prefix }}
  prefix: {{ . | quote }}
  {{- end }}
  {{- with $c.jsonCredentialsEnvvar }}
  json_credentials_envvar: {{ . | quote }}
  {{- end }}
  {{- with $c.uploadInterval }}
  upload_interval: {{ . }}
  {{- end }}
  {{- with $c.localDir }}
  local_dir: {{ . | quote }}
  {{- end }}
{{- else if eq $type "NoOpComputeLogManager" -}}
module: dagster._core.storage.noop_compute_log_manager
class: NoOpComputeLogManager
{{- end }}
{{- end }}

{{- define "clawdata.instance" -}}
{{- $d := .Values.dagsterDaemon -}}
# The Dagster instance of the Kubernetes deployment (Helm chart deploy/helm/clawdata), mounted as
# DAGSTER_HOME/dagster.yaml in the webserver, the daemon, the migrate Job and every run pod. No
# secrets: the Postgres password is only named ({env: DAGSTER_PG_PASSWORD}).

# Runs, events and schedules in Postgres. The event log is Dagster's Postgres one with an atomic
# pool-slot claim (clawdata_storage, in both images at /opt/dagster/lib on PYTHONPATH).
run_storage:
  module: dagster_postgres.run_storage
  class: PostgresRunStorage
  config:
    {{- include "clawdata.instance.postgresDb" . | nindent 4 }}

event_log_storage:
  module: clawdata_storage
  class: ClawdataEventLogStorage
  config:
    {{- include "clawdata.instance.postgresDb" . | nindent 4 }}

schedule_storage:
  module: dagster_postgres.schedule_storage
  class: PostgresScheduleStorage
  config:
    {{- include "clawdata.instance.postgresDb" . | nindent 4 }}

# Every run goes through the queue; the daemon starts it when the warehouse pool has a slot.
{{- $q := $d.runCoordinator.config.queuedRunCoordinator }}
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    {{- if not (kindIs "invalid" $q.dequeueIntervalSeconds) }}
    dequeue_interval_seconds: {{ $q.dequeueIntervalSeconds }}
    {{- end }}
    dequeue_use_threads: {{ $q.dequeueUseThreads }}
    {{- if $q.dequeueNumWorkers }}
    dequeue_num_workers: {{ $q.dequeueNumWorkers }}
    {{- end }}

# Op granularity: each step that writes the warehouse holds the one slot of `duckdb_warehouse` while
# it runs, whatever launched it; run monitoring frees the slot of a run that died.
{{- $c := .Values.concurrency }}
concurrency:
  runs:
    {{- if not (kindIs "invalid" $c.runs.maxConcurrentRuns) }}
    max_concurrent_runs: {{ $c.runs.maxConcurrentRuns }}
    {{- end }}
    {{- with $c.runs.tagConcurrencyLimits }}
    tag_concurrency_limits: {{- toYaml . | nindent 6 }}
    {{- end }}
  pools:
    granularity: {{ $c.pools.granularity }}
    default_limit: {{ $c.pools.defaultLimit }}
    {{- if not (kindIs "invalid" $c.pools.opGranularityRunBuffer) }}
    op_granularity_run_buffer: {{ $c.pools.opGranularityRunBuffer }}
    {{- end }}

# Each run in a Kubernetes Job of the code server's image, with the data volumes, the CLAWDATA_*
# environment and the Postgres password; pinned to the code server's node while a volume it mounts
# is ReadWriteOnce (persistence.*.accessMode).
run_launcher:
  module: dagster_k8s
  class: K8sRunLauncher
  config:
    {{- include "clawdata.instance.runLauncherConfig" . | nindent 4 }}

{{- $m := $d.runMonitoring }}
{{- if $m.enabled }}

# A run whose pod died is marked failed (and its pool slot freed) instead of hanging.
run_monitoring:
  enabled: true
  start_timeout_seconds: {{ $m.startTimeoutSeconds }}
  cancel_timeout_seconds: {{ $m.cancelTimeoutSeconds }}
  max_resume_run_attempts: {{ $m.maxResumeRunAttempts }}
  poll_interval_seconds: {{ $m.pollIntervalSeconds }}
  free_slots_after_run_end_seconds: {{ $m.freeSlotsAfterRunEndSeconds }}
{{- end }}

{{- $r := $d.runRetries }}
{{- if $r.enabled }}

# Re-executed once from the failure when the run failed outside its own steps.
run_retries:
  enabled: true
  max_retries: {{ $r.maxRetries }}
  retry_on_asset_or_op_failure: {{ $r.retryOnAssetOrOpFailure }}
{{- end }}

compute_logs:
  {{- include "clawdata.instance.computeLogs" . | nindent 2 }}

{{- if .Values.retention.enabled }}

retention:
  {{- range $kind := list "schedule" "sensor" }}
  {{- $days := (index $.Values.retention $kind).purgeAfterDays }}
  {{ $kind }}:
    purge_after_days: {{ if kindIs "map" $days }}{{ toYaml $days | nindent 6 }}{{ else }}{{ $days }}{{ end }}
  {{- end }}
{{- end }}

telemetry:
  enabled: {{ .Values.telemetry.enabled }}

nux:
  enabled: false
{{- with .Values.additionalInstanceConfig }}

{{ toYaml . }}
{{- end }}
{{- end }}
