#!/usr/bin/env python3
"""Trains the small real model that `ecocompute quality` is tested on (runs on the GPU host).

A Llama-architecture model of about 4.6 M parameters (hidden 256, 6 layers, 8 heads of 32,
4 KV heads, intermediate 512, tied embeddings, RoPE) with a byte-level BPE tokenizer of 4096
ids trained by the `tokenizers` library, both on the King James Version text of
data/kjv/train.txt.gz (public domain; data/kjv/README.md). Deterministic from --seed: the
tokenizer is trained twice and must come out identical; the model trains a fixed number of
steps with deterministic CUDA algorithms and eager attention, and the checkpoint kept is the
one with the lowest validation loss (data/kjv/valid.txt, evaluated every --eval-every steps).

Writes into --out (default $OUT/trained), nothing else:
  config.json, model.safetensors (float16), tokenizer.json   the Hugging Face model directory
  perplexity.json   transformers' fp16 perplexity of data/kjv/heldout.txt with ecocompute's
                    chunking rule (chunks of ctx tokens, each scored on positions ctx/2 .. ctx-2
                    predicting the next token), for ctx 128 and 512: per-chunk NLL sums, PPL,
                    and the token ids of the text (to check ecocompute's tokenizer against)
  training.json     settings, versions, loss curve, validation curve, timings
  README.md         the same as a short Markdown note (command, curve, held-out perplexity)

Needs torch, transformers and tokenizers; no network. From the repository root:
    python3 tools/gpu/train_small_model.py --out "$OUT/trained"
Takes about 2-3 minutes on an H100/H200.
"""
import argparse
import datetime
import gzip
import hashlib
import json
import math
import os
import platform
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "data", "kjv")
EVAL_CTXS = [128, 512]


def read_text(name):
    path = os.path.join(DATA, name)
    if name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return f.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def chapters(text):
    """The text cut after each chapter's closing blank line: the tokenizer trainer's input."""
    parts = text.split("\n\n")
    out, cur = [], []
    for i, p in enumerate(parts):
        cur.append(p)
        if i % 2 == 1 or i == len(parts) - 1:  # heading, verses -> one chapter
            out.append("\n\n".join(cur) + ("\n\n" if i < len(parts) - 1 else ""))
            cur = []
    assert "".join(out) == text
    return out


def train_tokenizer(texts, vocab_size):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def make_model(args, vocab, torch, transformers):
    config = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=256, intermediate_size=512, num_hidden_layers=6,
        num_attention_heads=8, num_key_value_heads=4, head_dim=32,
        max_position_embeddings=1024, rms_norm_eps=1e-5, rope_theta=10000.0,
        rope_scaling=None, attention_bias=False, mlp_bias=False, tie_word_embeddings=True,
        hidden_act="silu", initializer_range=0.02, bos_token_id=0, eos_token_id=0,
        pad_token_id=None, use_cache=False)
    torch.manual_seed(args.seed)
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    return model.to(torch.float32)


def nll_rows(torch, logits, ids):
    """Negative log-likelihood of ids[1:] under logits[:-1] (float32 log-softmax)."""
    lp = torch.log_softmax(logits.float(), dim=-1)
    return -lp[:-1].gather(1, ids[1:].unsqueeze(1)).squeeze(1)


