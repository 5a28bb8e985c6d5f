#!/usr/bin/env python3
"""Summary of tools/gpu/profile_decode.sh: one table per batch size, one row per kernel
(name with template arguments): launches, mean device time, share of the profiled time, DRAM
throughput (% of peak and GB/s), achieved occupancy, grid size, and the three largest warp stall
reasons (warps stalled per issued instruction). Below each table: the kernels' summed time per
decode step, estimated from the profiled layers, against the step time measured without ncu.

  ncu_summary.py DIR     reads DIR/ncu_b<B>.csv (ncu --page raw --csv) and DIR/step_b<B>.log
"""
import csv
import glob
import json
import os
import re
import sys

STALL = re.compile(r"smsp__average_warps_issue_stalled_(\w+)_per_issue_active\.ratio$")


def num(s):
    try:
        return float(str(s).replace(",", ""))
    except ValueError:
        return None


def rows(path):
    lines = [l for l in open(path, errors="replace") if l.startswith('"')]
    out = []
    for r in csv.DictReader(lines):
        if num(r.get("ID")) is None:  # the units row
            continue
        out.append(r)
    return out


def kernel_name(r):
    name = r.get("Kernel Name", "?")
    base = name.split("(")[0]
    return base[:60]


def summarise(rs):
    per = {}
    for r in rs:
        k = per.setdefault(kernel_name(r), {"n": 0, "us": 0.0, "dram_pct": 0.0, "bytes": 0.0,
                                             "occ": 0.0, "grid": r.get("launch__grid_size", "?"),
                                             "stalls": {}})
        k["n"] += 1
        t = num(r.get("gpu__time_duration.sum")) or 0.0
        unit_scale = 1e-3  # ns -> us
        k["us"] += t * unit_scale
        k["dram_pct"] += num(r.get("dram__throughput.avg.pct_of_peak_sustained_elapsed")) or 0.0
        k["bytes"] += num(r.get("dram__bytes_read.sum")) or 0.0
        k["occ"] += num(r.get("sm__warps_active.avg.pct_of_peak_sustained_active")) or 0.0
        for col, v in r.items():
            m = STALL.match(col or "")
            if m and num(v) is not None:
                k["stalls"][m.group(1)] = k["stalls"].get(m.group(1), 0.0) + num(v)
    return per


def step_ms(path):
    try:
        for line in open(path, errors="replace"):
            if line.startswith("RESULT "):
                return json.loads(line[7:]).get("step_ms")
    except OSError:
        pass
    return None


def main(folder):
    for path in sorted(glob.glob(os.path.join(folder, "ncu_b*.csv")),
                       key=lambda p: int(re.search(r"_b(\d+)", p).group(1))):
        b = int(re.search(r"_b(\d+)", path).group(1))
        rs = rows(path)
        if not rs:
            print(f"\nbatch {b}: no kernels profiled (see ncu_b{b}.err)")
            continue
        per = summarise(rs)
        total = sum(k["us"] for k in per.values())
        print(f"\n### batch {b}: {len(rs)} kernels profiled, {total:.0f} us")
        print("| kernel | launches | us each | share | DRAM % peak | GB/s | occupancy % | grid "
              "| top stalls (warps per issue) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, k in sorted(per.items(), key=lambda x: -x[1]["us"]):
            n = k["n"]
            stalls = sorted(k["stalls"].items(), key=lambda x: -x[1])[:3]
            st = ", ".join(f"{s} {v / n:.1f}" for s, v in stalls)
            gbs = k["bytes"] / (k["us"] * 1e3) if k["us"] else 0
            print(f"| {name} | {n} | {k['us'] / n:.1f} | {100 * k['us'] / total:.1f} % | "
                  f"{k['dram_pct'] / n:.1f} | {gbs:.0f} | {k['occ'] / n:.1f} | {k['grid']} | {st} |")
        real = step_ms(os.path.join(folder, f"step_b{b}.log"))
        if real:
            print(f"\ndecode step measured without ncu: {real:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
