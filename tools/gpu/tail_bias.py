#!/usr/bin/env python3
"""How much the aligned windows' tail rule of the stored protocol runs took off, recomputed.

Usage: tail_bias.py PROTOCOL_DB STEADY_DB [--period-ms 100.0] [--head-ms 4] [--post-w 118]

Reads two databases of `tools/gpu/session.sh steady` (the default protocol, and one long
decode window of the same configuration) measured before commit 0cb781f (from then on the bench
takes the tail from the counter, and adding this correction again would count it twice),
read-only, and recomputes each protocol decode window
under the tail rule that the meter used before (tail energy = tail time x the power reading at
the work's end) against the counter-rate rule (the tail holds the post-work power only).

The stored rows do not keep the tail, so it is reconstructed: an aligned window starts `head`
after a counter change, and the counter changes every `period`, so the tail (from the work's end
to the next change) is period x ceil((head + duration) / period) - head - duration. The power
reading at the end is the window's end boundary sample in the stored power timeline; an H200
refreshes it about every 100 ms, so it still shows the load through the tail. The true power in
the tail is the board's post-load level `post_w` (docs/BENCHMARKS.md, "Energy counter updates":
the counter interval after a load's end reads 112-118 W). The old rule took off
tail x (reading - post_w) too much; this script adds it back and compares with the long window.
Prints one Markdown row per configuration and the same at two other head times and post-load
powers, so the sensitivity shows; then, where a configuration's windows have tails of different
lengths, how J/token moves with the tail (least squares, run order held), stored and recomputed:
the old rule predicts about -(reading - post_w) x 10 ms / tokens per 10 ms of tail, the new none.
Recomputed from stored data: not a measurement.
"""
import argparse
import math
import statistics

from steady_compare import configurations, decode_k, open_read_only, runs_that_count


def add_tail_assumptions(ap):
    """The reconstruction's assumptions, as options (tools/study/tail_recompute.py uses them too)."""
    ap.add_argument("--period-ms", type=float, default=100.0)
    ap.add_argument("--head-ms", type=float, default=4.0)
    ap.add_argument("--post-w", type=float, default=118.0)


def end_reading(db, run_id, duration):
    """Power at the decode window's end: the boundary sample `duration` after the start one."""
    ts = db.execute(
        "SELECT t, watts FROM power_timeline WHERE run_id = ? AND device = 0 ORDER BY t", (run_id,)
    ).fetchall()
    best = None
    for i, (t0, _) in enumerate(ts):
        for t1, w1 in ts[i + 1 :]:
            gap = abs(t1 - t0 - duration)
            if best is None or gap < best[0]:
                best = (gap, w1)
    return best[1] if best and best[0] < 0.002 else math.nan


def tail_s(duration, period, head):
    return period * math.ceil((head + duration) / period) - head - duration


def protocol_windows(db, config_id):
    kept, _ = runs_that_count(db, config_id)
    out = []
    for r in kept:
        k = decode_k(r[10])
        duration = r[7] * k  # phases store per-repetition seconds and energy
        out.append((r[0], k, duration, r[9] * k, r[8]))
    return out


def per_token(windows, db, period, head, post_w):
    stored, fixed, added = [], [], []
    for run_id, k, duration, gross, tokens in windows:
        reading = end_reading(db, run_id, duration)
        extra = tail_s(duration, period, head) * (reading - post_w)
        stored.append(gross / k / tokens)
        fixed.append((gross + extra) / k / tokens)
        added.append(extra)
    return statistics.mean(stored), statistics.mean(fixed), statistics.mean(added)


