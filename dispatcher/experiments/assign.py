"""Deterministic variant assignment, computed identically in Python, SQLite and PostgreSQL.

    bucket = int(first 8 hex digits of md5("<salt>:<campaign>:" + customer_id)) % 10000

Buckets [0, holdout*10000) are the holdout; the rest is split by cumulative weight
in the order the variants are written. The same (salt, campaign, customer) always
lands in the same bucket, so a customer's arm survives re-runs, restarts and config
reloads; changing the salt starts a new experiment.

SQLite has no md5, so every SQLite connection gets ``dispatcher_bucket(prefix, id)``
(registered in store/db.py); PostgreSQL computes it from its own ``md5()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Integer, case, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from dispatcher.config.experiment import (
    HOLDOUT,
    TREATMENT,
    experiment_record,
    experiment_salt,
    is_experiment,
)
from dispatcher.store.bucket_hash import BUCKETS, SQLITE_FUNCTION, bucket_of, hash_prefix

if TYPE_CHECKING:
    from dispatcher.config.models import CampaignConfig

__all__ = ["HOLDOUT", "TREATMENT", "Arm", "arms", "assign", "experiment_record",
           "experiment_salt", "is_experiment", "variant_bucket", "variant_expr"]



class variant_bucket(FunctionElement[int]):
    """bucket_of(prefix, customer_id) in SQL."""

    type = Integer()
    inherit_cache = True


@compiles(variant_bucket, "sqlite")
def _bucket_sqlite(element: variant_bucket, compiler: Any, **kw: Any) -> str:
    return f"{SQLITE_FUNCTION}({compiler.process(element.clauses, **kw)})"


@compiles(variant_bucket)
def _bucket_default(element: variant_bucket, compiler: Any, **kw: Any) -> str:
    prefix, customer = list(element.clauses)
    text = (f"md5(CAST({compiler.process(prefix, **kw)} AS TEXT) || "
            f"CAST({compiler.process(customer, **kw)} AS TEXT))")
    # 'x' || 8 hex digits -> bit(32) -> bigint is the unsigned 32-bit value.
    # mod(), not %: a literal % would clash with the driver's pyformat placeholders.
    return f"mod(CAST(CAST('x' || substr({text}, 1, 8) AS bit(32)) AS bigint), {BUCKETS})"


@dataclass(frozen=True)
class Arm:
    name: str
    upper: int  # exclusive upper bucket bound


def arms(campaign: CampaignConfig) -> list[Arm]:
    """Bucket ranges: holdout first, then each variant by weight."""
    out: list[Arm] = []
    start = round(campaign.holdout * BUCKETS)
    if start:
        out.append(Arm(HOLDOUT, start))
    total = sum(v.weight for v in campaign.variants.values())
    cumulative = 0.0
    names = list(campaign.variants)
    if not names:  # holdout only: everyone else gets the campaign as written
        return [*out, Arm(TREATMENT, BUCKETS)]
    for index, name in enumerate(names):
        cumulative += campaign.variants[name].weight
        upper = BUCKETS if index == len(names) - 1 else \
            start + round((BUCKETS - start) * cumulative / total)
        out.append(Arm(name, upper))
    return out


def assign(campaign_name: str, campaign: CampaignConfig, customer_id: str) -> str | None:
    """Python reference: the arm of one customer."""
    if not is_experiment(campaign):
        return None
    bucket = bucket_of(hash_prefix(experiment_salt(campaign_name, campaign), campaign_name),
                       customer_id)
    for arm in arms(campaign):
        if bucket < arm.upper:
            return arm.name
    return None


def variant_expr(campaign_name: str, campaign: CampaignConfig,
                 customer_id: Any) -> ColumnElement[Any] | None:
    """SQL: the arm of each customer (None when the campaign runs no experiment)."""
    if not is_experiment(campaign):
        return None
    prefix = hash_prefix(experiment_salt(campaign_name, campaign), campaign_name)
    bucket = variant_bucket(literal(prefix), customer_id)
    whens = [(bucket < arm.upper, literal(arm.name)) for arm in arms(campaign)]
    return case(*whens, else_=None)
