#!/usr/bin/env python3
"""The study's batch-1 energy ratios against fp16, recomputed under the counter-rate tail rule.

Usage: tail_recompute.py STUDY_DB [--period-ms 100] [--head-ms 4] [--post-w 118]

The committed study (docs/data/eco-2026.db) was measured before the meter took an aligned
window's tail from the counter (commit 0cb781f): its tail came off at the NVML power reading at
the work's end, which an H200 refreshes about every 100 ms, so each decode window lost
tail x (reading - post-load power) joules, a share that depends on the window's duration modulo
the counter period and so differs from one configuration to the next. This adds that energy back
to every counted decode window (tools/gpu/tail_bias.py reconstructs the tail and finds the
reading; see its docstring for the assumptions) and prints, per model and format at batch 1, the
gross decode J/token ratio to the same model's fp16, stored and recomputed. Recomputed from
stored data: not a measurement.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "gpu"))
from steady_compare import open_read_only  # noqa: E402
from tail_bias import add_tail_assumptions, per_token, protocol_windows  # noqa: E402


def batch1_configurations(db):
    return db.execute(
        "SELECT c.id, m.source, f.name, f.params_json FROM configurations c "
        "JOIN formats f ON f.id = c.format_id JOIN models m ON m.id = c.model_id "
        "WHERE c.status = 'done' AND c.batch = 1 ORDER BY m.id, f.id"
    ).fetchall()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("study_db")
    add_tail_assumptions(ap)
    a = ap.parse_args()
    db = open_read_only(a.study_db)
    rows = {}
    for cid, model, fmt, params in batch1_configurations(db):
        windows = protocol_windows(db, cid)
        if windows:
            stored, fixed, added = per_token(windows, db, a.period_ms / 1000, a.head_ms / 1000,
                                             a.post_w)
            rows[(model, fmt, params)] = (stored, fixed, added / windows[0][4])
    print("| model | format | gross J/token stored | recomputed | change % | ratio to fp16 "
          "stored | recomputed | ratio moves (points) |")
    print("|" + " --- |" * 8)
    for (model, fmt, params), (stored, fixed, _) in rows.items():
        base = rows.get((model, "fp16", "{}"))
        label = fmt if params == "{}" else f"{fmt} {params}"
        change = 100 * (fixed - stored) / stored
        if not base or (fmt, params) == ("fp16", "{}"):
            print(f"| {model} | {label} | {stored:.4g} | {fixed:.4g} | {change:+.2f} | | | |")
            continue
        r0, r1 = stored / base[0], fixed / base[1]
        print(f"| {model} | {label} | {stored:.4g} | {fixed:.4g} | {change:+.2f} | {r0:.3f} | "
              f"{r1:.3f} | {100 * (r1 - r0):+.1f} |")


if __name__ == "__main__":
    main()
