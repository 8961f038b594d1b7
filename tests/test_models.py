"""The model registry: every model builds from its declared inputs, and dated models are date-local."""

from __future__ import annotations

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from stm.config import Config, load_config
from stm.simulate import schemas
from stm.transforms.models import SILVER_BILLING, compute, models
from tests.cost_data import D1, D2, LIST_PRICES, bronze, prices_frame, usage_frame
from tests.gold_data import AIML_BILLING, AIML_PRICES, BASE_BILLING, LATE_CORRECTION, frames

MODELS = models(load_config())
DATED = sorted(name for name, m in MODELS.items() if m.date_column is not None)


@pytest.fixture(scope="module")
def inputs(spark) -> dict[str, DataFrame]:
    built = frames(spark)
    built["billing_summary"] = built["billing_summary"].cache()  # priced once, read by most models
    return built


def test_models_keys_and_dated_inputs_name_declared_columns(inputs, cfg: Config):
    for model in MODELS.values():
        assert set(model.inputs) <= set(inputs), model.name
        for dated in model.dated_inputs:
            assert dated.input in model.inputs and dated.column in inputs[dated.input].columns, model.name
        assert model.keys[:2] == ("account_id", "workspace_id"), model.name
        assert model.date_column is None or model.date_column in model.keys, model.name
        # the schema is known without running a job
        columns = compute(model, inputs, cfg).columns
        assert set(model.keys) <= set(columns), model.name


@pytest.mark.parametrize("name", DATED)
def test_models_recompute_of_one_date_equals_full_computation(name, inputs, cfg: Config):
    model = MODELS[name]
    date_column = F.col(model.date_column or "")
    # each date is computed from its own input rows only, then both are compared with the full computation
    local = compute(model, inputs, cfg, dates=[D1]).unionByName(compute(model, inputs, cfg, dates=[D2]))
    assertDataFrameEqual(local, compute(model, inputs, cfg).where(date_column.isin(D1, D2)))


def test_silver_billing_recompute_of_one_date_equals_full(spark, cfg: Config):
    sources = {
        "billing_usage_bronze": usage_frame(spark, [*BASE_BILLING, *LATE_CORRECTION, *AIML_BILLING]),
        "list_prices": prices_frame(spark, (*LIST_PRICES, *AIML_PRICES)),
        "account_prices": bronze(spark, schemas.LIST_PRICES, []),
    }
    full = compute(SILVER_BILLING, sources, cfg)
    assert full.count() == len(BASE_BILLING) + len(LATE_CORRECTION) + len(AIML_BILLING)
    assertDataFrameEqual(compute(SILVER_BILLING, sources, cfg, dates=[D2]), full.where(F.col("usage_date") == D2))
    # an account_prices table with no rows leaves every net cost at list
    assert full.where(F.col("net_cost_usd") != F.col("estimated_cost_usd")).count() == 0
