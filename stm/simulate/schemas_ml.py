"""Arrow schemas of the simulated query, serving and MLflow system tables (``reference/system_tables.md`` §6-§8).

The rest are in ``stm.simulate.schemas``, which lists them all in ``SYSTEM_TABLES``.
"""

from __future__ import annotations

import pyarrow as pa

from stm.simulate.schema_types import (
    BIGINT,
    BOOL,
    DOUBLE,
    INT,
    STR,
    STR_MAP,
    TINYINT,
    TS,
    schema,
    strings,
    struct,
)

# §6.1 says query_parameters is a very deep expression tree and safe to leave NULL. It is simplified here to one
# level of literal expressions (value and type strings) with the documented outer shape; the simulator writes NULL.
PARAM_EXPRS = struct(exprs=pa.list_(strings("value", "type")))
QUERY_PARAMETERS = struct(
    named_parameters=pa.map_(STR, PARAM_EXPRS), pos_parameters=pa.list_(PARAM_EXPRS), truncated=BOOL
)
QUERY_SOURCE = struct(
    job_info=strings("job_id", "job_run_id", "job_task_run_id"),
    legacy_dashboard_id=STR,
    dashboard_id=STR,
    alert_id=STR,
    notebook_id=STR,
    sql_query_id=STR,
    genie_space_id=STR,
    pipeline_info=strings("pipeline_id", "update_id"),
)
QUERY_HISTORY = schema(
    ("account_id", STR),
    ("workspace_id", STR),
    ("statement_id", STR),
    ("executed_by", STR),
    ("session_id", STR),
    ("execution_status", STR),
    ("compute", strings("type", "cluster_id", "warehouse_id")),
    ("executed_by_user_id", STR),
    ("statement_text", STR),
    ("statement_type", STR),
    ("error_message", STR),
    ("client_application", STR),
    ("client_driver", STR),
    ("total_duration_ms", BIGINT),
    ("waiting_for_compute_duration_ms", BIGINT),
    ("waiting_at_capacity_duration_ms", BIGINT),
    ("execution_duration_ms", BIGINT),
    ("compilation_duration_ms", BIGINT),
    ("total_task_duration_ms", BIGINT),
    ("result_fetch_duration_ms", BIGINT),
    ("start_time", TS),
    ("end_time", TS),
    ("update_time", TS),
    ("read_partitions", BIGINT),
    ("pruned_files", BIGINT),
    ("read_files", BIGINT),
    ("read_rows", BIGINT),
    ("produced_rows", BIGINT),
    ("read_bytes", BIGINT),
    ("read_io_cache_percent", TINYINT),
    ("from_result_cache", BOOL),
    ("spilled_local_bytes", BIGINT),
    ("written_bytes", BIGINT),
    ("shuffle_read_bytes", BIGINT),
    ("query_source", QUERY_SOURCE),
    ("executed_as_user_id", STR),
    ("executed_as", STR),
    ("written_rows", BIGINT),
    ("written_files", BIGINT),
    ("cache_origin_statement_id", STR),
    ("query_parameters", QUERY_PARAMETERS),
    ("query_tags", STR_MAP),
    ("pruned_files_bytes", BIGINT),
    ("read_files_bytes", BIGINT),
)

SERVED_ENTITIES = schema(
    ("served_entity_id", STR),
    ("account_id", STR),
    ("workspace_id", STR),
    ("created_by", STR),
    ("endpoint_name", STR),
    ("endpoint_id", STR),
    ("served_entity_name", STR),
    ("entity_type", STR),
    ("entity_name", STR),
    ("entity_version", STR),
    ("endpoint_config_version", INT),
    ("task", STR),
    ("external_model_config", strings("provider")),
    ("foundation_model_config", struct(min_provisioned_throughput=BIGINT, max_provisioned_throughput=BIGINT)),
    ("custom_model_config", struct(min_concurrency=INT, max_concurrency=INT, compute_type=STR)),
    ("feature_spec_config", struct(min_concurrency=INT, max_concurrency=INT, compute_type=STR)),
    ("change_time", TS),
    ("endpoint_delete_time", TS),
)

ENDPOINT_USAGE = schema(
    ("workspace_id", STR),
    ("account_id", STR),
    ("client_request_id", STR),
    ("databricks_request_id", STR),
    ("requester", STR),
    ("status_code", INT),
    ("request_time", TS),
    ("input_token_count", BIGINT),
    ("output_token_count", BIGINT),
    ("input_character_count", BIGINT),
    ("output_character_count", BIGINT),
    ("usage_context", STR_MAP),
    ("request_streaming", BOOL),
    ("served_entity_id", STR),
)

EXPERIMENTS_LATEST = schema(
    ("account_id", STR),
    ("update_time", TS),
    ("delete_time", TS),
    ("experiment_id", STR),
    ("workspace_id", STR),
    ("name", STR),
    ("create_time", TS),
)

# §7.4: the element type of aggregated_metrics was not retrieved; this one is presumed (min/max/latest per metric).
AGGREGATED_METRIC = struct(
    metric_name=STR, min_value=DOUBLE, max_value=DOUBLE, latest_value=DOUBLE, latest_step=BIGINT, latest_timestamp=TS
)
RUNS_LATEST = schema(
    ("account_id", STR),
    ("update_time", TS),
    ("delete_time", TS),
    ("workspace_id", STR),
    ("run_id", STR),
    ("experiment_id", STR),
    ("created_by", STR),
    ("start_time", TS),
    ("end_time", TS),
    ("run_name", STR),
    ("status", STR),
    ("params", STR_MAP),
    ("tags", STR_MAP),
    ("aggregated_metrics", pa.list_(AGGREGATED_METRIC)),
)

RUN_METRICS_HISTORY = schema(
    ("account_id", STR),
    ("insert_time", TS),
    ("record_id", STR),
    ("workspace_id", STR),
    ("experiment_id", STR),
    ("run_id", STR),
    ("metric_name", STR),
    ("metric_time", TS),
    ("metric_step", BIGINT),
    ("metric_value", DOUBLE),
)
