"""Benchmark: what GX's result format costs per audit of a small batch (the nightly's common
case: a day's staged rows of a few people, validated with GX's pandas engine).

    .venv/bin/python -m bench.gx_result_format [--rows 50] [--repeat 15]

For every suite in quality/suites, a batch of ``rows`` valid-looking rows (every column the
suite names) is validated ``repeat`` times with each result format, side by side in one run,
alternating so that machine noise falls on both. finlake validates with ``BASIC`` (counts,
observed values and a sample of unexpected values: what its reports show); GX's default is
``SUMMARY`` (which also counts and indexes the sample).
"""

from __future__ import annotations

import argparse
import statistics
import time

FORMATS = ("SUMMARY", "BASIC")


def _frame(spec: dict, rows: int):  # noqa: ANN202 - pandas is imported lazily
    import pandas as pd

    cols: set[str] = set()
    for e in spec["expectations"]:
        kw = e["kwargs"]
        cols.update([kw["column"]] if "column" in kw else [])
        cols.update(kw.get("column_list") or [])
    return pd.DataFrame({c: [f"v{i}" for i in range(rows)] for c in sorted(cols)})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=50)
    p.add_argument("--repeat", type=int, default=15)
    args = p.parse_args(argv)
    from quality.validation import SUITES_DIR, _gx_suite, load_suite

    per: dict[str, list[float]] = {f: [] for f in FORMATS}
    print(f"{'suite':28} " + " ".join(f"{f + ' ms':>12}" for f in FORMATS) + "  ratio")
    for path in sorted(SUITES_DIR.glob("*.json")):
        spec = load_suite(path.stem)
        if not spec["expectations"]:
            continue
        df = _frame(spec, args.rows)
        batch_def, suite = _gx_suite(path.stem, "pandas")
        batch_def.get_batch(batch_parameters={"dataframe": df}).validate(suite)  # warm
        times: dict[str, list[float]] = {f: [] for f in FORMATS}
        for _ in range(args.repeat):
            for fmt in FORMATS:
                t0 = time.perf_counter()
                batch_def.get_batch(batch_parameters={"dataframe": df}).validate(
                    suite, result_format=fmt)
                times[fmt].append(time.perf_counter() - t0)
        med = {f: statistics.median(v) for f, v in times.items()}
        for f in FORMATS:
            per[f].append(med[f])
        print(f"{path.stem:28} " + " ".join(f"{med[f] * 1000:12.0f}" for f in FORMATS)
              + f"  {med['BASIC'] / med['SUMMARY']:.2f}", flush=True)
    total = {f: sum(v) for f, v in per.items()}
    print(f"{'all suites, one audit each':28} "
          + " ".join(f"{total[f] * 1000:12.0f}" for f in FORMATS)
          + f"  {total['BASIC'] / total['SUMMARY']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
