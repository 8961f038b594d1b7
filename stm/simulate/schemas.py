"""Arrow schemas of the simulated system tables, exactly as ``reference/system_tables.md`` gives them.

Section numbers refer to that file. Every column is nullable: the live tables declare almost none NOT NULL, and a
Delta schema comparison is on names and types. Where the reference leaves a nested type open, the choice made here is
written next to it and mirrored by the golden DDL in ``tests/golden/system_schemas``.
"""

from __future__ import annotations

import pyarrow as pa

from stm.simulate.schema_types import (
    BIGINT,
    BOOL,
    DATE,
    DEC,
    DOUBLE,
    INT,
    STR,
    STR_MAP,
    TS,
    schema,
    strings,
    struct,
)
from stm.simulate.schemas_ml import (
    ENDPOINT_USAGE,
    EXPERIMENTS_LATEST,
    QUERY_HISTORY,
    RUN_METRICS_HISTORY,
    RUNS_LATEST,
    SERVED_ENTITIES,
)

# §1.2 / §9: the 25 DESC-ordered fields, then the documented tail, 34 in all.
USAGE_METADATA_FIELDS: tuple[str, ...] = (
    "cluster_id", "job_id", "warehouse_id", "instance_pool_id", "node_type",
    "job_run_id", "notebook_id", "dlt_pipeline_id", "endpoint_name", "endpoint_id",
    "dlt_update_id", "dlt_maintenance_id", "run_name", "job_name", "notebook_path",
    "central_clean_room_id", "source_region", "destination_region", "app_id", "app_name",
    "metastore_id", "private_endpoint_name", "storage_api_type", "budget_policy_id",
    "ai_runtime_pool_id",
    "ai_runtime_workload_id", "uc_table_catalog", "uc_table_schema", "uc_table_name",
    "database_instance_id", "sharing_materialization_id", "usage_policy_id",
    "agent_bricks_id", "base_environment_id",
)  # fmt: skip

USAGE_METADATA = strings(*USAGE_METADATA_FIELDS)
BILLING_IDENTITY = strings("run_as", "created_by", "owned_by", "run_by")
PRODUCT_FEATURES = struct(
    jobs_tier=STR,
    sql_tier=STR,
    dlt_tier=STR,
    is_serverless=BOOL,
    is_photon=BOOL,
    serving_type=STR,
    networking=strings("connectivity_type"),
    ai_runtime=strings("compute_type"),
    model_serving=strings("offering_type"),
    ai_gateway=strings("feature_type"),
    performance_target=STR,
    serverless_gpu=strings("workload_type"),
    agent_bricks=strings("problem_type", "workload_type"),
    ai_functions=strings("ai_function"),
    apps=strings("compute_size"),
    lakeflow_connect=strings("task_type", "zerobus_request_type"),
    lakebase=strings("storage_type", "compute_type"),
    ai_bi_genie=strings("capability_type", "offering_type"),
    genie=strings("offering_type"),
)

BILLING_USAGE = schema(
    ("account_id", STR),
    ("workspace_id", STR),
    ("record_id", STR),
    ("sku_name", STR),
    ("cloud", STR),
    ("usage_start_time", TS),
    ("usage_end_time", TS),
    ("usage_date", DATE),
    ("custom_tags", STR_MAP),
    ("usage_unit", STR),
    ("usage_quantity", DEC),
    ("usage_metadata", USAGE_METADATA),
    ("identity_metadata", BILLING_IDENTITY),
    ("record_type", STR),
    ("ingestion_date", DATE),
    ("billing_origin_product", STR),
    ("product_features", PRODUCT_FEATURES),
    ("usage_type", STR),
)

PRICING = struct(default=DEC, promotional=struct(default=DEC), effective_list=struct(default=DEC))
LIST_PRICES = schema(
    ("account_id", STR),
    ("price_start_time", TS),
    ("price_end_time", TS),
    ("sku_name", STR),
    ("cloud", STR),
    ("currency_code", STR),
    ("usage_unit", STR),
    ("pricing", PRICING),
)

