"""The GraphQL documents the CLI sends; the same for the local instance and a deployment."""

LOCATIONS = """
query Locations {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries { name locationOrLoadError { __typename ... on PythonError { message errorChain { error { message } } } } }
    }
    ... on PythonError { message }
  }
}
"""

ASSET_KEYS = """
query AssetKeys { assetNodes { assetKey { path } } }
"""

ASSET_PARENTS = """
query AssetParents {
  assetNodes {
    assetKey { path }
    dependencyKeys { path }
    assetChecksOrError { ... on AssetChecks { checks { name additionalAssetKeys { path } } } }
  }
}
"""

STATUS = """
query Status($runLimit: Int!) {
  assetNodes {
    assetKey { path }
    groupName
    opNames
    opVersion  # the asset's code version
    dependencyKeys { path }  # what it reads: whether an upstream failure still holds it back
    assetMaterializations(limit: 1) {
      timestamp
      runId
      metadataEntries { label ... on IntMetadataEntry { intValue } ... on TextMetadataEntry { text } }
      tags { key value }
    }
    # gold's freshness policy (defs/gold/translator.py) and the daemon's verdict on it
    internalFreshnessPolicy { __typename ... on TimeWindowFreshnessPolicy { failWindowSeconds } }
    freshnessStatusInfo { freshnessStatus }
    # rows reported after a materialization (gold did so until clawdata 0.1: history keeps them)
    # and, on a dbt node its run did not build because something it depends on failed, why (defs/gold)
    assetObservations(limit: 1) { timestamp runId metadataEntries { label ... on IntMetadataEntry { intValue } ... on TextMetadataEntry { text } } }
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name executionForLatestMaterialization { status evaluation { severity } } } }
    }
  }
  runsOrError(limit: $runLimit) {
    __typename
    ... on Runs { results { runId status jobName startTime endTime tags { key value } } }
    ... on PythonError { message }
  }
  instance { daemonHealth { allDaemonStatuses { daemonType healthy required lastHeartbeatTime } } }
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        schedules { name cronSchedule executionTimezone scheduleState { status ticks(limit: 1) { status timestamp skipReason error { message } } } futureTicks(limit: 1) { results { timestamp } } }
        sensors { name minIntervalSeconds sensorState { status ticks(limit: 1) { status timestamp skipReason error { message } } } }
      }
    }
    ... on PythonError { message }
  }
}
"""

# What a deployment answers with its code server down: the instance's own records.
STATUS_RECORDS = """
query StatusRecords($runLimit: Int!) {
  runsOrError(limit: $runLimit) {
    __typename
    ... on Runs { results { runId status jobName startTime endTime tags { key value } } }
    ... on PythonError { message }
  }
  instance { daemonHealth { allDaemonStatuses { daemonType healthy required lastHeartbeatTime } } }
}
"""

# The latest run that targeted each asset: a build that failed shows as such, whenever it was fresh
# before; its steps tell an asset whose own step failed from one never built behind a failure.
ASSETS_LATEST = """
query AssetsLatest($keys: [AssetKeyInput!]!) {
  assetsLatestInfo(assetKeys: $keys) { assetKey { path } latestRun { id status stepStats { stepKey status } } }
}
"""

# Each source's rows and last load (`clawdata source list --url`).
LATEST_MATERIALIZATIONS = """
query LatestMaterializations($keys: [AssetKeyInput!]!) {
  assetsLatestInfo(assetKeys: $keys) {
    assetKey { path }
    latestMaterialization { timestamp metadataEntries { label ... on IntMetadataEntry { intValue } } }
  }
}
"""

DECLARED_SOURCES = """
query DeclaredSources($group: AssetGroupSelector!) {
  assetNodes(group: $group) {
    assetKey { path }
    metadataEntries { label ... on JsonMetadataEntry { jsonString } }
  }
}
"""

