{{/* Names, labels and the pieces several templates share. */}}

{{- define "clawdata.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "clawdata.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "clawdata.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select a component's pods: (list $ "component") */}}
{{- define "clawdata.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "clawdata.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "clawdata.labels" -}}
{{- $ := index . 0 -}}
{{ include "clawdata.selectorLabels" . }}
app.kubernetes.io/version: {{ $.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: clawdata
app.kubernetes.io/managed-by: {{ $.Release.Service }}
helm.sh/chart: {{ include "clawdata.chart" $ }}
{{- end }}

{{- define "clawdata.serviceAccountName" -}}
{{- if .Values.global.serviceAccountName }}
{{- .Values.global.serviceAccountName }}
{{- else if .Values.serviceAccount.create }}
{{- default (include "clawdata.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "clawdata.image" -}}
{{- printf "%s:%s" .repository (toString .tag) }}
{{- end }}

{{- define "clawdata.userCodeServiceName" -}}
{{- printf "%s-user-code" (include "clawdata.fullname" .) }}
{{- end }}

{{- define "clawdata.instanceConfigMapName" -}}
{{- printf "%s-instance" (include "clawdata.fullname" .) }}
{{- end }}

{{- define "clawdata.postgresql.secretName" -}}
{{- .Values.global.postgresqlSecretName }}
{{- end }}

{{- define "clawdata.postgresql.host" -}}
{{- if .Values.postgresql.enabled }}
{{- printf "%s-postgresql" (include "clawdata.fullname" .) }}
{{- else }}
{{- required "postgresql.postgresqlHost is required when postgresql.enabled is false" .Values.postgresql.postgresqlHost }}
{{- end }}
{{- end }}

{{- define "clawdata.jobNamespace" -}}
{{- default .Release.Namespace .Values.runLauncher.config.k8sRunLauncher.jobNamespace }}
{{- end }}

{{/* The Postgres password for Dagster's instance config ({env: DAGSTER_PG_PASSWORD}). */}}
{{- define "clawdata.env.pgPassword" -}}
- name: DAGSTER_PG_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "clawdata.postgresql.secretName" . | quote }}
      key: postgresql-password
{{- end }}

{{/* The compute logs live on the `logs` volume only with the local compute log manager. */}}
{{- define "clawdata.logsOnVolume" -}}
{{- if eq .Values.computeLogManager.type "LocalComputeLogManager" }}true{{ end }}
{{- end }}

{{/* Data volumes: name -> mount path. The logs volume exists only for local compute logs. */}}
{{- define "clawdata.dataVolumes" -}}
{{- $volumes := dict "warehouse" "/var/lib/clawdata/warehouse" "inbox" "/var/lib/clawdata/inbox" "replica" "/var/lib/clawdata/replica" }}
{{- if include "clawdata.logsOnVolume" . }}
{{- $_ := set $volumes "logs" "/var/lib/clawdata/logs" }}
{{- end }}
{{- toJson $volumes }}
{{- end }}

{{- define "clawdata.claimName" -}}
{{- $ := index . 0 }}
{{- $name := index . 1 }}
{{- $p := index $.Values.persistence $name }}
{{- default (printf "%s-%s" (include "clawdata.fullname" $) $name) $p.existingClaim }}
{{- end }}

{{/* The volumes of (list $ "warehouse" "inbox" ...), as pod spec volumes. */}}
{{- define "clawdata.volumes" -}}
{{- $ := index . 0 }}
{{- $all := include "clawdata.dataVolumes" $ | fromJson }}
{{- range $name := rest . }}
{{- if hasKey $all $name }}
- name: {{ $name }}
  persistentVolumeClaim:
    claimName: {{ include "clawdata.claimName" (list $ $name) }}
{{- end }}
{{- end }}
{{- end }}

{{- define "clawdata.volumeMounts" -}}
{{- $ := index . 0 }}
{{- $all := include "clawdata.dataVolumes" $ | fromJson }}
{{- range $name := rest . }}
{{- if hasKey $all $name }}
- name: {{ $name }}
  mountPath: {{ index $all $name }}
{{- end }}
{{- end }}
{{- end }}

{{/* "true" when any of the named volumes is ReadWriteOnce: pods mounting it must share a node. */}}
{{- define "clawdata.pinned" -}}
{{- $ := index . 0 }}
{{- $all := include "clawdata.dataVolumes" $ | fromJson }}
{{- range $name := rest . }}
{{- if and (hasKey $all $name) (eq (index $.Values.persistence $name).accessMode "ReadWriteOnce") }}true{{ end }}
{{- end }}
{{- end }}

{{/* A required pod affinity to the code server's pod: same node (where the RWO volumes are). */}}
{{- define "clawdata.affinityToUserCode" -}}
podAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - labelSelector:
        matchLabels:
          {{- include "clawdata.selectorLabels" (list . "user-code") | nindent 10 }}
      topologyKey: kubernetes.io/hostname
{{- end }}

{{/* A pod's affinity: (list $ userAffinity "volume" ...): the user's, plus the pin when needed. */}}
{{- define "clawdata.podAffinity" -}}
{{- $ := index . 0 }}
{{- $affinity := deepCopy (index . 1) }}
{{- if include "clawdata.pinned" (prepend (rest (rest .)) $) }}
{{- $affinity = mergeOverwrite $affinity (include "clawdata.affinityToUserCode" $ | fromYaml) }}
{{- end }}
{{- if $affinity }}
{{- toYaml $affinity }}
{{- end }}
{{- end }}

{{/* The CLAWDATA_* environment of the code server and every run pod (x-clawdata-env), as a dict. */}}
{{- define "clawdata.env" -}}
{{- $c := .Values.clawdata }}
{{- $env := dict
  "CLAWDATA_WAREHOUSE_PATH" "/var/lib/clawdata/warehouse/warehouse.duckdb"
  "CLAWDATA_INBOX_DIR" "/var/lib/clawdata/inbox"
  "CLAWDATA_REPLICA_PATH" "/var/lib/clawdata/replica/warehouse.duckdb"
  "CLAWDATA_DAILY_CRON" $c.dailyCron
  "CLAWDATA_DAILY_SCHEDULE" $c.dailySchedule
  "CLAWDATA_SENSOR_INTERVAL_SECONDS" (toString $c.sensorIntervalSeconds)
  "CLAWDATA_RUN_RETENTION_DAYS" (toString $c.runRetentionDays)
  "CLAWDATA_GOLD_FRESHNESS_HOURS" (toString $c.goldFreshnessHours) }}
{{- if $c.uiUrl }}
{{- $_ := set $env "CLAWDATA_UI_URL" $c.uiUrl }}
{{- end }}
{{- range $k, $v := $c.env }}
{{- $_ := set $env $k (toString $v) }}
{{- end }}
{{- toJson $env }}
{{- end }}

{{/* envFrom entries from envConfigMaps and envSecrets lists of {name: ...}. */}}
{{- define "clawdata.envFrom" -}}
{{- range .envConfigMaps }}
- configMapRef:
    name: {{ .name | quote }}
{{- end }}
{{- range .envSecrets }}
- secretRef:
    name: {{ .name | quote }}
{{- end }}
{{- end }}

{{/* The instance ConfigMap, mounted as DAGSTER_HOME/dagster.yaml over the image's Compose one. */}}
{{- define "clawdata.instanceVolumeMount" -}}
- name: dagster-instance
  mountPath: {{ printf "%s/dagster.yaml" .Values.global.dagsterHome | quote }}
  subPath: dagster.yaml
  readOnly: true
{{- end }}

{{- define "clawdata.instanceVolume" -}}
- name: dagster-instance
  configMap:
    name: {{ include "clawdata.instanceConfigMapName" . }}
{{- end }}

{{- define "clawdata.workspaceVolumeMount" -}}
- name: dagster-workspace
  mountPath: /opt/dagster/workspace
  readOnly: true
{{- end }}

{{- define "clawdata.workspaceVolume" -}}
- name: dagster-workspace
  configMap:
    name: {{ include "clawdata.fullname" . }}-workspace
{{- end }}