def tail_effect(xs, ys):
    """Least squares y = a + b * run order + c * tail; returns (c, its standard error)."""
    rows = [(1.0, float(i), x) for i, x in enumerate(xs)]
    n = len(rows)
    xtx = [[sum(r[i] * r[j] for r in rows) for j in range(3)] for i in range(3)]
    xty = [sum(r[i] * y for r, y in zip(rows, ys)) for i in range(3)]

    def solve(m, v):
        a = [row[:] + [x] for row, x in zip(m, v)]
        for c in range(3):
            p = max(range(c, 3), key=lambda r: abs(a[r][c]))
            a[c], a[p] = a[p], a[c]
            for r in range(3):
                if r != c:
                    f = a[r][c] / a[c][c]
                    a[r] = [x - f * y for x, y in zip(a[r], a[c])]
        return [a[i][3] / a[i][i] for i in range(3)]

    beta = solve(xtx, xty)
    resid = [y - sum(b * x for b, x in zip(beta, r)) for r, y in zip(rows, ys)]
    s2 = sum(e * e for e in resid) / (n - 3)
    return beta[2], math.sqrt(solve(xtx, [0.0, 0.0, 1.0])[2] * s2)


def print_tail_effect(batch, windows, db, period, head, post_w):
    tails = [tail_s(w[2], period, head) for w in windows]
    if len(windows) < 5 or max(tails) - min(tails) < 0.005:
        return
    stored = [w[3] / w[1] / w[4] for w in windows]
    fixed = [
        (w[3] + t * (end_reading(db, w[0], w[2]) - post_w)) / w[1] / w[4]
        for w, t in zip(windows, tails)
    ]
    ms = [1e3 * t for t in tails]
    for name, ys in (("stored", stored), ("recomputed", fixed)):
        c, se = tail_effect(ms, ys)
        print(
            f"batch {batch}, {name}: J/token per 10 ms more tail (run order held): "
            f"{10 * c:+.4f} +- {10 * se:.4f} (mean {statistics.mean(ys):.4f}; tails "
            f"{min(ms):.0f}-{max(ms):.0f} ms)"
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("protocol_db")
    ap.add_argument("steady_db")
    add_tail_assumptions(ap)
    a = ap.parse_args()
    proto, steady = open_read_only(a.protocol_db), open_read_only(a.steady_db)
    a_cfg, b_cfg = configurations(proto), configurations(steady)
    print(
        "| batch | decode window s | tail ms (reconstructed) | reading at end W | J taken off too "
        "much per window | protocol J/token stored | recomputed | long window | stored vs long % "
        "| recomputed vs long % | recomputed vs long %, head 2 / 6 ms | post-load 90 / 170 W |"
    )
    print("|" + " --- |" * 12)
    period = a.period_ms / 1000
    effects = []
    for key in sorted(a_cfg, key=lambda k: k[2]):
        if key not in b_cfg:
            continue
        windows = protocol_windows(proto, a_cfg[key][0])
        long_runs = protocol_windows(steady, b_cfg[key][0])
        if not windows or len(long_runs) != 1:
            continue
        _, lk, _, lgross, ltokens = long_runs[0]
        long_jpt = lgross / lk / ltokens
        head = a.head_ms / 1000
        stored, fixed, added = per_token(windows, proto, period, head, a.post_w)
        dur = statistics.mean(w[2] for w in windows)
        reading = statistics.mean(end_reading(proto, w[0], w[2]) for w in windows)
        tails = statistics.mean(tail_s(w[2], period, head) for w in windows)

        def vs_long(head_s, post_w):
            return 100 * (long_jpt / per_token(windows, proto, period, head_s, post_w)[1] - 1)

        print(
            f"| {key[2]} | {dur:.4f} | {1e3 * tails:.1f} | {reading:.0f} | {added:.1f} | "
            f"{stored:.5g} | {fixed:.5g} | {long_jpt:.5g} | {100 * (long_jpt / stored - 1):+.2f} | "
            f"{100 * (long_jpt / fixed - 1):+.2f} | {vs_long(0.002, a.post_w):+.2f} / "
            f"{vs_long(0.006, a.post_w):+.2f} | {vs_long(head, 90):+.2f} / "
            f"{vs_long(head, 170):+.2f} |"
        )
        effects.append((key[2], windows))
    for batch, windows in effects:
        print_tail_effect(batch, windows, proto, period, head, a.post_w)


if __name__ == "__main__":
    main()
