"""Alert delivery marks each alert sent exactly once; budget commands validate their input."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from finlake.cli import main
from lake.lake import Lake
from lake.small_tables import read_rows, upsert_rows
from lake.tables import ALERTS
from pipelines.gold.budgets import budget_alerts
from pipelines.health.alerts import deliver

T0 = datetime(2024, 2, 10, 8, tzinfo=UTC)


class Receiver:
    """A webhook on 127.0.0.1 that records what it gets (or fails while ``down``)."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict]] = []
        self.down = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if outer.down:
                    self.send_response(503)
                else:
                    outer.got.append((self.headers["Idempotency-Key"], body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


def alerts() -> list[dict]:
    progress = [
        {"user_id": "hana", "month": "2024-02", "category_primary": "FOOD_AND_DRINK",
         "budget": Decimal("250"), "spent": Decimal("210"), "share": 0.84,
         "state": "approaching"},
        {"user_id": "nico", "month": "2024-02", "category_primary": "RENT_AND_UTILITIES",
         "budget": Decimal("1200"), "spent": Decimal("1200"), "share": 1.0, "state": "exceeded"},
        {"user_id": "nico", "month": "2024-02", "category_primary": "TRAVEL",
         "budget": Decimal("100"), "spent": Decimal("10"), "share": 0.1, "state": "ok"},
    ]
    return budget_alerts(progress, 0.8, T0)


def test_alert_keys_are_stable_per_threshold() -> None:
    first, again = alerts(), alerts()
    assert [a["alert_key"] for a in first] == [a["alert_key"] for a in again]
    assert [a["kind"] for a in first] == ["budget_approaching", "budget_exceeded"]


def test_webhook_delivery_happens_once_and_marks_sent(tmp_path, receiver) -> None:
    lake = Lake(str(tmp_path / "lake"))
    upsert_rows(lake, ALERTS, alerts(), update=False)
    upsert_rows(lake, ALERTS, alerts(), update=False)  # a replay writes no second row
    assert len(read_rows(lake, ALERTS)) == 2

    receiver.down = True
    out = deliver(lake, receiver.url)
    assert (out.sent, len(out.failed)) == ([], 2)
    assert all(a["sent_at"] is None for a in read_rows(lake, ALERTS))  # kept for later

    receiver.down = False
    out = deliver(lake, receiver.url, now=T0 + timedelta(hours=1))
    assert len(out.sent) == 2
    keys = {a["alert_key"] for a in alerts()}
    assert {k for k, _ in receiver.got} == keys
    assert {body["alert_key"] for _, body in receiver.got} == keys
    stored = read_rows(lake, ALERTS)
    assert {(a["sent_to"], a["sent_at"]) for a in stored} == {("webhook", T0 + timedelta(hours=1))}

    assert deliver(lake, receiver.url).sent == []  # a re-run sends nothing
    upsert_rows(lake, ALERTS, alerts(), update=False)  # nor does a replayed partition
    assert deliver(lake, receiver.url).sent == []
    assert len(receiver.got) == 2
    assert {a["sent_at"] for a in read_rows(lake, ALERTS)} == {T0 + timedelta(hours=1)}


def test_log_sink(tmp_path, caplog) -> None:
    lake = Lake(str(tmp_path / "lake"))
    upsert_rows(lake, ALERTS, alerts(), update=False)
    with caplog.at_level("INFO", logger="finlake.alerts"):
        assert len(deliver(lake, "log").sent) == 2
    assert "Food & drink: spent $210.00 of $250.00 (84%)" in caplog.text


@pytest.mark.parametrize(("argv", "message"), [
    (["budget", "set", "--user", "u", "--category", "FOOD", "--amount", "10"],
     "is not a primary category; use one of"),
    (["budget", "set", "--user", "u", "--category", "Food & drink", "--amount", "-5"],
     "is not a positive amount"),
    (["budget", "set", "--user", "u", "--category", "FOOD_AND_DRINK", "--amount", "lots"],
     "is not a positive amount"),
    (["budget", "set", "--user", "u", "--category", "FOOD_AND_DRINK", "--amount", "NaN"],
     "is not a positive amount"),
])
def test_budget_set_rejects_bad_input(tmp_path, monkeypatch, capsys, argv, message) -> None:
    monkeypatch.setenv("FINLAKE_HOME", str(tmp_path))
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "lake").exists()  # nothing written


def test_bad_alert_settings_are_config_errors(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FINLAKE_HOME", str(tmp_path))
    monkeypatch.setenv("FINLAKE_BUDGET_APPROACHING", "80")
    assert main(["gold", "deliver-alerts"]) == 2
    assert "must be a fraction between 0 and 1" in capsys.readouterr().err
    monkeypatch.setenv("FINLAKE_BUDGET_APPROACHING", "0.75")
    monkeypatch.setenv("FINLAKE_ALERT_SINK", "smtp://x")
    assert main(["gold", "deliver-alerts"]) == 2
    assert "use 'log' or a webhook URL" in capsys.readouterr().err
