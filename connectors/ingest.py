"""Ingestion of one day: sync every due item, with rate limits, retries and a breaker.

Per item: is it due (refresh cadence, back-off)? is its institution's circuit closed? Then
run the sync loop, waiting on the shared per-institution token bucket before every partner
call; classify failures and follow the retry table (connectors.retry); record one
``sync_jobs`` row per attempt.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from plaid.api import plaid_api

from connectors.breaker import CircuitBreaker
from connectors.credentials import Credential, CredentialStore
from connectors.ratelimit import RateLimiter
from connectors.retry import ErrorClass, RetryPolicy, classify, retry_after_seconds
from connectors.schedule import ItemSchedule, load_schedule, save_schedule
from connectors.sync import sync_item
from lake.objectstore import ObjectStore

log = logging.getLogger(__name__)

# Failures that say the institution (not the user) is in trouble: they trip the breaker.
INSTITUTION_TROUBLE = {ErrorClass.INSTITUTION_DOWN, ErrorClass.TIMEOUT, ErrorClass.UNKNOWN_5XX}
DEFAULT_INSTITUTION = {"rate_limit_qps": 5, "refresh_every_days": 1}
# Pace at 80% of a partner's published limit: thread scheduling and network jitter bunch
# requests up on the way to the partner, and its limit is a hard one.
RATE_SAFETY = 0.8


@dataclass
class SyncRuntime:
    """Everything the ingestion needs besides the lake: partner client, limits, policy."""

    client: Callable[[], plaid_api.PlaidApi]
    limiter: RateLimiter
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    timeout: float = 30.0
    page_size: int = 500
    workers: int = 4
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    _slots: dict[str, threading.BoundedSemaphore] = field(default_factory=dict)
    _slots_lock: threading.Lock = field(default_factory=threading.Lock)

    def in_flight(self, institution_id: str, qps: float) -> threading.BoundedSemaphore:
        """Concurrency cap per institution: one call in flight per 10 req/s of its limit, so
        a slow answer cannot make later requests arrive in a bunch."""
        with self._slots_lock:
            if institution_id not in self._slots:
                self._slots[institution_id] = threading.BoundedSemaphore(max(1, int(qps // 10)))
            return self._slots[institution_id]


@dataclass
class IngestReport:
    jobs: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for j in self.jobs if j["status"] == status)

    def total(self, column: str) -> int:
        return sum(int(j.get(column) or 0) for j in self.jobs)


def _job(run_id: str, sync_date: date, trigger: str, cred: Credential, attempt: int,
         started: datetime, finished: datetime, status: str, **extra: Any) -> dict[str, Any]:
    return {"job_id": uuid.uuid4().hex, "run_id": run_id, "sync_date": sync_date,
            "trigger": trigger, "user_id": cred.user_id, "item_id": cred.item_id,
            "institution_id": cred.institution_id, "attempt": attempt, "started_at": started,
            "finished_at": finished, "status": status,
            "seconds": (finished - started).total_seconds(), **extra}


def sync_with_retries(rt: SyncRuntime, objects: ObjectStore, creds: CredentialStore,
                      cred: Credential, institution: dict[str, Any], sync_date: date, *,
                      run_id: str, trigger: str, schedule: ItemSchedule) -> list[dict]:
    """Attempts for one item until success, a deferral or a stop; returns sync_jobs rows."""
    qps = RATE_SAFETY * float(institution.get("rate_limit_qps")
                              or DEFAULT_INSTITUTION["rate_limit_qps"])
    jobs: list[dict] = []
    api = rt.client()
    attempt = 0
    while True:
        attempt += 1
        waited = [0.0]

        @contextmanager
        def call_slot(waited: list[float] = waited) -> Iterator[None]:
            # At most `in_flight` calls to the institution from this process, each started
            # only when the shared bucket allows (burst 1: evenly spaced requests).
            with rt.in_flight(cred.institution_id, qps):
                waited[0] += rt.limiter.acquire(cred.institution_id, qps, 1)
                yield

        started = rt.now()
        try:
            res = sync_item(api, objects, cred, creds.token(cred), sync_date,
                            count=rt.page_size, timeout=rt.timeout, call_slot=call_slot)
        except Exception as exc:  # noqa: BLE001 - every failure is classified and recorded
            error = classify(exc)
            if error in INSTITUTION_TROUBLE:
                rt.breaker.record_failure(cred.institution_id)
            first = schedule.first_failure_at or started.isoformat()
            decision = rt.policy.decide(
                error, attempt, retry_after=retry_after_seconds(exc),
                consecutive_credential_failures=schedule.credential_failures
                + (error is ErrorClass.INVALID_CREDENTIALS),
                down_streak=schedule.down_streak + 1,
                first_failure_age=(started - datetime.fromisoformat(first)).total_seconds())
            status = "retrying" if decision.retry_now else (
                "deferred" if decision.next_attempt_in else "failed")
            jobs.append(_job(run_id, sync_date, trigger, cred, attempt, started, rt.now(),
                             status, error_class=error.value,
                             error_code=getattr(exc, "code", type(exc).__name__),
                             detail=decision.reason, rate_wait_seconds=waited[0]))
            if decision.retry_now:
                rt.sleep(decision.delay)
                continue
            schedule.first_failure_at = first
            if error is ErrorClass.INVALID_CREDENTIALS:
                schedule.credential_failures += 1
            if error in (ErrorClass.INSTITUTION_DOWN, ErrorClass.TIMEOUT):
                schedule.down_streak += 1
            schedule.next_attempt_at = (
                (rt.now() + timedelta(seconds=decision.next_attempt_in)).isoformat()
                if decision.next_attempt_in else None)
            if decision.credential_status:
                creds.set_status(cred, decision.credential_status,
                                 failure_count=schedule.credential_failures)
            return jobs
        rt.breaker.record_success(cred.institution_id)
        jobs.append(_job(run_id, sync_date, trigger, cred, attempt, started, rt.now(),
                         "success", pages=res.pages, txns_added=res.added,
                         detail=f"restarted {res.restarts}x: data changed during pagination"
                         if res.restarts else None,
                         txns_modified=res.modified, txns_removed=res.removed,
                         rate_wait_seconds=waited[0]))
        # never backwards: an on-demand sync dated earlier does not re-open later days
        schedule.last_success_date = max(sync_date.isoformat(),
                                         schedule.last_success_date or "")
        schedule.next_attempt_at = schedule.first_failure_at = None
        schedule.down_streak = schedule.credential_failures = 0
        return jobs


def ingest_day(
    rt: SyncRuntime,
    objects: ObjectStore,
    creds: CredentialStore,
    institutions: dict[str, dict[str, Any]],
    sync_date: date,
    *,
    run_id: str = "",
    trigger: str = "nightly",
    items: set[str] | None = None,
    forgetting: set[str] = frozenset(),
    progress: Callable[[str], None] = log.info,
) -> IngestReport:
    """Sync each due item once (with in-run retries); cursors move only after full updates.
    Items of the people in ``forgetting`` (a forget of them has not finished) are skipped."""
    report = IngestReport()
    todo: list[tuple[Credential, ItemSchedule, dict]] = []
    now = rt.now()
    for cred in creds.all():
        if items is not None and cred.item_id not in items:
            continue
        if cred.user_id in forgetting:
            report.skipped[cred.item_id] = "a forget of its person has not finished"
            continue
        if cred.status != "active":
            report.skipped[cred.item_id] = f"credentials {cred.status}: user must re-link"
            continue
        inst = {**DEFAULT_INSTITUTION, **institutions.get(cred.institution_id, {})}
        schedule = load_schedule(objects, cred.item_id)
        due, why = schedule.due(sync_date, int(inst["refresh_every_days"]), now,
                                on_demand=trigger == "on_demand")
        if not due:
            report.skipped[cred.item_id] = why
            continue
        todo.append((cred, schedule, inst))

    def run(entry: tuple[Credential, ItemSchedule, dict]) -> list[dict]:
        cred, schedule, inst = entry
        if not rt.breaker.allow(cred.institution_id):
            t = rt.now()
            return [_job(run_id, sync_date, trigger, cred, 0, t, t, "skipped",
                         error_class="CIRCUIT_OPEN", detail="institution circuit open")]
        jobs = sync_with_retries(rt, objects, creds, cred, inst, sync_date, run_id=run_id,
                                 trigger=trigger, schedule=schedule)
        save_schedule(objects, schedule)
        return jobs

    # Interleave institutions so a slow one cannot occupy every worker.
    by_inst: dict[str, list] = {}
    for entry in todo:
        by_inst.setdefault(entry[0].institution_id, []).append(entry)
    queues = list(by_inst.values())
    todo = [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]
    with ThreadPoolExecutor(max_workers=max(1, rt.workers)) as pool:
        for i, jobs in enumerate(pool.map(run, todo), 1):
            report.jobs.extend(jobs)
            last = jobs[-1]
            # The job id, not the item: logs never name a person's item (see lake/forget.py)
            progress(f"[{i}/{len(todo)}] {last['institution_id']} job {last['job_id'][:12]} "
                     f"{last['status']}"
                     + (f" {last.get('error_class')}" if last.get("error_class") else "")
                     + f" +{last.get('txns_added') or 0} ~{last.get('txns_modified') or 0}"
                     f" -{last.get('txns_removed') or 0} ({len(jobs)} attempt(s))")
    return report
