"""What the dashboard asks the ``finlake`` command to do for the signed-in person, as a child
process: add a manual account (``finlake manual account``), add a transaction to one
(``finlake manual transaction``), import an uploaded bank file (``finlake import``), and say
a transaction the bank sent again is not a duplicate (``finlake duplicate keep``).

As with the Link flow (dashboard/linking.py, whose :class:`~dashboard.linking.Child` runs
them), the dashboard never writes the lake with Spark nor holds the writer lease: the child
does, and its steps show in an ``st.status`` as they arrive. The person is always the
signed-in Principal's user id (``queries.scope_of``), never anything the browser sends; the
audit rows of these commands name the dashboard (``--actor dashboard``). Everything typed is
checked here first (connectors/files/importing.py), so a plain mistake is said at once
without a process; the child checks it all again.

An uploaded file goes to a private temporary file under ``FINLAKE_HOME/uploads`` (the
process's files are private: core/file_modes.py), refused above the size of any statement
before anything is written, and removed once the import has ended, however it ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from connectors.files.importing import (
    MAX_AMOUNT,
    MAX_BALANCE,
    EntryRefused,
    entry_day,
    entry_description,
    entry_money,
    entry_name,
)
from connectors.files.statement import MAX_FILE_BYTES
from core.settings import load_settings
from dashboard import linking
from dashboard.auth import DASHBOARD, Principal
from dashboard.data import queries
from dashboard.plain import plain
from lake.tables import ACCOUNTS, DUPLICATE_KEEPS, TRANSACTION_OVERRIDES, TRANSACTIONS

if TYPE_CHECKING:
    from lake.lake import Lake

FINLAKE = [sys.executable, "-m", "finlake.cli"]
UNDER_WAY = {"merging", "refreshing", "keeping", "waiting"}
CHANGED = (ACCOUNTS, TRANSACTIONS, TRANSACTION_OVERRIDES, DUPLICATE_KEEPS)
FILE_SUFFIXES = (".ofx", ".qfx", ".csv")
ENTRY_KEY = "_manual_entry_id"  # the id of the transaction form being filled in


def refused(text: str) -> linking.Outcome:
    """A mistake said at once (no child started)."""
    st.error(plain(text), icon=linking.ERROR_ICON)
    return linking.Outcome("", "", error=text)


def add_account(who: Principal, name: str, kind: str, currency: str,
                balance: Decimal | None) -> linking.Outcome:
    """The person's new manual account."""
    try:
        name = entry_name(name)
        if balance is not None:
            entry_money(str(balance), "The balance", MAX_BALANCE, negative=True)
    except EntryRefused as exc:
        return refused(str(exc))
    return run(f"Adding {name}", [
        "manual", "account", "--user", queries.scope_of(who), f"--name={name}", "--type", kind,
        "--currency", currency, *([f"--balance={balance}"] if balance is not None else [])])


def entry_id() -> str:
    """The id of the transaction form on screen: a double click sends it once; a new form
    (after a transaction was added) gets a new one."""
    if ENTRY_KEY not in st.session_state:
        st.session_state[ENTRY_KEY] = uuid.uuid4().hex
    return str(st.session_state[ENTRY_KEY])


def add_transaction(who: Principal, account: str, day: date | None, description: str,
                    amount: Decimal | None, money_out: bool, category: str | None
                    ) -> linking.Outcome:
    """A transaction the person typed, into their manual account ``account``."""
    try:
        if day is None or amount is None:
            raise EntryRefused("give the transaction's date and amount")
        entry_day(day.isoformat(), date.today())
        text = entry_description(description)
        entry_money(str(amount), "The amount", MAX_AMOUNT)
    except EntryRefused as exc:
        return refused(str(exc))
    outcome = run(f"Adding {text[:40]}", [
        "manual", "transaction", "--user", queries.scope_of(who), f"--account={account}",
        "--date", day.isoformat(), f"--description={text}", "--amount", str(amount),
        "--direction", "out" if money_out else "in", "--entry-id", entry_id(),
        *(["--category", category] if category else [])])
    if outcome.error is None:
        st.session_state.pop(ENTRY_KEY, None)  # the next form is another transaction
    return outcome


