"""SKUs per cloud following the §2.1 naming pattern, their list prices and the mid-period price changes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from stm.simulate.arrays import US_PER_DAY, build_table, decimals, rng_for, timestamps
from stm.simulate.schemas import LIST_PRICES
from stm.simulate.world import Workspace, World

PRICE_STREAM = 2


@dataclass(frozen=True)
class Product:
    """One billable product variant: how its SKU is named and what it costs per DBU (PREMIUM, before cloud factor)."""

    key: str
    origin: str  # billing_origin_product
    pattern: str  # {tier} and {region} are filled in
    price: float
    promotional: float | None = None
    usage_type: str = "COMPUTE_TIME"


PRODUCTS: dict[str, Product] = {
    p.key: p
    for p in (
        Product("jobs", "JOBS", "{tier}_JOBS_COMPUTE", 0.15),
        Product("jobs_photon", "JOBS", "{tier}_JOBS_COMPUTE_(PHOTON)", 0.15),
        Product("jobs_serverless", "JOBS", "{tier}_JOBS_SERVERLESS_COMPUTE_{region}", 0.35, 0.30),
        Product("all_purpose", "ALL_PURPOSE", "{tier}_ALL_PURPOSE_COMPUTE", 0.55),
        Product("all_purpose_photon", "ALL_PURPOSE", "{tier}_ALL_PURPOSE_COMPUTE_(PHOTON)", 0.55),
        Product("interactive", "INTERACTIVE", "{tier}_ALL_PURPOSE_SERVERLESS_COMPUTE_{region}", 0.75, 0.60),
        Product("sql_pro", "SQL", "{tier}_SQL_PRO_COMPUTE_{region}", 0.55),
        Product("sql_serverless", "SQL", "{tier}_SERVERLESS_SQL_COMPUTE_{region}", 0.70),
        Product("dlt", "DLT", "{tier}_DLT_ADVANCED_COMPUTE", 0.36),
        Product("model_serving", "MODEL_SERVING", "{tier}_SERVERLESS_REAL_TIME_INFERENCE_{region}", 0.07),
        Product("vector_search", "VECTOR_SEARCH", "{tier}_VECTOR_SEARCH_ENDPOINT_{region}", 0.28),
        Product("fm_training", "FOUNDATION_MODEL_TRAINING", "{tier}_GPU_SERVERLESS_COMPUTE_{region}", 0.65,
                usage_type="GPU_TIME"),
        # predictive optimization bills under the serverless jobs SKU; billing_origin_product tells them apart
        Product("predictive_optimization", "PREDICTIVE_OPTIMIZATION", "{tier}_JOBS_SERVERLESS_COMPUTE_{region}",
                0.35, 0.30),
        Product("apps", "APPS", "{tier}_APPS_SERVERLESS_COMPUTE_{region}", 0.50),
    )
}  # fmt: skip
CLOUD_FACTOR = {"AWS": 1.0, "AZURE": 1.1, "GCP": 1.05}
TIER_FACTOR = {"PREMIUM": 1.0, "ENTERPRISE": 1.25}
PRICE_EPOCH_DAYS = 400  # list prices start this many days before the first simulated day


def sku_name(product: Product, ws: Workspace) -> str:
    return product.pattern.format(tier=ws.account.tier, region=ws.region_code)


def _price_micro(product: Product, cloud: str, tier: str, base: float) -> int:
    return round(base * CLOUD_FACTOR[cloud] * TIER_FACTOR[tier] * 1_000_000)


@dataclass(frozen=True)
class PriceRow:
    account_id: str
    sku: str
    cloud: str
    default_micro: int
    promo_micro: int | None


def catalog(world: World) -> list[PriceRow]:
    """One row per (cloud, SKU) of the world; list prices are public, so each SKU is listed once per cloud."""
    rows: dict[tuple[str, str], PriceRow] = {}
    for ws in world.workspaces:
        for product in PRODUCTS.values():
            key = (ws.cloud, sku_name(product, ws))
            if key not in rows:
                promo = product.promotional
                rows[key] = PriceRow(
                    ws.account.account_id,
                    key[1],
                    ws.cloud,
                    _price_micro(product, ws.cloud, ws.account.tier, product.price),
                    None if promo is None else _price_micro(product, ws.cloud, ws.account.tier, promo),
                )
    return [rows[k] for k in sorted(rows)]


def price_table(rows: list[PriceRow], start_us: np.ndarray, scale_permille: int = 1000) -> pa.Table:
    """list_prices rows for ``rows`` starting at ``start_us``, prices scaled by ``scale_permille``/1000."""
    n = len(rows)
    default = np.array([r.default_micro * scale_permille // 1000 for r in rows], dtype=np.int64)
    promo = np.array([(r.promo_micro or 0) * scale_permille // 1000 for r in rows], dtype=np.int64)
    has_promo = np.array([r.promo_micro is not None for r in rows], dtype=bool)
    effective = decimals(np.where(has_promo, promo, default))
    return build_table(
        LIST_PRICES,
        n,
        {
            "account_id": pa.array([r.account_id for r in rows]),
            "price_start_time": timestamps(start_us),
            "sku_name": pa.array([r.sku for r in rows]),
            "cloud": pa.array([r.cloud for r in rows]),
            "currency_code": "USD",
            "usage_unit": "DBU",
            "pricing": {
                "default": decimals(default),
                "promotional": {"default": decimals(promo, valid=has_promo)},
                "effective_list": {"default": effective},
            },
        },
    )


def initial_prices(world: World) -> pa.Table:
    rows = catalog(world)
    start = world.origin_us - PRICE_EPOCH_DAYS * US_PER_DAY
    return price_table(rows, np.full(len(rows), start, dtype=np.int64))


@dataclass(frozen=True)
class PriceChange:
    """Some SKUs get a new list price at ``at_us``: the old rows end there and new rows start."""

    at_us: int
    skus: tuple[tuple[str, str], ...]  # (cloud, sku)
    new_rows: pa.Table


def price_change(world: World, run_number: int, at_us: int) -> PriceChange:
    """The price change of simulation run ``run_number``: two SKUs per cloud go up 10%, deterministically."""
    rng = rng_for(world.seed, PRICE_STREAM, run_number)
    rows = catalog(world)
    chosen: list[PriceRow] = []
    for cloud in sorted({r.cloud for r in rows}):
        of_cloud = [r for r in rows if r.cloud == cloud]
        for i in sorted(rng.choice(len(of_cloud), size=min(2, len(of_cloud)), replace=False)):
            chosen.append(of_cloud[int(i)])
    scale = 1000 + 100 * run_number
    table = price_table(chosen, np.full(len(chosen), at_us, dtype=np.int64), scale_permille=scale + 100)
    return PriceChange(at_us, tuple((r.cloud, r.sku) for r in chosen), table)
