#!/usr/bin/env python3
"""Decode window energy against its number of repetitions k (tools/gpu/window_length.sh).

Usage: window_length.py DB [DB ...]

Each DB holds configurations measured with decode windows of one length each (a protocol
database and a long-window one of `session.sh steady` work too). Every run that counts
(steady_compare.runs_that_count) gives one window: k repetitions, their seconds and gross joules
(the phases table stores both per repetition). Prints J/token and seconds per window at each k,
then per configuration the least-squares lines window energy = E0 + k x e and window time =
t0 + k x s over its windows: e / tokens is decode J/token without the per-window part, E0 the
joules every window costs beyond its repetitions, t0 the time.
"""
import sqlite3
import statistics
import sys

from steady_compare import configurations, decode_k, runs_that_count


def line(xs, ys):
    mx, my = statistics.mean(xs), statistics.mean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return my - slope * mx, slope


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    windows = {}  # (model, format, batch) -> [(k, joules, seconds, tokens)]
    print("| batch | k | windows | window s | decode J/token gross | CV % |")
    print("| --- | --- | --- | --- | --- | --- |")
    for path in sys.argv[1:]:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        for key, (cid, _) in sorted(configurations(db).items(), key=lambda kv: kv[0][2]):
            kept, _ = runs_that_count(db, cid)
            if not kept:
                continue
            rows = []
            for r in kept:
                k = decode_k(r[10])
                rows.append((k, r[9] * k, r[7] * k, r[8]))
            windows.setdefault(key, []).extend(rows)
            per_token = [j / k / n for k, j, _, n in rows]
            cv = 0.0
            if len(rows) > 1:
                cv = 100 * statistics.stdev(per_token) / statistics.mean(per_token)
            print(
                f"| {key[2]} | {rows[0][0]} | {len(rows)} | "
                f"{statistics.mean(r[2] for r in rows):.3f} | {statistics.mean(per_token):.5g} "
                f"| {cv:.2f} |"
            )
    print()
    for key, rows in windows.items():
        ks = [r[0] for r in rows]
        if len(set(ks)) < 2:
            print(f"batch {key[2]}: windows of one length only, no line")
            continue
        e0, e = line(ks, [r[1] for r in rows])
        t0, s = line(ks, [r[2] for r in rows])
        print(
            f"batch {key[2]}: per repetition {e:.2f} J, {s:.4f} s ({e / rows[0][3]:.5g} J/token, "
            f"{e / s:.1f} W); per window beyond its repetitions {e0:+.2f} J, {1e3 * t0:+.1f} ms"
        )


if __name__ == "__main__":
    main()
