"""Link a bank, reconnect one whose login expired, refresh one now: the Accounts page's
sandbox Link flow.

The work runs in a child process, ``finlake link add | reconnect | refresh``
(finlake/commands/link.py), never in the dashboard's process: the child holds the lake's
writer lease as every sync does, prints a JSON line per step (shown in an ``st.status`` as it
arrives), and can be stopped (Stop, a time limit, or Streamlit ending the page's run): a
stopped sync is a crashed writer, which the system survives by design.

The person is always the signed-in Principal's user id (``queries.scope_of``), never anything
the browser sends. The sandbox sign-in is checked here before any process starts and again by
the child, which gets it on its standard input, never its command line; its audit rows name
the dashboard.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from connectors.linking import LinkRefused, check_sign_in
from connectors.sandbox_bank.institutions import institutions_for
from connectors.sandbox_bank.state import BankState
from core.settings import load_settings
from dashboard.auth import DASHBOARD, Principal
from dashboard.data import queries
from dashboard.plain import plain
from lake.tables import ACCOUNTS, CREDENTIALS, INSTITUTIONS, TRANSACTIONS

if TYPE_CHECKING:
    from lake.lake import Lake

COMMAND = [sys.executable, "-m", "finlake.cli", "link"]
TIME_LIMIT = 600.0  # seconds before a child is stopped
WRITER_WAIT = 120  # seconds a child waits for another writer (e.g. a nightly run)
STOP_GRACE = 10.0  # seconds between asking a child to stop and killing it
RUNNING_KEY = "_link_running"  # what runs now (still set on the next run: it was stopped)
OUTCOME_KEY = "_link_outcome"  # the last finished action, shown once after the rerun
LINK = "link"  # where a link's outcome shows (a reconnect's or refresh's: at its bank)
STATES = {"expired": "relink", "mfa_required": "mfa"}  # credential status -> account state
CHANGED, ERROR_ICON = (ACCOUNTS, CREDENTIALS, INSTITUTIONS, TRANSACTIONS), ":material/error:"
# steps that start something: shown, with the seconds so far, until the next one
UNDER_WAY = {"syncing", "merging", "refreshing", "waiting"}


@dataclass
class Outcome:
    """How an action ended: ``error`` is one plain line (None: it succeeded). ``place``
    is where the page shows it: ``link``, or the institution id of a reconnect or refresh."""

    label: str
    place: str
    steps: list[str] = field(default_factory=list)
    error: str | None = None


def available() -> bool:
    """Whether banks can be linked here: with the sandbox bank only (a real partner's Link
    runs in its own app)."""
    return load_settings().embedded_partner


@st.cache_data(ttl=60, show_spinner=False)
def _institutions(state_dir: str) -> dict[str, str]:
    """Read from the bank's state, without starting it or writing anything."""
    path = Path(state_dir) / "state.json"
    if not path.exists():
        return {}
    state = BankState(path, json.loads(path.read_text()))
    return {i.institution_id: i.name for i in institutions_for(state.seed, state.institutions)}


def institutions() -> dict[str, str]:
    """The sandbox bank's institutions, id -> name ({} when no sandbox bank exists)."""
    return _institutions(str(load_settings().sandbox_dir))


def linked(lake: Lake, who: Principal) -> dict[str, str]:
    """The person's linked institutions: id -> credential status (active, expired...)."""
    df = queries.frame(lake, who, "SELECT institution_id, status FROM credentials "
                                  "WHERE user_id = $user ORDER BY created_at")
    return dict(zip(df["institution_id"], df["status"], strict=True))


def link(who: Principal, institution_id: str, name: str, username: str,
         password: str) -> Outcome:
    """Sign in to ``name`` and link it for the signed-in person, then its first sync."""
    return _signed_in("add", who, institution_id, Outcome(f"Linking {name}", LINK), username,
                      password)


def reconnect(who: Principal, institution_id: str, name: str, username: str,
              password: str) -> Outcome:
    """Sign in to ``name`` again (its login expired), then sync it."""
    return _signed_in("reconnect", who, institution_id,
                      Outcome(f"Reconnecting {name}", institution_id), username, password)


def refresh(who: Principal, institution_id: str, name: str) -> Outcome:
    """Sync the person's accounts at ``name`` now."""
    return _show_run("refresh", who, institution_id,
                     Outcome(f"Refreshing {name}", institution_id))


def _signed_in(action: str, who: Principal, institution_id: str, outcome: Outcome,
               username: str, password: str) -> Outcome:
    try:
        check_sign_in(username, password)
    except LinkRefused as e:  # refused at once: no process, nothing stored
        st.error(plain(e), icon=ERROR_ICON)
        outcome.error = str(e)
        return outcome
    return _show_run(action, who, institution_id, outcome, f"{username}\n{password}\n")


