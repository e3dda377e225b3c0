"""Benchmark: dashboard page loads on a big lake, through the data layer and full renders.

    .venv/bin/python -m bench.page_load [--users 100000] [--txns-per-month 25] [--reps 50]
        [--lake DIR] [--compare-unsorted] [--layout-experiment] [--no-render]
        [--pages overview spending ...]

Makes sure the synthetic lake of ``bench/dashboard_lake.py`` exists (generated once, then
reused from DIR, by default under the system temp directory) and points FINLAKE_HOME at it.
For each dashboard page (``dashboard/views/*.py``, each with ``load(lake, principal)``):

- data cold: ``load(lake, showcase user)`` in a fresh process (open the Delta tables,
  register them in DuckDB, first queries), one process per page; the process signs in
  (``auth.verify``) before the clock starts, as an app process signs someone in before it
  shows a page (so delta-rs is already loaded: the figure no longer includes that);
- data warm, same user: ``--reps`` more loads of the showcase user (cached results);
- data, other users: ``--reps`` loads, each for a different user with 5 years of history not
  seen before in the process (every query runs; tables already registered);
- render: ``streamlit.testing.v1.AppTest`` of ``dashboard/app.py``, switched to the page,
  run once untimed, then ``run()`` ``--reps`` times for the showcase user and once each for
  ``--reps`` other users (a run that raised or showed st.error is reported, not timed);
  the session is signed in by setting ``st.session_state[ui.PRINCIPAL_KEY]``.

Loads and renders run as ``dashboard.auth.Principal``s, made the way the app makes them:
before anything is timed, every user the run will load (the showcase user and those the
pool hands out) gets a login named after the user id with a random password
(``auth.create_login``, argon2id: deliberately slow, so its time is printed), and is signed
in with ``auth.verify``. Logins are replaced on every run (the passwords are not kept).

Then the slowest queries behind one page load of a new user, with DuckDB's EXPLAIN ANALYZE
of the slowest and how many row groups each table's user_id statistics let a scan skip.
``--compare-unsorted`` repeats the data-layer part on a lake written without the user
clustering (``--unsorted``) and prints the ratios; ``--layout-experiment`` times one
per-user query of two gold tables on rewritten copies (shuffled, smaller row groups, the
whole table sorted by user). The row "(every page)" is what ``ui.page()`` adds to every
render: the accounts and table commit times behind the freshness banner (the sidebar only
names the signed-in login; it reads nothing).
Percentiles are nearest-rank over the repetitions (P99 of 50 runs is the slowest run).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from bench import dashboard_lake as gen

if TYPE_CHECKING:  # not imported at run time: the cold probe times importing the dashboard
    from dashboard.auth import Principal

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "dashboard" / "app.py"
PAGE_NAMES = ("overview", "spending", "budgets", "transactions", "recurring", "accounts")
SHELL = "(every page)"  # the freshness banner that ui.page() runs before each page
LOGIN_ACTOR = "bench:page_load"  # the audit actor of the logins this bench creates
SIGNED_IN = re.compile(r"Signed in as \*\*(.+?)\*\*")  # ui.sidebar()'s caption


def default_dir(spec: gen.LakeSpec) -> Path:
    tag = "-unsorted" if spec.unsorted else ""
    return Path(tempfile.gettempdir()) / (
        f"finlake-dashboard-lake-{spec.users}u-{spec.txns_per_month}t{tag}")


def page_modules(names: list[str]) -> list[tuple[str, str, ModuleType]]:
    """(name, path relative to app.py, module) of each page that exists."""
    out = []
    for name in names:
        for folder in ("views", "pages"):
            if (APP.parent / folder / f"{name}.py").exists():
                module = importlib.import_module(f"dashboard.{folder}.{name}")
                out.append((name, f"{folder}/{name}.py", module))
                break
    return out


def five_year_users(spec: gen.LakeSpec) -> list[str]:
    """The showcase user, then every other user with the full history (the generator's draw:
    the five-year pool, then those whose uniform draw gave the full window)."""
    history = np.random.default_rng([spec.seed, 1]).integers(1, spec.months + 1, spec.users)
    pool = gen.pool_indices(spec)
    taken = set(pool)
    natural = [int(i) for i in np.flatnonzero(history == spec.months) if i not in taken]
    return [gen.user_id(i) for i in pool + natural]


class UserPool:
    """Hands out five-year users (not the showcase, ``users[0]``) not used before, so each
    'other user' load misses the result cache; wraps around (and says so) when too few."""

    def __init__(self, users: list[str]) -> None:
        self.users, self.next, self.wrapped = users, 1, False

    def take(self, n: int) -> list[str]:
        out = []
        for _ in range(n):
            if self.next == len(self.users):
                self.next, self.wrapped = 1, True
            out.append(self.users[self.next])
            self.next += 1
        return out

    def upcoming(self, n: int) -> list[str]:
        """The users the next ``n`` takes will hand out (each once), without taking them."""
        saved = (self.next, self.wrapped)
        try:
            return list(dict.fromkeys(self.take(n)))
        finally:
            self.next, self.wrapped = saved


def sign_in(lake_dir: Path, users: list[str], passwords: dict[str, str]
            ) -> dict[str, Principal]:
    """Untimed: a login for each of ``users`` (named after the user id, with a random password
    kept in ``passwords``; an existing one is replaced), then each user's Principal from
    ``auth.verify``, as the sign-in form gets it."""
    from dashboard import auth
    from lake.lake import Lake

    lake = Lake(str(lake_dir / "lake"))
    started = time.perf_counter()
    for user in users:  # dashboard.auth has no bulk form: one hash and one commit each
        password = passwords.setdefault(user, secrets.token_urlsafe(24))
        auth.create_login(lake, user, password, user, "user", replace=True, actor=LOGIN_ACTOR)
    created = time.perf_counter() - started
    started = time.perf_counter()
    principals: dict[str, Principal] = {}
    for user in users:
        who = auth.verify(lake, user, passwords[user])
        if who is None:
            raise SystemExit(f"auth.verify refused the login just created for {user}")
        principals[user] = who
    verified = time.perf_counter() - started
    print(f"logins for {len(users)} users (untimed): created in {created:.1f} s "
          f"({1000 * created / max(1, len(users)):.0f} ms each, argon2id), signed in with "
          f"auth.verify in {verified:.1f} s", flush=True)
    return principals


def shell_load(lake: Any, who: Principal) -> dict[str, Any]:
    """The data access every page render adds (``ui.freshness()``, run by ``ui.page()``):
    the person's accounts and when the page's tables were refreshed."""
    from dashboard.data import money, queries
    from lake.tables import REGISTRY

    return {"accounts": money.accounts(lake, who),
            "refreshed": [queries.refreshed_at(lake, REGISTRY[n])
                          for n in ("net_worth_daily", "monthly_spend", "transactions")]}


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(np.ceil(q / 100 * len(ordered))) - 1))]


def p50_p99(values: list[float]) -> str:
    return f"{pct(values, 50):.0f} / {pct(values, 99):.0f}" if values else "-"


class QueryLog:
    """Records every query dashboard/data/queries.py runs (cache misses only): ms, label, SQL
    and its parameters (named, ``$user``: a dict; positional: a list)."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str, str, Any]] = []
        self.label = ""

    def __enter__(self) -> QueryLog:
        from dashboard.data import queries

        self.original = queries.fetch_df

        def recording(con: Any, sql: str, params: Any = None) -> Any:
            started = time.perf_counter()
            try:
                return self.original(con, sql, params)
            finally:
                bound = dict(params) if isinstance(params, dict) else list(params or [])
                self.seen.append(((time.perf_counter() - started) * 1000, self.label, sql,
                                  bound))

        queries.fetch_df = recording
        return self

    def __exit__(self, *exc: object) -> None:
        from dashboard.data import queries

        queries.fetch_df = self.original

    def slowest(self, n: int) -> list[tuple[float, str, str, Any]]:
        return sorted(self.seen, key=lambda s: -s[0])[:n]


