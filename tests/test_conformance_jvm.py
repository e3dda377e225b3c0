"""The transforms in pipelines/ are plain Spark: JVM Spark (Spark Connect local mode) and
Sail give identical results on the same raw pages."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lake.objectstore import LocalObjectStore
from tests.raw_builder import land, page, txn

pytestmark = [pytest.mark.jvm, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


def run(engine: str, pages_dir: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.conformance_runner", engine, str(pages_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(shutil.which("java") is None, reason="JVM Spark needs Java (./dev test "
                    "installs it)")
def test_transforms_agree_on_sail_and_jvm_spark(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    land(store, "2026-01-10", 1, [
        page(added=[txn("p1", 4.5, "2026-01-10", pending=True),
                    txn("t2", 30.0, "2026-01-09", "SQ *SHELL OIL 5521", merchant=None),
                    txn("bad", 1.0, "2026-01-09", currency="ZZZ"),
                    txn("t9", 7.0, "2026-01-09", "BLUE BOTTLE COFFEE 0423", merchant=None),
                    txn("t8", 9.0, "2026-01-09", "QUIKGAS 55", merchant=None)], has_more=True),
        page(added=[txn("t4", 12.0, "2026-01-08", "AMZN Mktp US*2K4", merchant="Amazon")],
             removed=["p0"]),
    ])
    land(store, "2026-02-02", 2, [
        page(added=[txn("t1", 5.4, "2026-01-11", pending_id="p1")],
             modified=[txn("t2", 31.0, "2026-01-09", "SHELL OIL 5521", merchant="Shell")],
             removed=["p1"]),
    ])
    sail, jvm = run("sail", tmp_path), run("jvm", tmp_path)
    assert sail["rows"] and sail["quarantine"] and sail["monthly_spend"]
    sources = {r["category_source"] for r in sail["rows"]}
    assert {"override", "rule", "model"} <= sources  # every layer ran on both engines
    assert sail == jvm
