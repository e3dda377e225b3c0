"""Fault plans chosen on the command line (``--faults SPEC``): the plan-file loader and its
refusals, ``python -m connectors.sandbox_bank --faults``, ``finlake sandbox-bank --faults``
and ``finlake demo --faults`` (refusals only: a whole demo is too slow here)."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from connectors.sandbox_bank.bank import SandboxBank
from connectors.sandbox_bank.fault_files import (
    MAX_PLAN_FILE_BYTES,
    install_plan,
    load_plan,
    load_plan_file,
)
from connectors.sandbox_bank.faults import KINDS, Fault, FaultPlan
from core.settings import load_settings
from finlake.cli import main
from finlake.commands import pipeline as commands

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "fault_plans" / "example.json"
SEVEN = [f"ins_{n}" for n in range(1, 8)]  # every bank's first seven institutions
PLAN = {"ins_3": [{"kind": "timeout", "rate": 0.2, "delay": 3.0},
                  {"kind": "rate_limit", "rate": 0.5, "retry_after": 2}],
        "ins_5": [{"kind": "wrong_balance", "after_calls": 1, "calls": 2, "factor": -1}]}
EXPECTED = FaultPlan({"ins_3": [Fault("timeout", 0.2, delay=3.0),
                                Fault("rate_limit", 0.5, retry_after=2)],
                      "ins_5": [Fault("wrong_balance", 1.0, 1, 2, factor=-1)]})


def _write(path: Path, content: object) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _open_bank(state_dir: Path, institutions: int = 7) -> SandboxBank:
    return SandboxBank.open(state_dir, seed=7, users=2, history_start=date(2025, 1, 1),
                            clock=date(2025, 1, 31), institutions=institutions)


# -- the loader ------------------------------------------------------------------------------
def test_plan_file_with_a_seed(tmp_path: Path) -> None:
    path = _write(tmp_path / "plan.json", {"description": "two banks misbehave", "seed": 11,
                                           "plan": PLAN})
    assert load_plan_file(path) == (EXPECTED, 11)
    assert load_plan(str(path), SEVEN) == (EXPECTED, 11)


def test_plan_file_holding_only_the_plan_has_seed_0(tmp_path: Path) -> None:
    assert load_plan(str(_write(tmp_path / "plan.json", PLAN)), SEVEN) == (EXPECTED, 0)


def test_every_kind_covers_every_institution_and_kind() -> None:
    ids = [f"ins_{n}" for n in range(1, 10)]
    plan, seed = load_plan("every-kind:11", ids)
    assert (plan, seed) == (FaultPlan.every_kind(ids, 11), 11)
    assert {f.kind for faults in plan.values() for f in faults} == set(KINDS)
    assert load_plan("every-kind", ids) == (FaultPlan.every_kind(ids, 0), 0)
    assert load_plan("every-kind:12", ids)[0] != plan  # the seed shuffles


def test_the_documented_example_loads_for_a_default_bank(tmp_path: Path) -> None:
    plan, seed = load_plan(str(EXAMPLE), [i["institution_id"] for i in
                                          _open_bank(tmp_path).institutions()])
    kinds = {f.kind for faults in plan.values() for f in faults}
    assert seed == 11 and len(plan) >= 3 and len(kinds) >= 5


def test_install_puts_the_plan_in_force_and_none_clears_it(tmp_path: Path) -> None:
    """What ``finlake demo --faults`` does to its opened sandbox bank, after linking."""
    bank = _open_bank(tmp_path)
    line = install_plan(bank, *load_plan(str(_write(tmp_path / "p.json", {"seed": 4,
                                                                          "plan": PLAN})), SEVEN))
    assert (bank.fault_plan, bank.faults.seed) == (EXPECTED, 4)
    assert "\n" not in line
    for part in ("seed 4", "2 institution", "ins_3 timeout, rate_limit", "ins_5 wrong_balance"):
        assert part in line
    reopened = _open_bank(tmp_path)  # persisted: a later command gets the same plan
    assert (reopened.fault_plan, reopened.faults.seed) == (EXPECTED, 4)
    assert install_plan(bank, *load_plan("none", SEVEN)).startswith("no fault plan in force")
    assert not bank.fault_plan
    assert not _open_bank(tmp_path).fault_plan


def test_demo_finds_its_banks_institutions_without_writing(tmp_path: Path) -> None:
    settings = load_settings({"FINLAKE_HOME": str(tmp_path / "home")})
    assert commands._sandbox_institution_ids(settings) == SEVEN  # the bank demo would create
    assert not (tmp_path / "home").exists()
    _open_bank(settings.sandbox_dir, institutions=9)  # an existing, bigger bank
    ids = commands._sandbox_institution_ids(settings)
    assert ids == [*SEVEN, "ins_8", "ins_9"]
    chosen = commands._demo_faults(settings, "every-kind:3")
    assert chosen is not None and set(chosen[0]) == set(ids) and chosen[1] == 3


BIG_BLANK = "{}" + " " * 2 * MAX_PLAN_FILE_BYTES  # 2 MB of valid JSON
DEEP = '{"ins_1": ' + "[" * 200_000 + "]" * 200_000 + "}"
FAULT = {"kind": "timeout"}


@pytest.mark.parametrize(("content", "says"), [
    ("{\n  \"ins_1\": [\n    {\"kind\": \"timeout\",}\n  ]\n}",
     "not JSON: Expecting property name enclosed in double quotes at line 3 column 24"),
    ("", "not JSON: Expecting value at line 1 column 1"),
    (BIG_BLANK, "larger than 1,048,576 bytes (1 MB)"),
    (DEEP, "nested too deeply"),
    ("[1, 2]", "a plan must be a JSON object mapping institution ids to lists of faults, got "
               "list"),
    ('"every-kind"', "got str"),
    ("null", "got NoneType"),
    ({}, "the plan names no institution; to clear a plan use --faults none"),
    ({"ins_99": [FAULT]}, "no institution ins_99 in this bank: it has 7 (ins_1, ins_2, ins_3, "
                          "ins_4, ... ins_7)"),
    ({"ins_1": [{"kind": "timeout", "rate": 1.5}]},
     "ins_1 fault 1: timeout: rate must be a number in [0, 1], got 1.5"),
    ({"ins_1": [FAULT, {"kind": "timeout", "delay": -1}]},
     "ins_1 fault 2: timeout: delay must be a number of seconds from 0 to 600, got -1"),
    ({"ins_1": [{"kind": "explode"}]}, "unknown fault kind 'explode' (known: rate_limit, "),
    ({"ins_1": [{"kind": "timeout", "dealy": 3}]},
     "unknown parameter(s) ['dealy'] (a timeout fault takes rate, after_calls, calls, delay)"),
    ({"ins_1": [{"kind": ["timeout"]}]}, "ins_1 fault 1: unknown fault kind ['timeout'] (known:"),
    ({"ins_1": [{"kind": "timeout", "self": 1}]}, "(a timeout fault takes rate, after_calls, "),
    ({"ins_1": [{"rate": 0.5}]}, "a fault must be an object with a kind"),
    ({"ins_1": ["timeout"]}, "a fault must be an object with a kind"),
    ({"ins_1": FAULT}, "ins_1 must map to a list of faults, got dict"),
    ({"ins_1": 5}, "ins_1 must map to a list of faults, got int"),
    ('{"ins_1": [{"kind": "timeout", "rate": NaN}]}', "NaN is not a number a plan may hold"),
    ('{"ins_1": [{"kind": "timeout", "delay": 1e999}]}', "1e999 is too large"),
    ('{"ins_1": [], "ins_1": [{"kind": "timeout"}]}', 'key ins_1 appears twice in one object'),
    ({"seed": 3, "ins_1": [FAULT]}, "unknown key(s) ['ins_1']: a plan file holds"),
    ({"seed": 3}, 'no "plan"'),
    ({"seed": "3", "plan": {"ins_1": [FAULT]}}, "seed must be a whole number, got '3'"),
    ({"seed": True, "plan": {"ins_1": [FAULT]}}, "seed must be a whole number, got True"),
    ({"seed": 1.5, "plan": {"ins_1": [FAULT]}}, "seed must be a whole number, got 1.5"),
    ({"description": 7, "plan": {"ins_1": [FAULT]}}, "description must be a string"),
])
def test_a_bad_plan_file_is_refused_with_one_line(tmp_path: Path, content: object,
                                                  says: str) -> None:
    path = _write(tmp_path / "plan.json", content)
    with pytest.raises(ValueError) as err:
        load_plan(str(path), SEVEN)
    message = str(err.value)
    assert "\n" not in message and len(message) < 400, message
    assert message.startswith(str(path)), message
    assert says in message, message


def test_a_plan_naming_many_unknown_institutions_lists_a_few(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.json", {f"bank_{n}": [FAULT] for n in range(40)})
    with pytest.raises(ValueError, match=r"no institution bank_0, bank_1, bank_10, bank_11, "
                                         r"bank_12 and 35 more in this bank: it has 7 "):
        load_plan(str(path), SEVEN)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    raw = b'{"ins_1": [{"kind": "timeout\xff"}]}'
    path.write_bytes(raw)
    at = raw.index(b"\xff")
    with pytest.raises(ValueError, match=rf"not UTF-8 text \(byte {at}\); save the plan as "
                                         "UTF-8 JSON"):
        load_plan(str(path), SEVEN)


@pytest.mark.parametrize(("spec", "says"), [
    ("no-such-plan.json", "no-such-plan.json: no such file; give a JSON plan file, "
                          "every-kind[:SEED], or none"),
    ("every-kind:eleven", "every-kind:SEED takes a whole-number seed, got eleven"),
    ("every-kind:", "got "),  # "every-kind:" with nothing after: seed 0
    ("None", "None: no such file"),  # only "none" clears
    ("", "no plan named; give a JSON plan file, every-kind[:SEED], or none"),
])
def test_a_bad_spec_is_refused_with_one_line(spec: str, says: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    if spec == "every-kind:":
        assert load_plan(spec, SEVEN) == (FaultPlan.every_kind(SEVEN, 0), 0)
        return
    with pytest.raises(ValueError) as err:
        load_plan(spec, SEVEN)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_directory_is_not_a_plan(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r" is a directory; give the path of a JSON plan file"):
        load_plan(str(tmp_path), SEVEN)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ValueError, match=r"is not a regular file"):
        load_plan(str(tmp_path / "pipe"), SEVEN)


@pytest.fixture
def unreadable_plan() -> Iterator[Path]:
    """A valid plan file nobody but root may read, in a folder everyone may pass through."""
    folder = Path(tempfile.mkdtemp(prefix="finlake-faults-"))
    try:
        folder.chmod(0o711)
        path = _write(folder / "plan.json", PLAN)
        path.chmod(0)
        yield path
    finally:
        shutil.rmtree(folder)


def _as_nobody(call: Callable[[], object]) -> str:
    """Root reads any file, so run ``call`` in a forked child that became user nobody; the
    ValueError it raised (or "no error")."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        out = "no error"
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            call()
        except ValueError as e:
            out = str(e)
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            out = f"child failed: {e!r}"
        finally:
            os.write(write_end, out.encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (to drop root) and chmod")
def test_an_unreadable_file_is_refused(unreadable_plan: Path) -> None:
    def load() -> object:
        return load_plan(str(unreadable_plan), SEVEN)

    message = _as_nobody(load) if os.geteuid() == 0 else ""
    if os.geteuid() != 0:
        with pytest.raises(ValueError) as err:
            load()
        message = str(err.value)
    assert message == (f"{unreadable_plan}: cannot read it (Permission denied); check its "
                       "permissions")
    assert stat.S_IMODE(unreadable_plan.stat().st_mode) == 0


# -- python -m connectors.sandbox_bank --faults -------------------------------------------
def _bank_process(state_dir: Path, *faults: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "connectors.sandbox_bank", "--state-dir", str(state_dir),
         "--port", "0", "--users", "2", *faults],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _faults_get(url: str) -> dict:
    request = urllib.request.Request(f"{url}/sandbox/faults/get", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _served_faults(proc: subprocess.Popen[str]) -> tuple[dict, str]:
    """The faults the running bank reports over HTTP, and its stderr; then stop it."""
    assert proc.stdout is not None and proc.stderr is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        url = proc.stdout.readline().strip() if ready else ""
        assert url.startswith("http://127.0.0.1:"), url or "no URL within 60 s"
        faults = _faults_get(url)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return faults, err


@pytest.mark.integration
def test_module_installs_the_plan_before_serving(tmp_path: Path) -> None:
    path = _write(tmp_path / "plan.json", {"seed": 5, "plan": PLAN})
    faults, err = _served_faults(_bank_process(tmp_path / "bank", "--faults", str(path)))
    assert (faults["seed"], faults["plan"]) == (5, EXPECTED.to_json())
    assert "fault plan in force (seed 5, 2 institution(s), 3 kind(s))" in err


@pytest.mark.integration
def test_module_every_kind_and_none_clears_a_persisted_plan(tmp_path: Path) -> None:
    ids = [i["institution_id"] for i in _open_bank(tmp_path / "bank").institutions()]
    faults, _ = _served_faults(_bank_process(tmp_path / "bank", "--faults=every-kind:8"))
    assert (faults["seed"], faults["plan"]) == (8, FaultPlan.every_kind(ids, 8).to_json())
    assert _open_bank(tmp_path / "bank").fault_plan  # persisted
    faults, err = _served_faults(_bank_process(tmp_path / "bank"))
    assert faults["plan"] and "(persisted; --faults none clears it)" in err
    faults, err = _served_faults(_bank_process(tmp_path / "bank", "--faults", "none"))
    assert (faults["seed"], faults["plan"]) == (0, {})
    assert "no fault plan in force" in err


@pytest.mark.parametrize("content", [{"ins_42": [FAULT]}, {"ins_1": [{"kind": "timeout",
                                                                       "rate": 1.5}]}])
def test_module_refuses_a_bad_plan_and_serves_nothing(tmp_path: Path, content: object) -> None:
    path = _write(tmp_path / "plan.json", content)
    proc = _bank_process(tmp_path / "bank", "--faults", str(path))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"python -m connectors.sandbox_bank: error: argument --faults: {path}:")


# -- finlake sandbox-bank / finlake demo ---------------------------------------------------
@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A FINLAKE_HOME that does not exist yet (what the demo creates)."""
    for name in ("FINLAKE_ENV", "FINLAKE_S3_BUCKET", "FINLAKE_PARTNER_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FINLAKE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_sandbox_bank_command_passes_the_spec_on(home: Path, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    home.mkdir()
    calls: list[list[str]] = []

    def call(argv: list[str]) -> int:
        calls.append(argv)
        return 0

    monkeypatch.setattr(subprocess, "call", call)
    assert main(["sandbox-bank", "--port", "8765", "--faults=-odd.json"]) == 0
    assert main(["sandbox-bank", "--port", "8765"]) == 0
    assert calls[0][-5:] == ["--state-dir", str(home / "sandbox_bank"), "--port", "8765",
                             "--faults=-odd.json"]
    assert "--faults" not in " ".join(calls[1])


def test_demo_refuses_a_bad_plan_before_writing(home: Path, tmp_path: Path) -> None:
    path = _write(tmp_path / "plan.json", {"ins_1": [{"kind": "timeout", "delay": -2}]})
    proc = subprocess.run([sys.executable, "-m", "finlake.cli", "demo", "--faults", str(path)],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "FINLAKE_HOME": str(home)})
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == (f"finlake demo: --faults: {path}: ins_1 fault 1: timeout: delay must "
                           "be a number of seconds from 0 to 600, got -2 (a timeout fault takes "
                           "rate, after_calls, calls, delay); nothing was written\n")
    assert not home.exists()  # no lake, no sandbox bank, no Dagster instance


@pytest.mark.parametrize(("spec", "says"), [
    ("every-kind:x", "every-kind:SEED takes a whole-number seed"),
    ("missing.json", "missing.json: no such file"),
    (str(EXAMPLE), None),  # names ins_7: fine in every bank, so only a tampered one fails
])
def test_demo_checks_the_plan_against_its_bank(home: Path, tmp_path: Path, spec: str,
                                               says: str | None,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    if says is None:  # an unknown institution: a copy of the example naming ins_70
        data = json.loads(EXAMPLE.read_text())
        data["plan"]["ins_70"] = data["plan"].pop("ins_7")
        spec = str(_write(tmp_path / "tampered.json", data))
        says = "no institution ins_70 in this bank: it has 7 (ins_1, "
    assert main(["demo", "--days", "1", "--faults", spec]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and says in err, err
    assert not home.exists()


def test_demo_refuses_faults_for_a_real_partner(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FINLAKE_PARTNER_HOST", "https://sandbox.plaid.example")
    monkeypatch.setenv("PLAID_CLIENT_ID", "client")
    monkeypatch.setenv("PLAID_SECRET", "not-a-real-secret")
    assert main(["demo", "--faults", str(EXAMPLE)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "FINLAKE_PARTNER_HOST" in err, err
    assert not home.exists()


@pytest.mark.parametrize("delay", [1e300, 601, -1, float("nan")])
def test_a_timeout_longer_than_ten_minutes_is_refused(delay: float) -> None:
    with pytest.raises(ValueError, match="delay must be a number of seconds from 0 to 600"):
        Fault("timeout", 0.5, delay=delay)