def _show_run(action: str, who: Principal, institution_id: str, outcome: Outcome,
              sign_in: str | None = None) -> Outcome:
    """Run the child, its steps in an ``st.status`` as they come; how it ended."""
    argv = [*COMMAND, action, "--user", queries.scope_of(who), "--institution", institution_id,
            "--json", "--actor", DASHBOARD, *(["--sign-in-stdin"] if sign_in else [])]
    label = outcome.label
    st.session_state[RUNNING_KEY] = label
    stop = st.empty()
    stop.button("Stop", key="link_stop", icon=":material/stop_circle:",
                help="Stop it now (a sync stopped half-way is picked up by the next one)")
    shown = plain(label)  # a bank's name is the partner's text: never markdown
    with st.status(f"{shown}…", expanded=True) as status:
        progress = _Progress(outcome)
        child = Child(argv, sign_in)
        try:
            for event in child.events(tick=progress.tick):
                progress.step(event)
        finally:
            child.stop()
        progress.slot.empty()
        stop.empty()
        if outcome.error is None and child.returncode != 0:
            outcome.error = child.last_words() or f"it stopped (exit code {child.returncode})"
        if outcome.error:
            st.error(plain(outcome.error), icon=ERROR_ICON)
            status.update(label=f"{shown}: not done", state="error", expanded=True)
        else:
            status.update(label=f"{shown}: done", state="complete", expanded=True)
    st.session_state.pop(RUNNING_KEY, None)
    return outcome


class _Progress:
    """The steps done (one line each), and under them what is under way, with seconds."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome, self.doing, self.seconds, self.slot = outcome, "Starting", 0.0, st.empty()

    def tick(self, seconds: float) -> None:
        self.seconds = seconds
        self.slot.caption(f"{plain(self.doing)}… {seconds:.0f} s")

    def step(self, event: dict) -> None:
        kind, text = event.get("step"), str(event.get("text", ""))
        if kind == "error":
            self.outcome.error = text
        elif kind in UNDER_WAY:
            self.doing = text
            self.tick(self.seconds)
        else:
            self.slot.empty()
            self.outcome.steps.append(text)
            st.markdown(f":material/check: {plain(text)}")
            self.slot = st.empty()


def finished(the_lake: Lake, outcome: Outcome) -> None:
    """After a successful action: the page again, from the lake as the child left it."""
    for t in CHANGED:
        queries.changed(the_lake, t)
    _institutions.clear()
    st.session_state[OUTCOME_KEY] = outcome
    st.rerun()


def show_stopped() -> None:
    """Say that the page's last action was stopped before it finished (once)."""
    stopped = st.session_state.pop(RUNNING_KEY, None)
    if stopped:
        st.warning(f"{plain(stopped)} was stopped before it finished: what had finished "
                   "is kept, and the next sync picks up from the last complete one.",
                   icon=":material/stop_circle:")


def shows(place: str) -> bool:
    """Whether the action that just finished was started at ``place``."""
    outcome = st.session_state.get(OUTCOME_KEY)
    return isinstance(outcome, Outcome) and outcome.place == place


def show_last(place: str) -> None:
    """The steps of the action that just finished, if it was started at ``place``."""
    if shows(place):
        outcome = st.session_state[OUTCOME_KEY]
        with st.status(f"{plain(outcome.label)}: done", state="complete", expanded=True):
            for text in outcome.steps:
                st.markdown(f":material/check: {plain(text)}")


def forget_last() -> None:
    """The page is drawn: the finished action was shown."""
    st.session_state.pop(OUTCOME_KEY, None)


class Child:
    """``finlake link ...`` as a child process in a session of its own: its JSON step lines,
    a time limit, and a stop that asks first (SIGINT: locks and staged files released) and
    kills its whole group after STOP_GRACE."""

    def __init__(self, argv: list[str], stdin_text: str | None = None) -> None:
        env = {**os.environ, "FINLAKE_WRITER_WAIT": str(WRITER_WAIT)}
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=env, start_new_session=True)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._other: list[str] = []  # lines that are not steps (for a failure's last words)
        threading.Thread(target=self._read, daemon=True, name="finlake-link-reader").start()
        with contextlib.suppress(BrokenPipeError):  # it stopped at once: its output says why
            self.proc.stdin.write(stdin_text or "")  # type: ignore[union-attr]
            self.proc.stdin.close()  # type: ignore[union-attr]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    @property
    def returncode(self) -> int | None:  # None: still running
        return self.proc.poll()

    def events(self, tick: Callable[[float], None], limit: float = TIME_LIMIT
               ) -> Iterator[dict]:
        """Each step as it is printed; ``tick(seconds)`` about every second meanwhile (a
        Streamlit call there lets a Stop click end the page's run, and so this child)."""
        t0 = time.monotonic()
        while True:
            try:
                line = self._lines.get(timeout=1.0)
            except queue.Empty:
                if time.monotonic() - t0 > limit:
                    self._other.append(f"it took longer than {limit:.0f} s and was stopped")
                    return
                tick(time.monotonic() - t0)
                continue
            if line is None:
                self.proc.wait()
                return
            event = _step(line)
            if event is not None:
                yield event
            elif line.strip():
                self._other.append(line)

    def last_words(self) -> str | None:
        """The child's own one-line explanation of a failure (``finlake...: why``)."""
        said = [line for line in self._other if line.startswith(("finlake", "it took"))]
        return said[-1].split(": ", 1)[-1] if said else None

    def stop(self) -> None:
        """Ask the child to stop, then kill its whole process group."""
        if self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, STOP_GRACE), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


def _step(line: str) -> dict | None:
    """A step the child printed: its JSON line, or the writer lease's "waiting for" line."""
    if line.startswith("finlake: waiting for"):
        return {"step": "waiting", "text": line.removeprefix("finlake: ")}
    try:
        event = json.loads(line) if line.startswith("{") else None
    except ValueError:
        return None
    return event if isinstance(event, dict) else None
