#!/usr/bin/env python3
"""An NVML energy-counter reader independent of ecocompute (ctypes only, no pynvml), and the
summary table of tools/gpu/meter_check.sh.

  nvml_counter.py read                   one reading of every GPU, as JSON
  nvml_counter.py window SECONDS         reading, sleep, reading: prints an NVML_COUNTER line
  nvml_counter.py cpu LABEL -- CMD ARGS  runs CMD; prints a CPU_USE line (CPU s per wall s)
  nvml_counter.py summary DIR            the table of meter_check.sh from the files in DIR

The library is $ECO_NVML_LIBRARY when set (as for ecocompute: the stand-in
tests/nvml_stub/lib/libnvidia-ml.so.1 works here), else libnvidia-ml.so.1. Timestamps are
time.monotonic(), CLOCK_MONOTONIC, the clock of ecocompute's timeline (std::chrono::steady_clock).
"""
import ctypes
import json
import os
import sys
import time

MARK = "NVML_COUNTER "
CPU_MARK = "CPU_USE "


class NvmlError(RuntimeError):
    pass


class Nvml:
    """The few NVML calls needed to read the energy counter of every device."""

    def __init__(self, path=None):
        path = path or os.environ.get("ECO_NVML_LIBRARY") or "libnvidia-ml.so.1"
        try:
            self.lib = ctypes.CDLL(path)
        except OSError as e:
            raise NvmlError(f"cannot load {path}: {e}") from None
        self.lib.nvmlErrorString.restype = ctypes.c_char_p
        self._check("nvmlInit_v2", self.lib.nvmlInit_v2())
        count = ctypes.c_uint(0)
        self._check("nvmlDeviceGetCount_v2", self.lib.nvmlDeviceGetCount_v2(ctypes.byref(count)))
        self.devices = []
        for i in range(count.value):
            handle = ctypes.c_void_p()
            self._check("nvmlDeviceGetHandleByIndex_v2",
                        self.lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(i), ctypes.byref(handle)))
            self.devices.append({"index": i, "handle": handle,
                                 "uuid": self._text("nvmlDeviceGetUUID", handle),
                                 "name": self._text("nvmlDeviceGetName", handle)})

    def _check(self, call, rc):
        if rc != 0:
            message = self.lib.nvmlErrorString(rc)
            raise NvmlError(f"{call}: {message.decode() if message else 'error'} (NVML code {rc})")

    def _text(self, call, handle):
        buf = ctypes.create_string_buffer(96)
        self._check(call, getattr(self.lib, call)(handle, buf, ctypes.c_uint(len(buf))))
        return buf.value.decode(errors="replace")

    def energy_mj(self, handle):
        mj = ctypes.c_ulonglong(0)
        self._check("nvmlDeviceGetTotalEnergyConsumption",
                    self.lib.nvmlDeviceGetTotalEnergyConsumption(handle, ctypes.byref(mj)))
        return mj.value

    def reading(self):
        """Counter of every device (mJ since driver load), each with the midpoint of its read."""
        out = []
        for d in self.devices:
            t0 = time.monotonic()
            mj = self.energy_mj(d["handle"])
            out.append({"index": d["index"], "uuid": d["uuid"], "name": d["name"], "energy_mj": mj,
                        "t": 0.5 * (t0 + time.monotonic())})
        return out

    def close(self):
        self.lib.nvmlShutdown()


def report(start, end, label, extra=None):
    """Prints the NVML_COUNTER line (JSON) that meter_check.sh picks out of a log, and a readable
    line per device."""
    devices = []
    for a, b in zip(start, end):
        joules = (b["energy_mj"] - a["energy_mj"]) / 1000.0
        seconds = b["t"] - a["t"]
        devices.append({"index": a["index"], "uuid": a["uuid"], "name": a["name"], "t0": a["t"],
                        "t1": b["t"], "start_mj": a["energy_mj"], "end_mj": b["energy_mj"],
                        "joules": joules})
        print(f"independent NVML counter, GPU {a['index']} ({a['name']}): {joules:.2f} J over "
              f"{seconds:.3f} s ({joules / seconds if seconds > 0 else float('nan'):.1f} W mean)")
    line = {"label": label, "devices": devices}
    line.update(extra or {})
    print(MARK + json.dumps(line), flush=True)


