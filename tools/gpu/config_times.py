#!/usr/bin/env python3
"""Where each configuration's time went, from a study database's stored timestamps.

    python3 tools/gpu/config_times.py STUDY.db [CONFIG_ID ...]

Per configuration (model load excluded: a configuration starts when its engine is ready, except
one that builds its own): the whole time (started_at to finished_at); the time before
stabilisation (setup, the unmetered pass and the window sizing; with the sizing window as
stabilisation's first window, up to that window's start); stabilisation (its event's seconds,
windows and outcome); the measured runs (stabilisation's end to the last gate event), split
into the decode windows, the prefill windows (each run's phase seconds x its k) and the rest
(the waits at the windows' boundaries and storing each run). Prints a Markdown table.
"""
import datetime
import json
import sqlite3
import sys


def stamp(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def rows(db, ids):
    q = ("SELECT c.id, m.source, f.name, c.batch, c.gen_len, c.started_at, c.finished_at, "
         "c.gate_json FROM configurations c JOIN models m ON m.id = c.model_id "
         "JOIN formats f ON f.id = c.format_id WHERE c.started_at IS NOT NULL "
         "AND c.finished_at IS NOT NULL ORDER BY c.id")
    for r in db.execute(q):
        if not ids or r[0] in ids:
            yield r


def breakdown(db, row):
    cid, source, fmt, batch, gen, started, finished, gate_json = row
    gate = json.loads(gate_json) if gate_json else {}
    k_decode = gate.get("k_decode", 1)
    t0, t1 = stamp(started), stamp(finished)
    stab = db.execute("SELECT at, seconds, outcome, details_json FROM protocol_events "
                      "WHERE config_id = ? AND step = 'stabilisation' ORDER BY id", (cid,)).fetchone()
    gates = db.execute("SELECT at FROM protocol_events WHERE config_id = ? AND step = 'gate' "
                       "ORDER BY id", (cid,)).fetchall()
    runs = db.execute("SELECT prefill_seconds, decode_seconds, k FROM runs WHERE config_id = ? "
                      "AND is_warmup = 0", (cid,)).fetchall()
    stab_end = stamp(stab[0]) if stab else t0
    stab_s = stab[1] or 0 if stab else 0
    windows = len(json.loads(stab[3]).get("values", [])) if stab else 0
    runs_end = stamp(gates[-1][0]) if gates else t1
    decode = sum(r[1] * k_decode for r in runs)
    prefill = sum(r[0] * r[2] for r in runs)
    measured = runs_end - stab_end
    n = len(runs)
    return {
        "id": cid, "model": source.split("/")[-1], "format": fmt, "batch": batch, "gen": gen,
        "total": t1 - t0, "before": stab_end - stab_s - t0, "stab": stab_s,
        "stab_windows": windows, "stab_outcome": stab[2] if stab else "-",
        "first": json.loads(stab[3]).get("first_value", "-") if stab else "-",
        "runs": measured, "n": n, "decode": decode, "prefill": prefill,
        "rest_per_run": (measured - decode - prefill) / n if n else float("nan"),
        "k_decode": k_decode, "k_prefill": gate.get("k_prefill", 1),
    }


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    ids = {int(x) for x in sys.argv[2:]}
    print("| id | model | format | batch | gen | total s | before stabilisation s | "
          "stabilisation s (windows, outcome, first value) | runs s (n) | decode windows s | "
          "prefill windows s | waits + storing per run s | k prefill, decode |")
    print("| " + " | ".join(["---"] * 13) + " |")
    for row in rows(db, ids):
        b = breakdown(db, row)
        print(f"| {b['id']} | {b['model']} | {b['format']} | {b['batch']} | {b['gen']} | "
              f"{b['total']:.2f} | {b['before']:.2f} | {b['stab']:.2f} ({b['stab_windows']}, "
              f"{b['stab_outcome']}, {b['first']}) | {b['runs']:.2f} ({b['n']}) | "
              f"{b['decode']:.2f} | {b['prefill']:.2f} | {b['rest_per_run']:.2f} | "
              f"{b['k_prefill']}, {b['k_decode']} |")


if __name__ == "__main__":
    main()
