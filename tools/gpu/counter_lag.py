#!/usr/bin/env python3
"""When does the NVML energy counter show the energy of a load? Measures the lag between the
power a GPU draws and the counter value that includes it, which update-aligned windows must know
(docs/METHODOLOGY.md, "Update-aligned windows").

  counter_lag.py [TRIALS]      (GPU host: torch with CUDA; prints a summary and JSON lines)

A thread reads the energy counter of GPU 0 back to back for the whole experiment (each NVML read
takes a few ms); every change of value is an edge, timed at the middle of the two reads around
it. Each trial: the GPU idles 1 s, then a load of fp16 matmuls (about 300 ms) starts at a chosen
offset after an edge. Under the model "the value published at an edge e is the energy up to
e - lag", the increment of every counter interval near the load's start is
P_idle x (idle part) + P_load x (load part), with both powers measured from intervals away from
the start; the lag that best predicts the increments of the intervals around the start is the
trial's estimate. The offsets sweep the counter period so that every split is seen. The
intervals after the load's end show how long the power takes to fall back (the tail an aligned
window removes): printed as watts per interval.
"""
import json
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nvml_counter import Nvml  # noqa: E402

import torch  # noqa: E402

LOAD_S = 0.3


class Poller(threading.Thread):
    """Reads the counter back to back; keeps (t_before, t_after, value_mj) of every read."""

    def __init__(self, nvml, handle):
        super().__init__(daemon=True)
        self.nvml, self.handle = nvml, handle
        self.reads, self.stop = [], False

    def run(self):
        while not self.stop:
            t0 = time.monotonic()
            v = self.nvml.energy_mj(self.handle)
            self.reads.append((t0, time.monotonic(), v))

    def edges(self):
        """(t, half_width, value_mj) of every change of value."""
        out = []
        for (a0, _, va), (_, b1, vb) in zip(self.reads, self.reads[1:]):
            if vb != va:
                out.append((0.5 * (a0 + b1), 0.5 * (b1 - a0), vb))
        return out


def calibrate(a, b):
    for _ in range(3):
        torch.matmul(a, b)
    torch.cuda.synchronize()
    t = time.monotonic()
    for _ in range(20):
        torch.matmul(a, b)
    torch.cuda.synchronize()
    return max(1, int(LOAD_S / ((time.monotonic() - t) / 20)))


def predicted(intervals, lag, ts, te, p_idle, p_load):
    """Increments (J) of the intervals under the lag model, with a square power step."""
    out = []
    for (e0, e1) in intervals:
        a, b = e0 - lag, e1 - lag
        on = max(0.0, min(b, te) - max(a, ts))
        out.append(p_idle * (b - a - on) + p_load * on)
    return out


def fit_trial(edges, ts, te):
    iv = [(edges[i - 1][0], edges[i][0], (edges[i][2] - edges[i - 1][2]) / 1000.0)
          for i in range(1, len(edges))]
    idle = [j / (e1 - e0) for (e0, e1, j) in iv if e1 < ts - 0.15 and e0 > ts - 0.9]
    load = [j / (e1 - e0) for (e0, e1, j) in iv if e0 > ts + 0.15 and e1 < te - 0.02]
    if len(idle) < 2 or not load:
        return None
    p_idle, p_load = statistics.median(idle), statistics.median(load)
    near = [(e0, e1, j) for (e0, e1, j) in iv if e1 > ts - 0.1 and e0 < ts + 0.2]
    best = None
    for lag_ms in range(-60, 201):
        lag = lag_ms / 1000.0
        pred = predicted([(e0, e1) for (e0, e1, _) in near], lag, ts, te, p_idle, p_load)
        err = sum((p - j) ** 2 for p, (_, _, j) in zip(pred, near))
        if best is None or err < best[0]:
            best = (err, lag_ms)
    after = [(round(1000 * (e1 - te)), round(j / (e1 - e0), 1)) for (e0, e1, j) in iv
             if e1 > te - 0.05 and e0 < te + 0.6]
    return {"lag_ms": best[1], "rms_j": (best[0] / len(near)) ** 0.5, "p_idle_w": p_idle,
            "p_load_w": p_load, "after_end_ms_w": after}


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 14
    nvml = Nvml()
    handle = nvml.devices[0]["handle"]
    a = torch.randn(8192, 8192, dtype=torch.float16, device="cuda")
    b = torch.randn(8192, 8192, dtype=torch.float16, device="cuda")
    n = calibrate(a, b)
    poller = Poller(nvml, handle)
    poller.start()
    results = []
    for i in range(trials):
        time.sleep(1.0)
        last = poller.edges()[-1][0]
        offset = (i % 7) * 0.014 + 0.003
        start_at = last + 0.1 * (int((time.monotonic() - last) / 0.1) + 1) + offset
        time.sleep(max(0.0, start_at - time.monotonic() - 0.002))
        while time.monotonic() < start_at:
            pass
        ts = time.monotonic()
        for _ in range(n):
            torch.matmul(a, b)
        torch.cuda.synchronize()
        te = time.monotonic()
        time.sleep(0.7)
        r = fit_trial(poller.edges(), ts, te)
        if r:
            r.update({"trial": i, "offset_ms": round(offset * 1000, 1), "load_s": te - ts})
            results.append(r)
            print("COUNTER_LAG " + json.dumps(r), flush=True)
    poller.stop = True
    poller.join()
    reads = poller.reads
    read_ms = statistics.median([(t1 - t0) * 1000 for (t0, t1, _) in reads])
    lags = [r["lag_ms"] for r in results]
    print(f"\n{torch.cuda.get_device_name(0)}: {len(results)} trials, counter read {read_ms:.2f} ms")
    if lags:
        print(f"lag of the counter behind the power: median {statistics.median(lags)} ms, "
              f"min {min(lags)}, max {max(lags)} (ms; each trial's best fit, 1 ms grid)")
        print("fit residual per interval, median: "
              f"{statistics.median(r['rms_j'] for r in results):.2f} J")
        print("power after the load's end (ms after end: W), first trial: "
              f"{results[0]['after_end_ms_w']}")


if __name__ == "__main__":
    main()