def find_marked(path, mark):
    with open(path, errors="replace") as f:
        return [json.loads(line[len(mark):]) for line in f if line.startswith(mark)]


def timeline_rows(path, origin):
    """Rows of ecocompute's --timeline CSV with absolute steady-clock times."""
    import csv
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            def num(key):
                return float(r[key]) if r.get(key) not in (None, "") else None
            rows.append({"t": origin + float(r["t_s"]), "device": int(r["device"]),
                         "watts": num("power_w"), "mj": num("energy_counter_mj")})
    return rows


def interpolate(points, t):
    """Linear interpolation of (t, value) points at t; None outside them."""
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        if t0 <= t <= t1:
            return v0 if t1 == t0 else v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return None


def counter_between(rows, device, t0, t1):
    """ecocompute's own counter readings (timeline), interpolated at [t0, t1]: joules."""
    points = [(r["t"], r["mj"]) for r in rows if r["device"] == device and r["mj"] is not None]
    a, b = interpolate(points, t0), interpolate(points, t1)
    return None if a is None or b is None else (b - a) / 1000.0


def pct(x, ref):
    if x is None or ref in (None, 0):
        return "n/a"
    return f"{100.0 * (x - ref) / ref:+.2f} %"


def fmt(x, unit="J", digits=1):
    return "n/a" if x is None else f"{x:.{digits}f} {unit}".rstrip()


