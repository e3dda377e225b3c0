"""Fault plans chosen on a command line: ``--faults SPEC`` (``python -m
connectors.sandbox_bank``, ``finlake sandbox-bank``, ``finlake demo``).

SPEC is a JSON plan file (``{"seed": 11, "plan": {...}}`` or the plan mapping alone),
``every-kind[:SEED]`` (every fault kind spread over the bank's institutions) or ``none``.
Every fault is checked by :class:`~connectors.sandbox_bank.faults.Fault` itself.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.sandbox_bank.faults import KINDS, Fault, FaultPlan

if TYPE_CHECKING:
    from connectors.sandbox_bank.bank import SandboxBank

MAX_PLAN_FILE_BYTES = 1 << 20
EVERY_KIND, NO_PLAN = "every-kind", "none"
_FILE_KEYS = ("seed", "plan", "description")  # the wrapped shape's keys
_SPECS = f"a JSON plan file, {EVERY_KIND}[:SEED], or {NO_PLAN}"


def load_plan(spec: str, institution_ids: Sequence[str]) -> tuple[FaultPlan, int]:
    """(plan, seed) that ``--faults SPEC`` names for a bank holding ``institution_ids``.

    SPEC is the path of a JSON plan file (see :func:`load_plan_file`), ``every-kind`` or
    ``every-kind:SEED`` (:meth:`FaultPlan.every_kind` over all of them; seed 0 by default),
    or ``none`` (an empty plan: :func:`install_plan` clears the bank's). Every problem is a
    one-line ValueError saying what is wrong and what to do.
    """
    if not spec.strip():
        raise ValueError(f"no plan named; give {_SPECS}")
    if spec == NO_PLAN:
        return FaultPlan(), 0
    if spec == EVERY_KIND or spec.startswith(EVERY_KIND + ":"):
        text = spec.removeprefix(EVERY_KIND).removeprefix(":") or "0"
        try:
            seed = int(text)
        except ValueError:
            raise ValueError(f"{EVERY_KIND}:SEED takes a whole-number seed, got {_clip(text)} "
                             f"(e.g. {EVERY_KIND}:11)") from None
        return FaultPlan.every_kind(institution_ids, seed), seed
    plan, seed = load_plan_file(spec)
    unknown = sorted(set(plan) - set(institution_ids))
    if unknown:
        shown = ", ".join(_clip(i) for i in unknown[:5]) + (
            f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        known = list(institution_ids)
        few = ", ".join(known[:4]) + (f", ... {known[-1]}" if len(known) > 4 else "")
        raise ValueError(f"{_clip(spec, 200)}: no institution {shown} in this bank: it has "
                         f"{len(known)} ({few}); name those in the plan")
    return plan, seed


def load_plan_file(path: str | os.PathLike[str]) -> tuple[FaultPlan, int]:
    """(plan, seed) from a JSON file: ``{"seed": 11, "plan": {"ins_3": [{"kind": "timeout",
    "rate": 0.2, "delay": 3.0}, ...]}}`` (an optional ``"description"`` string too) or just
    the plan mapping (seed 0). Faults are checked by :class:`Fault`; which institutions a
    bank holds is for :func:`load_plan`. Problems are one-line ValueErrors."""
    name = _clip(os.fspath(path), 200)
    data = _read_json(Path(path), name)
    seed = 0
    if isinstance(data, dict) and any(k in data for k in _FILE_KEYS):
        extra = sorted(set(data) - set(_FILE_KEYS))
        if extra:
            raise ValueError(f"{name}: unknown key(s) {_clip(extra)}: a plan file holds "
                             '"seed", "plan" and optionally "description", or just the plan')
        if "plan" not in data:
            raise ValueError(f'{name}: no "plan": add "plan": {{"ins_1": [{{"kind": ...}}]}}')
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"{name}: seed must be a whole number, got {_clip(repr(seed))}")
        if not isinstance(data.get("description", ""), str):
            raise ValueError(f"{name}: description must be a string")
        data = data["plan"]
    if not isinstance(data, dict):
        raise ValueError(f"{name}: a plan must be a JSON object mapping institution ids to "
                         f"lists of faults, got {type(data).__name__}: "
                         '{"ins_1": [{"kind": "timeout", "rate": 0.2}]}')
    if not data:
        raise ValueError(f"{name}: the plan names no institution; to clear a plan use "
                         f"--faults {NO_PLAN}")
    plan: dict[str, list[Fault]] = {}
    for ins, items in data.items():
        if not isinstance(items, list):
            raise ValueError(f"{name}: {_clip(ins)} must map to a list of faults, "
                             f"got {type(items).__name__}")
        plan[ins] = [_fault(f, f"{name}: {_clip(ins)} fault {n}") for n, f in
                     enumerate(items, 1)]
    return FaultPlan(plan), seed


def _fault(data: object, where: str) -> Fault:
    try:
        return Fault.from_json(data)  # type: ignore[arg-type]
    except (ValueError, TypeError) as e:
        kind = data.get("kind") if isinstance(data, dict) else None
        if isinstance(data, dict) and "kind" in data and not isinstance(kind, str):  # a list
            raise ValueError(f"{where}: unknown fault kind {_clip(kind)} (known: "
                             f"{', '.join(KINDS)})") from None
        takes = (f" (a {kind} fault takes "
                 f"{', '.join(['rate', 'after_calls', 'calls', *KINDS[kind]])})"
                 if isinstance(kind, str) and kind in KINDS else "")
        raise ValueError(f"{where}: {_clip(e, 300)}{takes}") from None


def _read_json(path: Path, name: str) -> object:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ValueError(f"{name}: no such file; give {_SPECS}") from None
    except OSError as e:
        raise ValueError(f"{name}: cannot read it ({e.strerror}); give {_SPECS}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ValueError(f"{name} is a directory; give the path of a JSON plan file in it")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{name} is not a regular file; save the plan to a file first")
    too_big = (f"{name} is larger than {MAX_PLAN_FILE_BYTES:,} bytes (1 MB), the most a "
               "fault plan may be; a plan names a few faults per institution")
    if st.st_size > MAX_PLAN_FILE_BYTES:
        raise ValueError(too_big)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_PLAN_FILE_BYTES + 1)
    except OSError as e:
        raise ValueError(f"{name}: cannot read it ({e.strerror}); check its permissions"
                         ) from None
    if len(raw) > MAX_PLAN_FILE_BYTES:  # it grew since stat
        raise ValueError(too_big)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{name}: not UTF-8 text (byte {e.start}); save the plan as UTF-8 "
                         "JSON") from None
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite,
                          object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        raise ValueError(f"{name}: not JSON: {e.msg} at line {e.lineno} column {e.colno}"
                         ) from None
    except RecursionError:
        raise ValueError(f"{name}: nested too deeply to be a fault plan (a plan is "
                         "institution -> list of fault objects)") from None
    except ValueError as e:  # from the hooks below, or an integer of thousands of digits
        raise ValueError(f"{name}: not a usable JSON plan: {_clip(e, 200)}") from None


def _no_constant(word: str) -> float:
    raise ValueError(f"{word} is not a number a plan may hold; write a finite number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{_clip(text)} is too large; write a finite number")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {_clip(key)} appears twice in one object; merge them")
        out[key] = value
    return out


def _clip(value: object, most: int = 60) -> str:
    """``value`` for a one-line message: repr (so no line break), at most ``most`` chars."""
    text = str(value) if isinstance(value, str | BaseException) else repr(value)
    if not text.isprintable():
        text = repr(text)
    return text if len(text) <= most else text[: most - 3] + "..."


def describe_plan(plan: FaultPlan, seed: int) -> str:
    """One line: which plan is in force (institutions, kinds, seed)."""
    if not plan:
        return "no fault plan in force: every request is answered normally"
    kinds = sorted({f.kind for faults in plan.values() for f in faults})
    each = "; ".join(f"{ins} {', '.join(f.kind for f in faults) or '(none)'}"
                     for ins, faults in sorted(plan.items(), key=_natural))
    return (f"fault plan in force (seed {seed}, {len(plan)} institution(s), {len(kinds)} "
            f"kind(s)): {each}")


def _natural(item: tuple[str, object]) -> tuple[int, str]:
    return len(item[0]), item[0]  # ins_2 before ins_10


def install_plan(bank: SandboxBank, plan: FaultPlan, seed: int) -> str:
    """Put ``plan`` in force on ``bank`` (persisted; an empty plan clears the bank's plan and
    its sticky item errors) and return :func:`describe_plan`'s line."""
    if plan:
        bank.set_fault_plan(plan, seed)
    else:
        bank.clear_fault_plan()
    return describe_plan(bank.fault_plan, bank.faults.seed)