AUDIT = schema(
    ("account_id", STR),
    ("workspace_id", STR),
    ("version", STR),
    ("event_time", TS),
    ("event_date", DATE),
    ("source_ip_address", STR),
    ("user_agent", STR),
    ("session_id", STR),
    ("user_identity", strings("email", "subject_name")),
    ("service_name", STR),
    ("action_name", STR),
    ("request_id", STR),
    ("request_params", STR_MAP),
    ("response", struct(status_code=INT, error_message=STR, result=STR)),
    ("audit_level", STR),
    ("event_id", STR),
    ("identity_metadata", strings("run_by", "run_as", "acting_resource", "run_by_display_name", "run_as_display_name")),
)

WORKSPACES_LATEST = schema(
    ("account_id", STR),
    ("workspace_id", STR),
    ("workspace_name", STR),
    ("workspace_url", STR),
    ("create_time", TS),
    ("status", STR),
)

# §4.1 leaves the cloud attribute structs open; these are the Clusters API field sets of the 3P DDL. The doc's Azure
# example shows first_on_demand and spot_bid_max_price as strings, so the bid/on-demand fields are STRING on every
# cloud; the EBS counts and sizes are INT and use_preemptible_executors is BOOLEAN.
AWS_ATTRIBUTES = struct(
    instance_profile_arn=STR,
    zone_id=STR,
    first_on_demand=STR,
    availability=STR,
    spot_bid_price_percent=STR,
    ebs_volume_type=STR,
    ebs_volume_count=INT,
    ebs_volume_size=INT,
    ebs_volume_iops=INT,
    ebs_volume_throughput=INT,
)
AZURE_ATTRIBUTES = strings("first_on_demand", "availability", "spot_bid_max_price")
GCP_ATTRIBUTES = struct(use_preemptible_executors=BOOL, zone_id=STR, first_on_demand=STR, availability=STR)

CLUSTERS = schema(
    ("account_id", STR),
    ("workspace_id", STR),
    ("cluster_id", STR),
    ("cluster_name", STR),
    ("owned_by", STR),
    ("create_time", TS),
    ("delete_time", TS),
    ("driver_node_type", STR),
    ("worker_node_type", STR),
    ("worker_count", BIGINT),
    ("min_autoscale_workers", BIGINT),
    ("max_autoscale_workers", BIGINT),
    ("auto_termination_minutes", BIGINT),
    ("enable_elastic_disk", BOOL),
    ("tags", STR_MAP),
    ("cluster_source", STR),
    ("init_scripts", pa.list_(STR)),
    ("aws_attributes", AWS_ATTRIBUTES),
    ("azure_attributes", AZURE_ATTRIBUTES),
    ("gcp_attributes", GCP_ATTRIBUTES),
    ("driver_instance_pool_id", STR),
    ("worker_instance_pool_id", STR),
    ("dbr_version", STR),
    ("change_time", TS),
    ("change_date", DATE),
    ("data_security_mode", STR),
    ("policy_id", STR),
)

NODE_TIMELINE = schema(
    ("account_id", STR),
    ("workspace_id", STR),
    ("cluster_id", STR),
    ("instance_id", STR),
    ("start_time", TS),
    ("end_time", TS),
    ("driver", BOOL),
    ("cpu_user_percent", DOUBLE),
    ("cpu_system_percent", DOUBLE),
    ("cpu_wait_percent", DOUBLE),
    ("mem_used_percent", DOUBLE),
    ("mem_swap_percent", DOUBLE),
    ("network_sent_bytes", BIGINT),
    ("network_received_bytes", BIGINT),
    ("disk_free_bytes_per_mount_point", pa.map_(STR, BIGINT)),
    ("node_type", STR),
)

WAREHOUSES = schema(
    ("warehouse_id", STR),
    ("workspace_id", STR),
    ("account_id", STR),
    ("warehouse_name", STR),
    ("warehouse_type", STR),
    ("warehouse_channel", STR),
    ("warehouse_size", STR),
    ("min_clusters", INT),
    ("max_clusters", INT),
    ("auto_stop_minutes", INT),
    ("tags", STR_MAP),
    ("change_time", TS),
    ("delete_time", TS),
)