def summary(folder):
    """The meter_check.sh table, from measure.json, timeline.csv, measure.log, idle.json,
    info.txt and overhead.log in `folder`; parts whose files are missing are left out."""
    p = lambda name: os.path.join(folder, name)  # noqa: E731
    lines = []
    if os.path.exists(p("info.txt")):
        with open(p("info.txt")) as f:
            info = [s.strip() for s in f if "counter update period" in s or s.startswith("GPU ")]
        lines.append("info: " + "; ".join(info[:4]))
    if os.path.exists(p("measure.json")):
        with open(p("measure.json")) as f:
            m = json.load(f)
        window = m["runs"][0]["window"]
        marked = find_marked(p("measure.log"), MARK) if os.path.exists(p("measure.log")) else []
        independent = {d["uuid"]: d for d in marked[-1]["devices"]} if marked else {}
        rows = timeline_rows(p("timeline.csv"), window["start_s"]) if os.path.exists(p("timeline.csv")) else []
        if not window["gpu_available"]:
            lines.append(f"GPU energy unavailable: {window['gpu_unavailable_reason']}")
        lines.append(f"load: `{' '.join(m['command'])}`, window {window['duration_s']:.2f} s, "
                     f"exit {m['exit_code']}, idle baseline before it "
                     f"{', '.join(fmt(w, 'W') for w in m['idle_power_w']) or 'not measured'}")
        lines.append("")
        lines.append("| GPU | ecocompute counter J | ecocompute timeline J | independent counter J | "
                     "counter vs independent | timeline vs independent | ecocompute counter over "
                     "the load's own interval | vs independent |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for d in window["devices"]:
            ind = independent.get(d["uuid"])
            ref = ind["joules"] if ind else None
            same = counter_between(rows, d["device"], ind["t0"], ind["t1"]) if ind else None
            lines.append(f"| {d['device']} {d['name']} | {fmt(d['counter_j'], '')} | "
                         f"{fmt(d['integrated_j'], '')} | {fmt(ref, '')} | {pct(d['counter_j'], ref)} | "
                         f"{pct(d['integrated_j'], ref)} | {fmt(same, '')} | {pct(same, ref)} |")
        lines.append("")
        for d in window["devices"]:
            flags = [k for k in ("too_short", "disagreement", "fallback_used", "counter_reset",
                                 "incomplete") if d.get(k)]
            lines.append(f"GPU {d['device']}: timeline vs counter {pct(d['integrated_j'], d['counter_j'])}, "
                         f"mean {fmt(d['mean_power_w'], 'W')}, peak {fmt(d['peak_power_w'], 'W')}, "
                         f"net {fmt(d['net_j'])}, {d['samples']} samples, {d['counter_updates']} "
                         f"counter updates, flags: {', '.join(flags) or 'none'}")
        for extra in marked[-1:]:
            if "tflops" in extra:
                lines.append(f"load itself: {extra['tflops']:.1f} TFLOP/s fp16 over {extra['seconds']:.2f} s "
                             f"of matmuls ({extra['size']}x{extra['size']})")
    if os.path.exists(p("idle.json")):
        with open(p("idle.json")) as f:
            w = json.load(f)["runs"][0]["window"]
        for d in w["devices"]:
            lines.append(f"idle after the load (`sleep 5`), GPU {d['device']}: {fmt(d['gross_j'])} over "
                         f"{w['duration_s']:.2f} s = {fmt(d['mean_power_w'], 'W')} mean (counter), "
                         f"timeline {fmt(d['integrated_j'])}")
    if os.path.exists(p("overhead.log")):
        cpu = find_marked(p("overhead.log"), CPU_MARK)
        base = next((c for c in cpu if c["label"] == "1 sample/60 s"), None)
        parts = []
        for c in cpu:
            share = 100.0 * c["cpu_s"] / c["wall_s"]
            extra = ""
            if base and c is not base:
                extra = f" ({100.0 * (c['cpu_s'] - base['cpu_s']) / c['wall_s']:+.2f} % over 1 sample/60 s)"
            parts.append(f"{c['label']} {share:.2f} %{extra}")
        if parts:
            lines.append("ecocompute measure -- sleep 5, process CPU per wall second: " + "; ".join(parts))
        loads = find_marked(p("overhead.log"), MARK)
        if loads:
            lines.append("matmul TFLOP/s: " + "; ".join(f"{x['label']} {x['tflops']:.1f}" for x in loads if "tflops" in x))
    print("\n".join(lines))


def cpu_use(label, cmd):
    """Runs cmd and prints the CPU seconds it and its children used per wall second."""
    import resource
    import subprocess
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    rc = subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(CPU_MARK + json.dumps({"label": label, "cpu_s": cpu, "wall_s": wall, "rc": rc}), flush=True)
    return rc


def main(argv):
    usage = __doc__.split("\n\n")[1]
    if len(argv) < 2:
        sys.exit(usage)
    cmd = argv[1]
    try:
        if cmd == "read" and len(argv) == 2:
            nv = Nvml()
            print(json.dumps(nv.reading(), indent=1))
            nv.close()
        elif cmd == "window" and len(argv) == 3:
            seconds = float(argv[2])
            if not seconds > 0:
                sys.exit(f"window: SECONDS must be positive (got {argv[2]})")
            nv = Nvml()
            start = nv.reading()
            time.sleep(seconds)
            report(start, nv.reading(), f"sleep {seconds:g} s")
            nv.close()
        elif cmd == "cpu" and len(argv) >= 5 and argv[3] == "--":
            sys.exit(cpu_use(argv[2], argv[4:]))
        elif cmd == "summary" and len(argv) == 3:
            summary(argv[2])
        else:
            sys.exit(usage)
    except NvmlError as e:
        sys.exit(f"nvml_counter.py: {e}")
    except ValueError as e:
        sys.exit(f"nvml_counter.py: {e}")


if __name__ == "__main__":
    main(sys.argv)
