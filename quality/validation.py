"""Write-audit-publish: validate staged rows with a versioned Great Expectations suite.

Suites live in ``quality/suites/<name>.json`` (one per layer and gold table), each
expectation with a ``severity``: ``error`` blocks publishing, ``warning`` is recorded. Every
run writes GX data docs (an HTML page) and the result JSON into the lake under
``quality/reports/`` and one row into ``quality_results``; the Dagster checks link the page.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.ids import new_id
from lake.lake import Lake
from lake.small_tables import append_rows
from lake.tables import QUALITY_RESULTS
from quality.views import audit_view

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SUITES_DIR = Path(__file__).parent / "suites"
REPORTS_PREFIX = "quality/reports"
LOCAL_ROWS = 20_000  # staged batches up to this size are validated in pandas (same suite)
log = logging.getLogger(__name__)
_lock = threading.Lock()
_gx: dict[str, Any] = {}


@dataclass
class Audit:
    suite: str
    version: int
    layer: str
    scope: str
    rows: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    report_ref: str | None = None
    report_uri: str | None = None
    seconds: float = 0.0

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [r for r in self.results if not r["success"] and r["severity"] == "error"]

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return [r for r in self.results if not r["success"] and r["severity"] == "warning"]

    @property
    def passed(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if not self.errors and not self.warnings:
            return f"{self.suite} v{self.version}: {len(self.results)} expectations met " \
                   f"on {self.rows} rows"
        parts = [f"{r['expectation']}: {r['observed']}" for r in self.errors + self.warnings]
        head = "blocked" if self.errors else "passed with warnings"
        return f"{self.suite} v{self.version} {head} ({self.rows} rows): " + "; ".join(parts)


class AuditFailed(RuntimeError):
    """Staged rows failed an error-severity expectation: nothing was published."""

    def __init__(self, audits: list[Audit], held: str = "") -> None:
        self.audits = audits
        failed = [a for a in audits if not a.passed]
        text = " | ".join(a.summary() for a in failed)
        where = f" Staged rows kept at {held}." if held else ""
        hint = ""
        if any(a.suite == "raw_changes" for a in failed):
            day = failed[0].scope.split("/")[0]
            hint = (f" Review the held records with `finlake quarantine list --date {day}`;"
                    " fix and release them, or once the cause is understood re-run with"
                    " FINLAKE_QUARANTINE_CEILING=1 to publish the valid rest.")
        super().__init__(f"not published: {text}.{where}{hint} Reports: "
                         + ", ".join(a.report_uri or "-" for a in failed))


@cache
def load_suite(name: str) -> dict[str, Any]:
    path = SUITES_DIR / f"{name}.json"
    spec = json.loads(path.read_text())
    for e in spec["expectations"]:
        if e.get("severity") not in ("error", "warning"):
            raise ValueError(f"{path}: every expectation needs severity error or warning")
    return spec


def _label(cfg: Any) -> str:
    kw = cfg.kwargs
    what = kw.get("column") or ",".join(kw.get("column_list") or [])
    return f"{cfg.type}({what})"


def _gx_suite(name: str, engine: str = "spark") -> tuple[Any, Any]:
    """(batch definition, suite) for the named suite on ``engine`` (spark | pandas); built
    once per process."""
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    with _lock:
        if "context" not in _gx:
            for logger in ("great_expectations", "great_expectations.data_context.types.base"):
                logging.getLogger(logger).setLevel(logging.WARNING)
            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            _gx["context"] = context
        context = _gx["context"]
        if (name, engine) not in _gx:
            spec = load_suite(name)
            add = context.data_sources.add_spark if engine == "spark" \
                else context.data_sources.add_pandas
            asset = add(name=f"{engine}_{name}").add_dataframe_asset(name=name)
            batch_def = asset.add_batch_definition_whole_dataframe("staged")
            suite = ExpectationSuite(name=f"{name}_v{spec['version']}_{engine}",
                                     meta={"version": spec["version"], "layer": spec["layer"]})
            for e in spec["expectations"]:
                suite.add_expectation_configuration(ExpectationConfiguration(
                    type=e["type"], kwargs=e["kwargs"],
                    meta={"severity": e["severity"], "why": e["why"]}))
            _gx[(name, engine)] = (batch_def, context.suites.add(suite))
        return _gx[(name, engine)]


def _observed(result: dict[str, Any]) -> str:
    if result.get("unexpected_count") is not None:
        return f"{result['unexpected_count']} unexpected"
    if "observed_value" in result:
        return f"observed {result['observed_value']}"
    return "-"


def validate(lake: Lake, name: str, staged: DataFrame | None, scope: str, sync_date: date | None,
             extra: list[dict[str, Any]] = ()) -> Audit:
    """Run the suite on ``staged`` (plus ``extra``: partition-level rules already evaluated,
    same shape as a result); write the report and a ``quality_results`` row. A suite with
    no GX expectations (``staged`` None) records partition-level rules only."""
    t0 = time.perf_counter()
    spec = load_suite(name)
    audit = Audit(name, spec["version"], spec["layer"], scope)
    view, engine = None, "spark"
    if staged is not None and spec["expectations"]:
        # A small batch validates faster in pandas than as twenty small Spark queries; one
        # query fetches it and tells a small batch (its length is the count) from a big one.
        view = audit_view(name, staged)
        local = view.limit(LOCAL_ROWS + 1).toPandas()
        if len(local) <= LOCAL_ROWS:
            view, engine = local, "pandas"
    audit.rows = (len(view) if engine == "pandas" else staged.count()) \
        if staged is not None else 0
    gx_result = None
    if audit.rows and spec["expectations"]:
        batch_def, suite = _gx_suite(name, engine)
        # BASIC: counts, observed values and a sample of unexpected values, what the
        # report shows; GX's default SUMMARY also counts and indexes the sample (~40% more).
        gx_result = batch_def.get_batch(batch_parameters={"dataframe": view}).validate(
            suite, result_format="BASIC")
        for r in gx_result.results:
            cfg = r.expectation_config
            audit.results.append({
                "expectation": _label(cfg), "why": cfg.meta.get("why", ""),
                "severity": cfg.meta.get("severity", "error"), "success": bool(r.success),
                "observed": _observed(r.result or {})})
    audit.results.extend(extra)
    _report(lake, audit, gx_result, sync_date)
    audit.seconds = time.perf_counter() - t0
    log.info("audit %s: %s (%.2fs)", scope, audit.summary(), audit.seconds)
    return audit


def audit_before_publish(lake: Lake, name: str, staged: DataFrame | None, scope: str,
                         sync_date: date | None, audits: list[Audit], *,
                         extra: list[dict[str, Any]] = (), held: str = "") -> Audit:
    """Validate, record the audit in ``audits``, and raise :class:`AuditFailed` (carrying
    every audit of the step so far) if an error-severity expectation failed."""
    audit = validate(lake, name, staged, scope, sync_date, extra)
    audits.append(audit)
    if not audit.passed:
        if held:
            from lake.staging import hold

            hold(lake, held, audit.summary())
        raise AuditFailed(audits, held=held)
    return audit


def _report(lake: Lake, audit: Audit, gx_result: Any, sync_date: date | None) -> None:
    now = datetime.now(UTC)
    vid = new_id(16)
    base = f"{REPORTS_PREFIX}/suite={audit.suite}/scope={audit.scope}/{now:%Y%m%dT%H%M%S}-{vid}"
    html = _html(audit, gx_result)
    lake.store.put(base + ".html", html.encode())
    lake.store.put(base + ".json", json.dumps({
        "suite": audit.suite, "version": audit.version, "scope": audit.scope,
        "rows": audit.rows, "passed": audit.passed, "results": audit.results,
        "validated_at": now.isoformat()}, indent=1).encode())
    audit.report_ref = base + ".html"
    audit.report_uri = lake.store.uri(audit.report_ref)
    append_rows(lake, QUALITY_RESULTS, [{
        "validation_id": vid, "suite": audit.suite, "suite_version": audit.version,
        "layer": audit.layer, "scope": audit.scope, "rows_validated": audit.rows,
        "passed": audit.passed, "errors": len(audit.errors), "warnings": len(audit.warnings),
        "failures": json.dumps(audit.errors + audit.warnings), "report_ref": audit.report_ref,
        "validated_at": now, "sync_date": sync_date}])


def _html(audit: Audit, gx_result: Any) -> str:
    """The run's report: every expectation with its figure; when one failed, GX's own data
    docs page for the run follows (its renderer costs about 0.1 s, so a clean run, the
    common case, gets the table alone)."""
    from html import escape

    verdict = ("passed" if not audit.errors and not audit.warnings
               else "passed with warnings" if audit.passed else "BLOCKED")
    rows = "".join(
        f"<tr><td>{'ok' if r['success'] else r['severity'].upper()}</td>"
        f"<td>{escape(r['expectation'])}</td><td>{escape(str(r['observed']))}</td>"
        f"<td>{escape(r['why'])}</td></tr>" for r in audit.results)
    page = (f"<html><head><meta charset='utf-8'><title>{escape(audit.suite)}</title></head>"
            f"<body><h2>{escape(audit.suite)} v{audit.version} &mdash; "
            f"{escape(audit.scope)}: {verdict}</h2><p>{audit.rows} rows validated</p>"
            "<table border='1' cellpadding='4'><tr><th>result</th><th>expectation</th>"
            f"<th>observed</th><th>why</th></tr>{rows}</table>")
    if gx_result is not None and verdict != "passed":
        from great_expectations.render.renderer import ValidationResultsPageRenderer
        from great_expectations.render.view import DefaultJinjaPageView

        docs = DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(gx_result))
        page += "<hr><h3>Great Expectations data docs</h3>" + docs
    return page + "</body></html>"


def check(name: str, success: bool, observed: str, why: str, severity: str = "error"
          ) -> dict[str, Any]:
    """A partition-level rule evaluated in Python, reported like an expectation."""
    return {"expectation": name, "why": why, "severity": severity, "success": success,
            "observed": observed, "partition_level": True}
