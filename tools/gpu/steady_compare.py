#!/usr/bin/env python3
"""Decode J/token of the default bench protocol against one long steady-state decode window.

Usage: steady_compare.py PROTOCOL_DB STEADY_DB

PROTOCOL_DB: `ecocompute bench` with the default protocol; STEADY_DB: the same configurations
with one measured run whose decode window lasts at least decode_window_s (tools/gpu/session.sh
part `steady`). Prints one Markdown row per configuration found in both: the protocol's
decode J/token over the runs that count (warm-ups, earlier rounds and runs flagged unsettled or
outlier-rejected left out) with its CV, the long window's, and their difference in percent.
Gross J/token is compared (the long-window call measures no idle baseline of its own: one taken
right after the protocol's runs would be a warm card's); net J/token subtracts the protocol
call's own idle baseline from both.
"""
import sqlite3
import statistics
import sys

SET_ASIDE = {"unsettled", "outlier-rejected"}


def decode_k(phase_flags):
    for f in phase_flags.split(","):
        if f.startswith("k="):
            return int(f[2:])
    return 1


def runs_that_count(db, config_id):
    rows = db.execute(
        "SELECT r.id, r.round, r.is_warmup, r.flags, r.idle_power_w, r.temp_start_c, r.temp_end_c, "
        "p.seconds, p.tokens, p.gross_energy_j, p.flags FROM runs r JOIN phases p "
        "ON p.run_id = r.id AND p.name = 'decode' WHERE r.config_id = ? ORDER BY r.round, r.idx",
        (config_id,),
    ).fetchall()
    measured = [r for r in rows if not r[2]]
    if not measured:
        return [], 0
    last = max(r[1] for r in measured)
    in_last = [r for r in measured if r[1] == last]
    kept = [r for r in in_last if not SET_ASIDE & set(r[3].split(","))]
    return kept, len(in_last) - len(kept)


def open_read_only(path):
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def configurations(db):
    out = {}
    for cid, batch, fmt, model, gate in db.execute(
        "SELECT c.id, c.batch, f.name, m.source, c.gate FROM configurations c "
        "JOIN formats f ON f.id = c.format_id JOIN models m ON m.id = c.model_id "
        "WHERE c.status = 'done'"
    ):
        out[(model, fmt, batch)] = (cid, gate or "")
    return out


def pct(a, b):
    return 100.0 * (b - a) / a


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    proto, steady = open_read_only(sys.argv[1]), open_read_only(sys.argv[2])
    a_cfg, b_cfg = configurations(proto), configurations(steady)
    print(
        "| model | format | batch | protocol n (set aside) | gate | protocol decode J/token gross "
        "| CV % (net) | long window s | long-window decode J/token gross | difference % gross "
        "| protocol net | long-window net (same baseline) | difference % net | long window temp C |"
    )
    print("|" + " --- |" * 14)
    for key in sorted(a_cfg, key=lambda k: (k[0], k[1], k[2])):
        if key not in b_cfg:
            continue
        kept, aside = runs_that_count(proto, a_cfg[key][0])
        long_runs, _ = runs_that_count(steady, b_cfg[key][0])
        if not kept or len(long_runs) != 1:
            print(f"| {key[0]} | {key[1]} | {key[2]} | no comparable runs |")
            continue
        idle = kept[0][4]
        gross = [r[9] / r[8] for r in kept]
        net = [(r[9] - idle * r[7]) / r[8] for r in kept] if idle is not None else []
        cv = 100.0 * statistics.stdev(net) / statistics.mean(net) if len(net) > 1 else float("nan")
        lr = long_runs[0]
        window_s = lr[7] * decode_k(lr[10])
        long_gross = lr[9] / lr[8]
        a_gross = statistics.mean(gross)
        row = [
            key[0], key[1], key[2], f"{len(kept)} ({aside})", a_cfg[key][1], f"{a_gross:.5g}",
            f"{cv:.2f}", f"{window_s:.1f}", f"{long_gross:.5g}", f"{pct(a_gross, long_gross):+.2f}",
        ]
        if net:
            long_net = (lr[9] - idle * lr[7]) / lr[8]
            a_net = statistics.mean(net)
            row += [f"{a_net:.5g}", f"{long_net:.5g}", f"{pct(a_net, long_net):+.2f}"]
        else:
            row += ["no baseline"] * 3
        row.append(f"{lr[5]:.0f} -> {lr[6]:.0f}" if lr[5] is not None and lr[6] is not None else "")
        print("| " + " | ".join(str(x) for x in row) + " |")


if __name__ == "__main__":
    main()
