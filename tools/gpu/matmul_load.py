#!/usr/bin/env python3
"""A known GPU load for tools/gpu/meter_check.sh: fp16 matrix products on cuda:0 for SECONDS,
with its own NVML energy-counter reading (tools/gpu/nvml_counter.py: ctypes, no pynvml) taken
first thing at start, before torch is imported, and last thing at the end, after the GPU has
finished, after which it exits at once. The difference is the independent reading that
`ecocompute measure` is compared with.

  matmul_load.py SECONDS [--size N] [--label TEXT]

Prints the NVML_COUNTER line (with the matmul phase's TFLOP/s) and a readable summary.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nvml_counter  # noqa: E402


def parse(argv):
    usage = __doc__.split("\n\n")[1].strip()
    args = {"seconds": None, "size": 8192, "label": "matmul"}
    rest = list(argv[1:])
    while rest:
        a = rest.pop(0)
        if a in ("--size", "--label") and rest:
            args[a[2:]] = rest.pop(0)
        elif args["seconds"] is None and not a.startswith("--"):
            args["seconds"] = a
        else:
            sys.exit(f"matmul_load.py: unexpected argument '{a}'\n{usage}")
    try:
        seconds, size = float(args["seconds"]), int(args["size"])
    except (TypeError, ValueError):
        sys.exit(f"matmul_load.py: SECONDS must be a number and --size an integer\n{usage}")
    if not (seconds > 0 and size > 0):
        sys.exit(f"matmul_load.py: SECONDS and --size must be positive\n{usage}")
    return seconds, size, args["label"]


def main():
    seconds, n, label = parse(sys.argv)
    try:
        nv = nvml_counter.Nvml()
    except nvml_counter.NvmlError as e:
        sys.exit(f"matmul_load.py: {e}")
    start = nv.reading()

    try:
        import torch
    except ImportError as e:
        sys.exit(f"matmul_load.py: needs PyTorch with CUDA ({e})")
    if not torch.cuda.is_available():
        sys.exit("matmul_load.py: torch.cuda.is_available() is False (no GPU visible to PyTorch)")
    dev = torch.device("cuda:0")
    gen = torch.Generator(device=dev).manual_seed(0)
    a = torch.randn(n, n, device=dev, dtype=torch.float16, generator=gen)
    b = torch.randn(n, n, device=dev, dtype=torch.float16, generator=gen)
    c = torch.empty(n, n, device=dev, dtype=torch.float16)
    torch.matmul(a, b, out=c)
    torch.cuda.synchronize()

    # Batches of matmuls between host checks of the clock, so the GPU never waits on Python.
    batch, done = 8, 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        for _ in range(batch):
            torch.matmul(a, b, out=c)
        torch.cuda.synchronize()
        done += batch
    elapsed = time.monotonic() - t0
    tflops = 2.0 * n ** 3 * done / elapsed / 1e12
    print(f"matmul_load: {done} fp16 {n}x{n} matmuls in {elapsed:.3f} s = {tflops:.1f} TFLOP/s "
          f"on {torch.cuda.get_device_name(dev)}", flush=True)

    end = nv.reading()
    nvml_counter.report(start, end, label,
                        {"tflops": tflops, "seconds": elapsed, "size": n, "matmuls": done})
    # Leave at once: the interpreter's and PyTorch's tear-down would otherwise lengthen the tail
    # that `ecocompute measure` meters after the last independent reading.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
