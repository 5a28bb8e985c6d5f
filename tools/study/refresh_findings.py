#!/usr/bin/env python3
"""Refresh docs/FINDINGS.md's tables from the committed study database, keeping the prose.

FINDINGS.md is hand-written prose around tables that `ecocompute study findings` generates
(the test findings_tables_match_the_committed_study checks them line by line). After a study
call adds configurations, the tables change but the prose does not: this replaces the n-th
table block of FINDINGS.md (consecutive lines starting with '|') by the n-th table block of
the generator's output, and refuses when the two differ in their number of tables (then a
section was added or removed, and the prose needs a person).

Usage: tools/study/refresh_findings.py ECOCOMPUTE_BINARY [FINDINGS.md] [DATABASE]
"""
import subprocess
import sys


def blocks(lines):
    """(start, end) line ranges of the table blocks, in order."""
    out, start = [], None
    for i, line in enumerate(lines + [""]):
        if line.startswith("|"):
            if start is None:
                start = i
        elif start is not None:
            out.append((start, i))
            start = None
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    exe = sys.argv[1]
    doc_path = sys.argv[2] if len(sys.argv) > 2 else "docs/FINDINGS.md"
    db = sys.argv[3] if len(sys.argv) > 3 else "docs/data/eco-2026.db"
    gen = subprocess.run([exe, "study", "findings", "--db", db], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    with open(doc_path, encoding="utf-8") as f:
        doc = f.read().splitlines()
    have, want = blocks(doc), blocks(gen)
    if len(have) != len(want):
        sys.exit(f"{doc_path} has {len(have)} tables, the generator prints {len(want)}: "
                 "a section was added or removed; edit the prose by hand")
    for (hs, he), (ws, we) in reversed(list(zip(have, want))):
        doc[hs:he] = gen[ws:we]
    with open(doc_path, "w", encoding="utf-8") as f:
        f.write("\n".join(doc) + "\n")
    print(f"{doc_path}: {len(have)} tables refreshed from {db}")


if __name__ == "__main__":
    main()
