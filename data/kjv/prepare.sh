#!/usr/bin/env bash
# Rebuilds the King James Version corpus of this folder from the Debian packages bible-kjv
# (the `bible` reader) and bible-kjv-text (the text), without installing them:
#   data/kjv/prepare.sh
# Writes train.txt.gz (training text), valid.txt (Micah: validation during training) and
# heldout.txt (Ruth, Jonah, James: never seen in training; the default text of
# `ecocompute quality`). One chapter heading per chapter, one verse per line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download bible-kjv bible-kjv-text >/dev/null
for deb in *.deb; do dpkg-deb -x "$deb" root; done
# -l100000: no line wrapping; the range is the whole Bible.
root/usr/bin/bible -p root/usr/lib -l100000 "Gen1:1-Rev22:21" > raw.txt
python3 - raw.txt "$here" <<'PY'
import gzip, re, sys
raw, out = sys.argv[1], sys.argv[2]
chapters, book = [], None
for line in open(raw, encoding="utf-8"):
    line = line.rstrip("\n")
    m = re.fullmatch(r"((?:[1-3] )?[A-Z][A-Za-z ]*?) (\d+)", line)
    if m:
        chapters.append([m.group(1), line, []])
    elif line.strip():
        chapters[-1][2].append(line.strip())
def text(books):
    return "".join(f"{head}\n\n" + "\n".join(verses) + "\n\n"
                   for book, head, verses in chapters if book in books)
heldout, valid = {"Ruth", "Jonah", "James"}, {"Micah"}
all_books = []
for book, _, _ in chapters:
    if book not in all_books:
        all_books.append(book)
assert len(all_books) == 66, len(all_books)
train = [b for b in all_books if b not in heldout | valid]
with open(f"{out}/heldout.txt", "w", encoding="utf-8") as f:
    f.write(text(heldout).rstrip("\n") + "\n")
with open(f"{out}/valid.txt", "w", encoding="utf-8") as f:
    f.write(text(valid).rstrip("\n") + "\n")
with gzip.GzipFile(f"{out}/train.txt.gz", "wb", mtime=0) as f:
    f.write(text(set(train)).encode("utf-8"))
PY
ls -l "$here"