SENSOR = """
query Sensor($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { name sensorType assetSelection { assetKeys { path } } targets { pipelineName } sensorState { status typeSpecificData { ... on SensorData { lastCursor } } } }
    ... on SensorNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

SENSOR_NAMES = """
query SensorNames { repositoriesOrError { ... on RepositoryConnection { nodes { sensors { name } } } } }
"""

SENSOR_DRY_RUN = """
mutation SensorDryRun($selector: SensorSelector!, $cursor: String) {
  sensorDryRun(selectorData: $selector, cursor: $cursor) {
    __typename
    ... on DryRunInstigationTick {
      evaluationResult {
        cursor
        skipReason
        runRequests { runKey jobName tags { key value } assetSelection { path } assetChecks { assetKey { path } name } }
        error { message causes { message } }
      }
    }
    ... on PythonError { message }
  }
}
"""

SET_SENSOR_CURSOR = """
mutation SetSensorCursor($selector: SensorSelector!, $cursor: String) {
  setSensorCursor(sensorSelector: $selector, cursor: $cursor) {
    __typename
    ... on PythonError { message }
    ... on SensorNotFoundError { message }
  }
}
"""

RUNS_WITH_TAGS = """
query RunsWithTags($tags: [ExecutionTag!]) {
  runsOrError(filter: {tags: $tags}, limit: 1) { ... on Runs { results { runId status } } }
}
"""

RUN_TAGS = """
query RunTags($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { tags { key value } } ... on RunNotFoundError { message } }
}
"""

LAUNCH_RUN = """
mutation LaunchRun($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on UnauthorizedError { message }
    ... on PipelineNotFoundError { message }
    ... on RunConflict { message }
  }
}
"""

RUN_EVENTS = """
query RunEvents($runId: ID!, $after: String) {
  runOrError(runId: $runId) { __typename ... on Run { status tags { key value } } ... on RunNotFoundError { message } }
  logsForRun(runId: $runId, afterCursor: $after) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on MessageEvent { message stepKey timestamp level }
        ... on MaterializationEvent {
          assetKey { path }
          metadataEntries { label ... on IntMetadataEntry { intValue } ... on BoolMetadataEntry { boolValue } }
        }
        ... on ExecutionStepFailureEvent {
          error { message cause { message cause { message cause { message } } } }
          failureMetadata { description metadataEntries { label ... on IntMetadataEntry { intValue } } }
        }
        ... on RunFailureEvent { error { message } }
        ... on EngineEvent { error { message } }
        ... on ObservationEvent { assetKey { path } metadataEntries { label ... on TextMetadataEntry { text } } }
        ... on AssetCheckEvaluationEvent { evaluation { checkName success severity description assetKey { path }
                                                         metadataEntries { label ... on IntMetadataEntry { intValue }
                                                                           ... on BoolMetadataEntry { boolValue } } } }
        ... on AssetMaterializationPlannedEvent { assetKey { path } }
        ... on AssetCheckEvaluationPlannedEvent { checkedKey: assetKey { path } checkName }
      }
    }
  }
}
"""

TERMINATE_RUN = """
mutation TerminateRun($runId: String!) {
  terminateRun(runId: $runId) {
    __typename
    ... on TerminateRunFailure { message }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}
"""

RECENT_RUN_IDS = """
query RecentRunIds($limit: Int!) { runsOrError(limit: $limit) { ... on Runs { results { runId } } } }
"""

# What a run's event log says, errors with their whole chain: `logs` prints it, the stack tests read it.
EVENT_FIELDS = """
fragment EventFields on DagsterRunEvent {
  __typename
  ... on MessageEvent { message stepKey timestamp level }
  ... on ErrorEvent { error { message stack errorChain { error { message stack } } } }
  ... on ExecutionStepFailureEvent { failureMetadata { description } }
}
"""

RUN_LOGS = EVENT_FIELDS + """
query RunLogs($runId: ID!, $after: String) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status jobName startTime endTime }
    ... on RunNotFoundError { message }
  }
  logsForRun(runId: $runId, afterCursor: $after, limit: 1000) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        ...EventFields
        ... on LogsCapturedEvent { fileKey stepKeys }
      }
    }
    ... on PythonError { message }
  }
}
"""

CAPTURED_LOGS = """
query CapturedLogs($logKey: [String!]!, $cursor: String) {
  capturedLogs(logKey: $logKey, cursor: $cursor) { stdout stderr cursor }
}
"""