JOB_TRIGGER = struct(
    file_arrival=struct(url=STR, min_time_between_triggers_seconds=INT, wait_after_last_change_seconds=INT),
    periodic=struct(interval=INT, units=STR),
    continuous=struct(enabled=BOOL),
    table_update=struct(
        table_names=pa.list_(STR),
        min_time_between_triggers_seconds=BIGINT,
        wait_after_last_change_seconds=BIGINT,
        condition=STR,
    ),
    schedule=strings("quartz_cron_expression", "timezone_id"),
)

# §5.1: the columns from ``trigger`` on are the "new columns" (early December 2025); they trail the table.
JOBS_BASE_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("account_id", STR),
    ("workspace_id", STR),
    ("job_id", STR),
    ("name", STR),
    ("description", STR),
    ("creator_id", STR),
    ("tags", STR_MAP),
    ("change_time", TS),
    ("delete_time", TS),
    ("run_as", STR),
)
JOBS_NEW_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("trigger", JOB_TRIGGER),
    ("trigger_type", STR),
    ("run_as_user_name", STR),
    ("creator_user_name", STR),
    ("paused", BOOL),
    ("timeout_seconds", BIGINT),
    ("health_rules", pa.list_(struct(metric=STR, operator=STR, value=BIGINT))),
    ("deployment", strings("kind", "metadata_file_path")),
    ("create_time", TS),
)
JOBS_BEFORE_NEW_COLUMNS = schema(*JOBS_BASE_COLUMNS)
JOBS = schema(*JOBS_BASE_COLUMNS, *JOBS_NEW_COLUMNS)

RUN_COMPUTE = pa.list_(strings("type", "cluster_id", "warehouse_id"))
JOB_RUN_TIMELINE = schema(
    ("account_id", STR),
    ("workspace_id", STR),
    ("job_id", STR),
    ("run_id", STR),
    ("period_start_time", TS),
    ("period_end_time", TS),
    ("trigger_type", STR),
    ("run_type", STR),
    ("run_name", STR),
    ("compute_ids", pa.list_(STR)),
    ("result_state", STR),
    ("termination_code", STR),
    ("job_parameters", pa.map_(STR, STR_MAP)),
    ("source_task_run_id", STR),
    ("root_task_run_id", STR),
    ("compute", RUN_COMPUTE),
    ("termination_type", STR),
    ("setup_duration_seconds", BIGINT),
    ("queue_duration_seconds", BIGINT),
    ("run_duration_seconds", BIGINT),
    ("cleanup_duration_seconds", BIGINT),
    ("execution_duration_seconds", BIGINT),
)

# §5.4 leaves compute and task_parameters open: compute is taken to be the job run's element type and
# task_parameters a flat MAP<STRING, STRING>.
JOB_TASK_RUN_TIMELINE = schema(
    ("account_id", STR),
    ("workspace_id", STR),
    ("job_id", STR),
    ("run_id", STR),
    ("job_run_id", STR),
    ("parent_run_id", STR),
    ("period_start_time", TS),
    ("period_end_time", TS),
    ("task_key", STR),
    ("compute_ids", pa.list_(STR)),
    ("result_state", STR),
    ("termination_code", STR),
    ("compute", RUN_COMPUTE),
    ("termination_type", STR),
    ("task_parameters", STR_MAP),
    ("setup_duration_seconds", BIGINT),
    ("cleanup_duration_seconds", BIGINT),
    ("execution_duration_seconds", BIGINT),
)

SYSTEM_TABLES: dict[str, pa.Schema] = {
    "billing.usage": BILLING_USAGE,
    "billing.list_prices": LIST_PRICES,
    "access.audit": AUDIT,
    "access.workspaces_latest": WORKSPACES_LATEST,
    "compute.clusters": CLUSTERS,
    "compute.node_timeline": NODE_TIMELINE,
    "compute.warehouses": WAREHOUSES,
    "lakeflow.jobs": JOBS,
    "lakeflow.job_run_timeline": JOB_RUN_TIMELINE,
    "lakeflow.job_task_run_timeline": JOB_TASK_RUN_TIMELINE,
    "query.history": QUERY_HISTORY,
    "serving.served_entities": SERVED_ENTITIES,
    "serving.endpoint_usage": ENDPOINT_USAGE,
    "mlflow.experiments_latest": EXPERIMENTS_LATEST,
    "mlflow.runs_latest": RUNS_LATEST,
    "mlflow.run_metrics_history": RUN_METRICS_HISTORY,
}
