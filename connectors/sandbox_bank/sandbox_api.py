"""The sandbox bank's own endpoints (``/sandbox/...``): clock, truth, items, faults, limits."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from connectors.sandbox_bank.errors import BankError, invalid_field
from connectors.sandbox_bank.faults import FaultPlan

if TYPE_CHECKING:
    from connectors.sandbox_bank.bank import SandboxBank

SANDBOX_ROUTES = {"/sandbox/clock/get", "/sandbox/clock/advance", "/sandbox/truth",
                  "/sandbox/items", "/sandbox/institutions", "/sandbox/faults/set",
                  "/sandbox/faults/clear", "/sandbox/faults/get", "/sandbox/item/resolve",
                  "/sandbox/rate_limits/set", "/sandbox/requests/summary"}


def _faults(bank: SandboxBank) -> dict:
    return {"seed": bank.faults.seed, "plan": bank.fault_plan.to_json(),
            "stuck_items": bank.faults.stuck_items(), "fault_log": list(bank.fault_log),
            "wrong_balances": list(bank.wrong_balances)}


def _set_faults(bank: SandboxBank, body: dict) -> dict:
    seed = body.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise invalid_field("seed must be an integer")
    try:
        plan = bank.set_fault_plan(FaultPlan.from_json(body.get("plan")), seed)
    except ValueError as e:
        raise invalid_field(f"plan: {e}") from e
    return {"seed": seed, "plan": plan.to_json()}


def _call(bank: SandboxBank, path: str, body: dict) -> dict:
    if path == "/sandbox/clock/advance":
        try:
            bank.advance_to(date.fromisoformat(str(body.get("day"))))
        except ValueError as e:
            raise invalid_field(f"day: {e}") from e
    elif path == "/sandbox/truth":
        token, cursor = str(body.get("access_token")), body.get("cursor")
        return {"transactions": bank.truth(token, cursor),
                "reissues": bank.truth_reissues(token, cursor)}
    elif path == "/sandbox/items":
        return {"items": [{k: i[k] for k in ("user_id", "institution_id", "item_id")}
                          for i in bank.items()]}
    elif path == "/sandbox/institutions":
        return {"institutions": bank.institutions(),
                "enforce_rate_limits": bank.enforce_rate_limits}
    elif path == "/sandbox/faults/set":
        return _set_faults(bank, body)
    elif path == "/sandbox/faults/clear":
        bank.clear_fault_plan()
        return _faults(bank)
    elif path == "/sandbox/faults/get":
        return _faults(bank)
    elif path == "/sandbox/item/resolve":
        return {"resolved": bank.resolve_item(str(body.get("item_id")))}
    elif path == "/sandbox/rate_limits/set":
        if not isinstance(body.get("enforce"), bool):
            raise invalid_field("enforce must be a boolean")
        bank.enforce_rate_limits = body["enforce"]
        return {"enforce_rate_limits": bank.enforce_rate_limits}
    elif path == "/sandbox/requests/summary":
        return {"counts": [{"institution_id": ins, "result": res, "requests": n}
                           for (ins, res), n in sorted(bank.request_counts().items(), key=str)]}
    return {"clock": bank.clock.isoformat()}


def sandbox_call(bank: SandboxBank, path: str, body: dict) -> tuple[int, dict]:
    """Serve one ``/sandbox/...`` request: (status, JSON)."""
    try:
        return 200, _call(bank, path, body)
    except BankError as e:
        return e.status, e.body(bank._request_id(path, body))