def import_file(who: Principal, account: str, file_name: str, body: bytes,
                currency: str | None) -> linking.Outcome:
    """An uploaded bank file into the person's manual account ``account``."""
    try:
        account = entry_name(account)
    except EntryRefused as exc:
        return refused(str(exc))
    if len(body) > MAX_FILE_BYTES:
        return refused(too_large(len(body)))
    suffix = Path(file_name).suffix.lower()
    folder = load_settings().home / "uploads"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, path = tempfile.mkstemp(suffix=suffix if suffix in FILE_SUFFIXES else ".dat",
                                    dir=folder)  # mode 0600
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(body)
        outcome = run(f"Importing {Path(file_name).name[:60]}", [
            "import", path, "--user", queries.scope_of(who), f"--account={account}",
            *(["--currency", currency] if currency else [])], text_lines=True)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    if outcome.error and "--currency" in outcome.error and not currency:
        st.info("Choose the file's currency in “Currency, if the file does not say”, then "
                "import it again.", icon=":material/currency_exchange:")
    return outcome


def too_large(size: int) -> str:
    return (f"The file is {size / 1024 / 1024:.0f} MB: a bank's statement export is at most "
            f"{MAX_FILE_BYTES // 1024 // 1024} MB. Export a shorter period. Nothing was "
            "imported.")


def keep(who: Principal, txn_id: str, description: str) -> linking.Outcome:
    """Say the person's transaction ``txn_id`` is not a duplicate: it counts again."""
    return run(f"Keeping {description[:40]}", [
        "duplicate", "keep", "--user", queries.scope_of(who), "--transaction", txn_id])


def run(label: str, argv: list[str], text_lines: bool = False) -> linking.Outcome:
    """Run ``finlake ARGV --json --actor dashboard`` (``text_lines``: a command that prints
    plain lines, each shown as a step) with its steps in an ``st.status``; how it ended."""
    outcome = linking.Outcome(label, "manual")
    shown = plain(label)
    command = [*FINLAKE, *argv, *([] if text_lines else ["--json"]), "--actor", DASHBOARD]
    with st.status(f"{shown}…", expanded=True) as status:
        slot = st.empty()
        child = (_text_child if text_lines else linking.Child)(command)
        try:
            for event in child.events(tick=lambda s: slot.caption(f"Working… {s:.0f} s")):
                text = str(event.get("text", ""))
                if event.get("step") == "error":
                    outcome.error = text
                elif event.get("step") in UNDER_WAY:
                    slot.caption(f"{plain(text)}…")
                else:
                    outcome.steps.append(text)
                    st.markdown(f":material/check: {plain(text)}")
        finally:
            child.stop()
        slot.empty()
        if outcome.error is None and child.returncode != 0:
            outcome.error = child.last_words() or f"it stopped (exit code {child.returncode})"
        if outcome.error:
            st.error(plain(outcome.error), icon=linking.ERROR_ICON)
            status.update(label=f"{shown}: not done", state="error", expanded=True)
        else:
            status.update(label=f"{shown}: done", state="complete", expanded=True)
    return outcome


def finished(lake: Lake, message: str) -> None:
    """After a change: the page again, from the lake as the child left it, saying ``message``
    (markdown: what the person typed goes through :func:`plain`)."""
    from dashboard import ui

    for t in CHANGED:
        queries.changed(lake, t)
    ui.flash_and_rerun(message)


def _text_child(argv: list[str]) -> linking.Child:
    """A child whose command prints plain lines (``finlake import``): each is a step; its
    one-line refusal (``finlake ...: why``) stays its last words."""

    def read(self: linking.Child) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.strip() and not line.startswith("finlake"):
                line = json.dumps({"step": "said", "text": line.strip()})
            self._lines.put(line)
        self._lines.put(None)

    return type("TextChild", (linking.Child,), {"_read": read})(argv)