def eval_loss(model, torch, ids, seq, device):
    """Mean next-token loss over consecutive seq-token windows of ids (every position)."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        for start in range(0, len(ids) - seq, seq):
            x = ids[start:start + seq + 1].to(device)
            logits = model(input_ids=x[None, :-1]).logits[0]
            nll = torch.nn.functional.cross_entropy(logits.float(), x[1:], reduction="sum")
            total += float(nll)
            count += seq
    model.train()
    return total / max(count, 1)


def train(args, model, torch, train_ids, valid_ids, device):
    gen = torch.Generator(device="cpu").manual_seed(args.seed + 1)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    warmup = max(1, args.steps // 20)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        t = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))

    curve, valid_curve = [], []
    best = (float("inf"), -1, None)
    model.train()
    start = time.time()
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        offs = torch.randint(0, len(train_ids) - args.seq - 1, (args.batch,), generator=gen)
        x = torch.stack([train_ids[o:o + args.seq + 1] for o in offs.tolist()]).to(device)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=x[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                                 x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 10 == 0 or step == args.steps - 1:
            curve.append([step, round(float(loss), 4)])
        if (step + 1) % args.eval_every == 0 or step == args.steps - 1:
            vl = eval_loss(model, torch, valid_ids, args.seq, device)
            valid_curve.append([step + 1, round(vl, 4)])
            print(f"step {step + 1}: train loss {float(loss):.3f}, valid loss {vl:.3f} "
                  f"({time.time() - start:.0f} s)", flush=True)
            if vl < best[0]:
                best = (vl, step + 1, {k: v.detach().clone() for k, v in model.state_dict().items()})
    model.load_state_dict(best[2])
    return {"loss_curve": curve, "valid_curve": valid_curve, "best_step": best[1],
            "best_valid_loss": round(best[0], 4), "train_seconds": round(time.time() - start, 1)}


def heldout_perplexity(model_dir, torch, transformers, ids, device):
    """transformers' fp16 model from the saved files, scored with ecocompute's chunking rule."""
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="eager")
    model = model.to(device=device, dtype=torch.float16).eval()
    out = {}
    t = torch.tensor(ids, dtype=torch.long)
    for ctx in EVAL_CTXS:
        first = ctx // 2
        sums = []
        with torch.no_grad():
            for c in range(len(ids) // ctx):
                x = t[c * ctx:(c + 1) * ctx].to(device)
                logits = model(input_ids=x[None]).logits[0]
                nll = nll_rows(torch, logits[first:], x[first:])
                sums.append(float(nll.double().sum()))
        scored = ctx - 1 - first
        n = len(sums) * scored
        out[str(ctx)] = {"chunks": len(sums), "scored_per_chunk": scored,
                         "chunk_nll_sums": sums, "ppl": math.exp(sum(sums) / n) if n else None}
    return out


def write_readme(path, args, record, ppl):
    lines = [
        "# The trained test model",
        "",
        "Made by `tools/gpu/train_small_model.py` (command below) on "
        f"{record['device']}, {record['date']}: a {record['parameters'] / 1e6:.2f} M-parameter "
        "Llama-architecture model and its 4096-id byte-level BPE tokenizer, trained on the King "
        "James Version text of data/kjv/ (public domain; see data/kjv/README.md).",
        "",
        f"    {record['command']}",
        "",
        f"Training: {args.steps} steps of {args.batch} x {args.seq} tokens "
        f"({record['train_tokens']} training tokens), {record['train_seconds']} s; checkpoint "
        f"kept: step {record['best_step']} (lowest validation loss, "
        f"{record['best_valid_loss']} nats/token on data/kjv/valid.txt).",
        "",
        "| step | validation loss (nats/token) |",
        "| --- | --- |",
    ]
    lines += [f"| {s} | {v} |" for s, v in record["valid_curve"]]
    lines += ["", "Held-out perplexity (data/kjv/heldout.txt, transformers fp16, chunks scored "
              "on their second half):", "", "| ctx | chunks | tokens scored | PPL |",
              "| --- | --- | --- | --- |"]
    for ctx, r in ppl.items():
        lines.append(f"| {ctx} | {r['chunks']} | {r['chunks'] * r['scored_per_chunk']} | "
                     f"{r['ppl']:.4f} |")
    lines += ["", "The training loss every 10 steps is in training.json (`loss_curve`)."]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "trained"))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--eval-every", type=int, default=100)
    args = ap.parse_args()

    # Deterministic cuBLAS needs its workspace setting before CUDA starts.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import tokenizers
    import torch
    import transformers
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if not torch.cuda.is_available():
        sys.exit("train_small_model.py: no CUDA device visible (it runs on the GPU host)")
    device = torch.device("cuda")
    t0 = time.time()

    train_text, valid_text, heldout = (read_text(n) for n in
                                       ("train.txt.gz", "valid.txt", "heldout.txt"))
    pieces = chapters(train_text)
    tok = train_tokenizer(pieces, args.vocab)
    again = train_tokenizer(pieces, args.vocab)
    if tok.to_str() != again.to_str():
        sys.exit("train_small_model.py: two tokenizer trainings on the same text differ")
    vocab = tok.get_vocab_size()
    # The whole text in one call, as ecocompute and the perplexity below encode a text.
    train_ids = torch.tensor(tok.encode(train_text).ids, dtype=torch.long)
    valid_ids = torch.tensor(tok.encode(valid_text).ids, dtype=torch.long)
    heldout_ids = tok.encode(heldout).ids
    print(f"tokenizer: {vocab} ids; {len(train_ids)} training, {len(valid_ids)} validation, "
          f"{len(heldout_ids)} held-out tokens ({time.time() - t0:.0f} s)", flush=True)

    model = make_model(args, vocab, torch, transformers).to(device)
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {params / 1e6:.2f} M parameters", flush=True)
    record = train(args, model, torch, train_ids, valid_ids, device)

    os.makedirs(args.out, exist_ok=True)
    model.to(torch.float16).save_pretrained(args.out, safe_serialization=True)
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(args.out, extra)):
            os.remove(os.path.join(args.out, extra))
    tok.save(os.path.join(args.out, "tokenizer.json"))

    ppl = heldout_perplexity(args.out, torch, transformers, heldout_ids, device)
    with open(os.path.join(DATA, "heldout.txt"), "rb") as f:
        text_sha = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(args.out, "perplexity.json"), "w") as f:
        json.dump({"text": "data/kjv/heldout.txt", "text_sha256": text_sha,
                   "dtype": "float16", "attention": "eager", "device": torch.cuda.get_device_name(0),
                   "rule": "chunks of ctx consecutive tokens (remainder dropped); positions "
                           "ctx/2 .. ctx-2 of each predict the next token",
                   "token_count": len(heldout_ids), "token_ids": heldout_ids, "by_ctx": ppl}, f)
        f.write("\n")
    record.update({
        "command": "python3 tools/gpu/train_small_model.py " + " ".join(sys.argv[1:]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "device": torch.cuda.get_device_name(0), "seed": args.seed, "steps": args.steps,
        "batch": args.batch, "seq": args.seq, "lr": args.lr, "vocab": vocab,
        "parameters": params, "train_tokens": len(train_ids), "valid_tokens": len(valid_ids),
        "heldout_tokens": len(heldout_ids), "total_seconds": round(time.time() - t0, 1),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__,
                     "tokenizers": tokenizers.__version__}})
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(record, f)
        f.write("\n")
    write_readme(os.path.join(args.out, "README.md"), args, record, ppl)
    print(json.dumps({k: ppl[k]["ppl"] for k in ppl}), flush=True)
    print(f"wrote {args.out}: {sorted(os.listdir(args.out))} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