def short(sql: str, width: int = 100) -> str:
    return " ".join(sql.split())[:width]


# ---- data layer --------------------------------------------------------------------------


def cold_probe(lake_dir: Path, page: str, user: str, password: str) -> dict[str, Any]:
    """In a fresh process: import time and the first ``load`` of ``page`` (ms). The user's
    login exists already; its password goes to the process on stdin, not its command line."""
    cmd = [sys.executable, "-m", "bench.page_load", "--probe", page, "--lake", str(lake_dir),
           "--probe-user", user]
    env = {**os.environ, "FINLAKE_HOME": str(lake_dir)}
    done = subprocess.run(cmd, cwd=REPO, env=env, input=password + "\n", capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"the cold probe of {page} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def probe(page: str, lake_dir: Path, user: str) -> None:
    password = sys.stdin.readline().rstrip("\n")
    started = time.perf_counter()
    from lake.lake import Lake

    load = shell_load if page == SHELL else dict(
        (n, m) for n, _, m in page_modules([page]))[page].load
    imported = (time.perf_counter() - started) * 1000
    from dashboard import auth

    lake = Lake(str(lake_dir / "lake"))
    who = auth.verify(lake, user, password)  # untimed, as signing in precedes a page load
    if who is None:
        raise SystemExit(f"auth.verify refused the login {user!r} (run without --probe first)")
    with QueryLog() as log:
        cold = timed(lambda: load(lake, who))
    print(json.dumps({"import_ms": imported, "cold_ms": cold,
                      "queries_ms": sum(q[0] for q in log.seen),
                      "slowest": [[q[0], short(q[2], 60)] for q in log.slowest(2)]}))


def measure_data(lake_dir: Path, pages: list[tuple[str, str, Any]], showcase: str,
                 pool: UserPool, reps: int, label: str, who: dict[str, Principal],
                 passwords: dict[str, str]) -> dict[str, dict[str, Any]]:
    from lake.lake import Lake

    lake = Lake(str(lake_dir / "lake"))
    out: dict[str, dict[str, Any]] = {}
    for name, load in [(SHELL, shell_load)] + [(n, m.load) for n, _, m in pages]:
        cold = cold_probe(lake_dir, name, showcase, passwords[showcase])
        load(lake, who[showcase])  # this process: tables registered, showcase results cached
        same = [timed(partial(load, lake, who[showcase])) for _ in range(reps)]
        other = [timed(partial(load, lake, who[u])) for u in pool.take(reps)]
        out[name] = {"cold_ms": cold["cold_ms"], "import_ms": cold["import_ms"],
                     "cold_slowest": cold["slowest"], "same": same, "other": other}
        print(f"  [{label}] {name:<13} cold {cold['cold_ms']:7.0f} ms | warm same user "
              f"P50/P99 {p50_p99(same)} ms | other users P50/P99 {p50_p99(other)} ms",
              flush=True)
        for ms, sql in cold["slowest"]:
            print(f"      cold query {ms:7.0f} ms  {sql}")
    return out


# ---- full renders ------------------------------------------------------------------------


def measure_renders(pages: list[tuple[str, str, Any]], showcase: str, pool: UserPool,
                    reps: int, who: dict[str, Principal]) -> dict[str, dict[str, Any]]:
    """Time AppTest runs per page, signed in as each user's Principal; a run that raised is
    counted apart, not in the times."""
    import logging

    from streamlit.testing.v1 import AppTest

    from dashboard import ui

    os.environ["STREAMLIT_LOGGER_ENABLE_RICH"] = "false"
    for name in ("streamlit.error_util", "streamlit.runtime.scriptrunner_utils.script_run_context"):
        logging.getLogger(name).addFilter(lambda record: False)  # failures reported below
    at = AppTest.from_file(str(APP), default_timeout=600)
    at.session_state[ui.PRINCIPAL_KEY] = who[showcase]
    first = timed(at.run)
    print(f"  first render of the app (default page, cold process state): {first:.0f} ms",
          flush=True)
    out: dict[str, dict[str, Any]] = {"(first run)": {"first_ms": first}}
    for name, path, _ in pages:
        at.switch_page(path)
        at.session_state[ui.PRINCIPAL_KEY] = who[showcase]
        at.run()  # untimed: 'same user' measures the cached path ('other users' the rest)
        runs: dict[str, list[float]] = {"same": [], "other": []}
        failed: dict[str, str] = {}
        for kind, users in (("same", [showcase] * reps), ("other", pool.take(reps))):
            for u in users:
                at.session_state[ui.PRINCIPAL_KEY] = who[u]
                ms = timed(at.run)
                error = failure(at)
                if error:
                    failed.setdefault(u, error)
                else:
                    runs[kind].append(ms)
                if error is None and shown_login(at) != who[u].login:
                    failed.setdefault(u, f"rendered for login {shown_login(at)}")
        at.session_state[ui.PRINCIPAL_KEY] = who[showcase]
        out[name] = {**runs, "failed": failed}
        print(f"  [render] {name:<13} same user P50/P99 {p50_p99(runs['same'])} ms | other "
              f"users P50/P99 {p50_p99(runs['other'])} ms", flush=True)
        for u, error in list(failed.items())[:3]:
            print(f"      FAILED for {u}: {error}")
        if len(failed) > 3:
            print(f"      ... {len(failed)} users failed in all")
    return out


def shown_login(at: Any) -> str | None:
    """The login the sidebar said is signed in, in the last run (None: the sign-in form
    showed instead, e.g. the principal was not accepted)."""
    for caption in at.sidebar.caption:
        found = SIGNED_IN.search(str(caption.value))
        if found:
            return found.group(1)
    return None


def failure(at: Any) -> str | None:
    """What went wrong in the last run (an exception or an st.error), or None."""
    if len(at.exception):
        return f"exception: {str(at.exception[0].value).splitlines()[0][:150]}"
    if len(at.error):
        return f"error shown: {str(at.error[0].value)[:150]}"
    return None


# ---- why a load costs what it costs ------------------------------------------------------


def query_profile(lake_dir: Path, pages: list[tuple[str, str, Any]], who: Principal,
                  top: int = 6) -> None:
    """Time each query of one page load for a user not seen before; explain the slowest."""
    from lake.lake import Lake

    lake, user = Lake(str(lake_dir / "lake")), str(who.user_id)
    with QueryLog() as log:
        for name, _, module in [(SHELL, "", None)] + pages:
            log.label = name
            (shell_load if module is None else module.load)(lake, who)
    print(f"\nslowest queries of one load of each page for {user} (not cached; "
          f"{len(log.seen)} queries, {sum(s[0] for s in log.seen):.0f} ms in all):")
    for ms, page, sql, params in log.slowest(top):
        print(f"{ms:7.1f} ms  {page:<13} {short(sql)}")
        explain(lake, sql, params)
    layout_report(lake, user)


def explain(lake: Any, sql: str, params: Any) -> list[dict[str, Any]]:
    """DuckDB's EXPLAIN ANALYZE of ``sql``: per table scan, files, row groups, rows, time."""
    from dashboard.data import queries

    entry = queries._connection(lake)
    with entry.lock:
        entry.con.execute("EXPLAIN (ANALYZE, FORMAT json) " + sql, params)
        plan = json.loads(entry.con.fetchall()[0][1])
    scans: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        info = node.get("extra_info") or {}
        if node.get("type") == "TABLE_SCAN":
            path = str(info.get("Filename(s)", ""))
            parts = path.split("/tables/", 1)[-1].split("/")
            scans.append({"table": parts[1] if len(parts) > 1 else path[:40],
                          "files": info.get("Total Files Read", "?"),
                          "row_groups": node.get("row_groups_scanned"),
                          "row_groups_total": node.get("total_row_groups_to_scan"),
                          "rows": node.get("rows_scanned"),
                          "ms": 1000 * float(node.get("timing") or 0)})
        for child in node.get("children", []):
            walk(child)

    for op in plan.get("operator", []):
        walk(op)
    query = plan.get("query", {})
    print(f"  EXPLAIN ANALYZE: {1000 * float(query.get('total_time') or 0):.0f} ms, "
          f"{(plan.get('io') or {}).get('total_bytes_read', 0) / 1e6:.1f} MB read")
    for sc in scans:
        print(f"    scan {sc['table']:<22} {sc['files']:>3} files, row groups read "
              f"{sc['row_groups']}/{sc['row_groups_total']}, {sc['rows']:,} rows kept, "
              f"{sc['ms']:.0f} ms (CPU, all threads)")
    return scans


def layout_report(lake: Any, user: str) -> None:
    """Row groups per table and how many the user_id statistics leave to read for ``user``."""
    import pyarrow.parquet as pq

    from lake.tables import REGISTRY

    print(f"row groups whose user_id min/max can hold {user} (what a pruned scan reads):")
    for name in ("transactions", "net_worth_daily", "monthly_spend", "daily_spend",
                 "spend_trends", "budget_progress", "monthly_cashflow", "unusual_activity",
                 "alerts", "recurring_payments", "accounts"):
        dt = lake.delta(REGISTRY[name])
        if dt is None:
            continue
        files = dt.file_uris()
        groups = hits = 0
        for f in files:
            meta = pq.ParquetFile(f.removeprefix("file://")).metadata
            col = meta.schema.names.index("user_id")
            for g in range(meta.num_row_groups):
                st = meta.row_group(g).column(col).statistics
                groups += 1
                hits += st is None or not st.has_min_max or st.min <= user <= st.max
        print(f"  {name:<20} {len(files):>4} files {groups:>5} row groups, "
              f"{hits:>5} may hold the user")


def fetch_all(con: Any, sql: str, params: list[Any]) -> list[Any]:
    return con.execute(sql, params).fetchall()


LAYOUT_TABLES = (("monthly_cashflow", "month, income, expense, net"),
                 ("net_worth_daily", "date, assets, liabilities, net_worth"))


def layout_experiment(lake_dir: Path, users: list[str]) -> None:
    """The per-user query of two gold tables on the lake's layout and on rewritten copies:
    shuffled within partitions, smaller row groups within the month partitions, and the
    whole table sorted by user."""
    import shutil

    from lake.duck import new_connection, register
    from lake.lake import Lake
    from lake.tables import REGISTRY

    lake, con = Lake(str(lake_dir / "lake")), new_connection()
    tmp = Path(tempfile.mkdtemp(prefix="finlake-layout-"))
    print("\nlayout experiment: the same per-user query on copies of two gold tables "
          f"(P50 / max of {len(users)} users, ms)")
    try:
        for name, cols in LAYOUT_TABLES:
            dt = lake.delta(REGISTRY[name])
            if dt is None:
                continue
            register(con, REGISTRY[name], dt)
            files = [f.removeprefix("file://") for f in dt.file_uris()]
            listed = ", ".join(f"'{f}'" for f in files)
            variants = {"as written: month partitions, row groups <= 128k rows": name}
            shuffled = tmp / f"{name}-shuffled"
            shuffled.mkdir()
            for i, f in enumerate(files):
                con.execute(f"COPY (SELECT * FROM read_parquet('{f}') ORDER BY random()) TO "
                            f"'{shuffled}/{i}.parquet' (ROW_GROUP_SIZE 131072, "
                            "COMPRESSION zstd)")
            variants["month partitions, not clustered by user (--unsorted)"] = (
                f"read_parquet('{shuffled}/*.parquet')")
            small = tmp / f"{name}-rg16k"
            small.mkdir()
            for i, f in enumerate(files):
                con.execute(f"COPY (SELECT * FROM read_parquet('{f}') ORDER BY user_id) TO "
                            f"'{small}/{i}.parquet' (ROW_GROUP_SIZE 16384, COMPRESSION zstd)")
            variants["month partitions, row groups of 16k rows"] = (
                f"read_parquet('{small}/*.parquet')")
            by_user = tmp / f"{name}-by-user"
            con.execute(f"COPY (SELECT * FROM read_parquet([{listed}], hive_partitioning = true)"
                        f" ORDER BY user_id, 1) TO '{by_user}' (FORMAT parquet, ROW_GROUP_SIZE "
                        "131072, COMPRESSION zstd, FILE_SIZE_BYTES '128MB')")
            variants["no month partitions, whole table sorted by user"] = (
                f"read_parquet('{by_user}/*.parquet')")
            for label, source in variants.items():
                sql = f"SELECT {cols} FROM {source} WHERE user_id = ? ORDER BY 1"
                times = [timed(partial(fetch_all, con, sql, [u])) for u in users]
                print(f"  {name:<17} {label:<52} {statistics.median(times):6.1f} / "
                      f"{max(times):6.1f}", flush=True)
    finally:
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)


