#!/usr/bin/env python3
"""How the NVML energy counter of GPU 0 updates: the measurements that update-aligned windows
rely on (docs/METHODOLOGY.md, "Update-aligned windows").

  counter_behaviour.py SECONDS_PER_PHASE [--size N]

Polls nvmlDeviceGetTotalEnergyConsumption as fast as ctypes allows (no sleep) for
SECONDS_PER_PHASE idle, then again while fp16 matrix products run on the GPU in a child process
(torch), and reports per phase: the read cost, the interval between value changes (mean, sd,
min, max, percentiles), the increment per update and the power it implies, whether change times
keep a fixed phase (the drift of change times against a fitted period), and the largest gap.
One JSON line (COUNTER_BEHAVIOUR ...) and a readable table are printed.
"""
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nvml_counter  # noqa: E402

MARK = "COUNTER_BEHAVIOUR "

LOAD = r"""
import sys, time, torch
n = int(sys.argv[1]); stop = time.monotonic() + float(sys.argv[2])
a = torch.randn(n, n, device="cuda", dtype=torch.float16); b = torch.randn_like(a)
print("ready", flush=True)
while time.monotonic() < stop:
    for _ in range(8):
        c = a @ b
    torch.cuda.synchronize()
"""


def poll(nvml, handle, seconds):
    """Every value change of the counter: [(t_change, mJ)], plus the number of reads and their
    mean cost. t_change is the midpoint between the last read with the old value and the first
    with the new one, so its error is half a read cost."""
    changes, reads = [], 0
    t_prev = time.monotonic()
    v_prev = nvml.energy_mj(handle)
    start = t_prev
    while True:
        v = nvml.energy_mj(handle)
        t = time.monotonic()
        reads += 1
        if v != v_prev:
            changes.append((0.5 * (t_prev + t), v))
            v_prev = v
        t_prev = t
        if t - start >= seconds:
            return changes, reads, (t - start) / max(reads, 1)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))]


def describe(changes, reads, read_cost):
    out = {"updates": len(changes), "reads": reads, "read_cost_us": read_cost * 1e6}
    if len(changes) < 3:
        return out
    times = [t for t, _ in changes]
    gaps = [b - a for a, b in zip(times, times[1:])]
    incs = [(b - a) for (_, a), (_, b) in zip(changes, changes[1:])]
    # Period by least squares of change time against update index; the residuals are the
    # jitter of change times around a fixed phase.
    n = len(times)
    idx = list(range(n))
    mi, mt = statistics.fmean(idx), statistics.fmean(times)
    period = sum((i - mi) * (t - mt) for i, t in zip(idx, times)) / sum((i - mi) ** 2 for i in idx)
    resid = [t - (mt + period * (i - mi)) for i, t in zip(idx, times)]
    power = [inc / 1000.0 / gap for inc, gap in zip(incs, gaps) if gap > 0]
    out.update({
        "gap_ms": {"mean": statistics.fmean(gaps) * 1e3, "sd": statistics.pstdev(gaps) * 1e3,
                   "min": min(gaps) * 1e3, "p05": pct(gaps, 0.05) * 1e3,
                   "median": pct(gaps, 0.5) * 1e3, "p95": pct(gaps, 0.95) * 1e3,
                   "max": max(gaps) * 1e3},
        "fitted_period_ms": period * 1e3,
        "phase_residual_ms": {"sd": statistics.pstdev(resid) * 1e3,
                              "max_abs": max(abs(r) for r in resid) * 1e3},
        "increment_mj": {"mean": statistics.fmean(incs), "min": min(incs), "max": max(incs)},
        "implied_power_w": {"mean": statistics.fmean(power), "sd": statistics.pstdev(power)},
    })
    return out


def row(label, d):
    if "gap_ms" not in d:
        return f"| {label} | {d['updates']} | - | - | - | - | - | {d['read_cost_us']:.1f} |"
    g, p = d["gap_ms"], d["phase_residual_ms"]
    return (f"| {label} | {d['updates']} | {g['mean']:.2f} ± {g['sd']:.2f} | "
            f"{g['min']:.2f} / {g['median']:.2f} / {g['max']:.2f} | {d['fitted_period_ms']:.3f} | "
            f"{p['sd']:.2f} / {p['max_abs']:.2f} | {d['implied_power_w']['mean']:.1f} | "
            f"{d['read_cost_us']:.1f} |")


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 64
    seconds = float(argv[1])
    size = int(argv[argv.index("--size") + 1]) if "--size" in argv else 8192
    nvml = nvml_counter.Nvml()
    dev = nvml.devices[0]
    result = {"gpu": dev["name"], "uuid": dev["uuid"]}
    result["idle"] = describe(*poll(nvml, dev["handle"], seconds))
    load = subprocess.Popen([sys.executable, "-c", LOAD, str(size), str(seconds + 20)],
                            stdout=subprocess.PIPE, text=True)
    load.stdout.readline()  # "ready": the load runs
    time.sleep(2.0)         # past the ramp-up
    result["load"] = describe(*poll(nvml, dev["handle"], seconds))
    load.terminate()
    load.wait()
    nvml.close()
    print(MARK + json.dumps(result), flush=True)
    print(f"NVML energy counter of {dev['name']}, {seconds:.0f} s per phase")
    print("| phase | updates | interval ms (mean ± sd) | min / median / max ms | fitted period ms "
          "| phase residual ms (sd / max) | implied W | read us |")
    print("|---|---|---|---|---|---|---|---|")
    print(row("idle", result["idle"]))
    print(row("fp16 matmul load", result["load"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
