"""Great Expectations suite for silver ``transactions`` (version 1)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from lake.reference import currencies

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SUITE_NAME = "silver_transactions_v1"


@dataclass(frozen=True)
class SuiteResult:
    success: bool
    failures: list[str]
    results: list[dict[str, Any]]


def _expectations(today: date) -> list[Any]:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["account_id", "partner_txn_id"]),
        gxe.ExpectColumnValuesToNotBeNull(column="amount"),
        gxe.ExpectColumnValuesToNotBeNull(column="posted_date"),
        gxe.ExpectColumnValuesToBeInSet(column="currency", value_set=currencies()),
        gxe.ExpectColumnValuesToBeBetween(
            column="posted_date", min_value="1990-01-01",
            max_value=(today + timedelta(days=31)).isoformat()),
    ]


def validate_live_transactions(live: DataFrame, today: date) -> SuiteResult:
    """Run the suite on live silver rows (tombstones carry no amount and are left out)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_spark(name="silver")
    asset = source.add_dataframe_asset(name="transactions")
    batch_def = asset.add_batch_definition_whole_dataframe("batch")
    suite = context.suites.add(gx.ExpectationSuite(name=SUITE_NAME))
    for expectation in _expectations(today):
        suite.add_expectation(expectation)
    result = batch_def.get_batch(batch_parameters={"dataframe": live}).validate(suite)
    rows, failures = [], []
    for r in result.results:
        cfg = r.expectation_config
        name = f"{cfg.type}({cfg.kwargs.get('column') or cfg.kwargs.get('column_list')})"
        unexpected = r.result.get("unexpected_count")
        rows.append({"expectation": name, "success": bool(r.success), "unexpected": unexpected})
        if not r.success:
            failures.append(f"{name}: {unexpected} unexpected")
    return SuiteResult(bool(result.success), failures, rows)