# ---- report ------------------------------------------------------------------------------


def machine() -> str:
    import deltalake
    import duckdb
    import pyarrow
    import streamlit

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()}, duckdb "
            f"{duckdb.__version__}, deltalake {deltalake.__version__}, pyarrow "
            f"{pyarrow.__version__}, streamlit {streamlit.__version__}; load average {load}")


def lake_line(info: dict[str, Any]) -> str:
    t = info["tables"]["transactions"]
    layout = "unsorted" if info["params"]["unsorted"] else "sorted by user within partitions"
    return (f"{info['params']['users']:,} users, {t['rows']:,} transactions in {t['files']} "
            f"files; all tables {info['rows']:,} rows, {info['files']:,} files, "
            f"{info['bytes'] / 1e9:.2f} GB ({layout})")


def table(data: dict[str, dict[str, Any]], renders: dict[str, dict[str, Any]]) -> None:
    head = (f"{'page':<14}| {'data cold ms':>12} | {'data warm P50/P99 same user':>27} | "
            f"{'data P50/P99 other users':>24} | {'render P50/P99 same user':>24} | "
            f"{'render P50/P99 other users':>26}")
    print(head)
    print("-" * len(head))
    for name, d in data.items():
        r = renders.get(name, {})
        print(f"{name:<14}| {d['cold_ms']:>12.0f} | {p50_p99(d['same']):>27} | "
              f"{p50_p99(d['other']):>24} | {p50_p99(r.get('same', [])):>24} | "
              f"{p50_p99(r.get('other', [])):>26}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--txns-per-month", type=int, default=25)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--lake", type=Path, help="directory of the lake (DIR/lake); FINLAKE_HOME")
    ap.add_argument("--pages", nargs="+", default=list(PAGE_NAMES))
    ap.add_argument("--compare-unsorted", action="store_true")
    ap.add_argument("--no-render", action="store_true", help="data layer only")
    ap.add_argument("--layout-experiment", action="store_true",
                    help="time a per-user query on rewritten copies of two gold tables")
    ap.add_argument("--probe", help=argparse.SUPPRESS)
    ap.add_argument("--probe-user", help=argparse.SUPPRESS)
    args = ap.parse_args()
    spec = gen.LakeSpec(users=args.users, txns_per_month=args.txns_per_month, seed=args.seed)
    lake_dir = args.lake or default_dir(spec)
    if args.probe:
        probe(args.probe, lake_dir, args.probe_user)
        return

    info = gen.ensure_lake(lake_dir, spec)
    os.environ["FINLAKE_HOME"] = str(lake_dir)  # the app finds the lake at $FINLAKE_HOME/lake
    pages = page_modules(args.pages)
    if not pages:
        raise SystemExit("no dashboard pages found under dashboard/views or dashboard/pages")
    users = five_year_users(spec)
    showcase = users[0]
    print(f"lake: {lake_line(info)}")
    print(f"machine: {machine()}")
    print(f"showcase user {showcase}; {len(users) - 1} other users with {spec.months} months "
          f"of history; {args.reps} repetitions\n")

    pool = UserPool(users)
    loads = 1 + args.reps * (len(pages) + 1) + (0 if args.no_render else args.reps * len(pages))
    passwords: dict[str, str] = {}
    who = sign_in(lake_dir, list(dict.fromkeys([showcase, *pool.upcoming(loads)])), passwords)
    print("data layer (page.load(lake, principal) via dashboard/data/):")
    profiled = pool.take(1)[0]
    data = measure_data(lake_dir, pages, showcase, pool, args.reps, "sorted", who, passwords)
    renders: dict[str, dict[str, Any]] = {}
    if not args.no_render:
        print("\nfull renders (AppTest of dashboard/app.py, page switched, run() timed):")
        renders = measure_renders(pages, showcase, pool, args.reps, who)
    query_profile(lake_dir, pages, who[profiled])
    if args.layout_experiment:
        layout_experiment(lake_dir, pool.take(20))
    if pool.wrapped:
        print(f"note: only {len(users) - 1} other five-year users: some 'other user' loads "
              "reused a user, so they hit the result cache")

    unsorted = None
    if args.compare_unsorted:
        uspec = gen.LakeSpec(users=args.users, txns_per_month=args.txns_per_month,
                             seed=args.seed, unsorted=True)
        udir = default_dir(uspec) if args.lake is None else args.lake.with_name(
            args.lake.name + "-unsorted")
        uinfo = gen.ensure_lake(udir, uspec)
        print(f"\nunsorted lake: {lake_line(uinfo)}")
        upool = UserPool(users)
        uwho = sign_in(udir, list(dict.fromkeys(
            [showcase, *upool.upcoming(args.reps * (len(pages) + 1))])), passwords)
        unsorted = measure_data(udir, pages, showcase, upool, args.reps, "unsorted", uwho,
                                passwords)

    print(f"\nlake: {lake_line(info)}")
    print(f"machine: {machine()}")
    print(f"times in ms; showcase user {showcase} (60 months of history); P50 / P99 of "
          f"{args.reps} runs; 'other users' = each run a different 60-month user\n")
    table(data, renders)
    if "(first run)" in renders:
        print(f"first render of the app in this process: {renders['(first run)']['first_ms']:.0f}"
              " ms (the data layer's cold cost for the default page is in 'data cold')")
    if unsorted:
        print("\nunsorted / sorted lake (data layer):")
        for name, d in data.items():
            u = unsorted[name]
            print(f"  {name:<14} cold x{u['cold_ms'] / d['cold_ms']:.1f}, other users P50 "
                  f"x{statistics.median(u['other']) / statistics.median(d['other']):.1f} "
                  f"({statistics.median(u['other']):.0f} vs "
                  f"{statistics.median(d['other']):.0f} ms)")
    print(json.dumps({"lake": {k: info[k] for k in ("params", "rows", "files", "bytes")},
                      "data": data, "renders": renders, "unsorted": unsorted}, default=str))


if __name__ == "__main__":
    main()
