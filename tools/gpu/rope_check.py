#!/usr/bin/env python3
"""ecocompute against Hugging Face transformers for every supported model_type and RoPE type, on
ragged batches (runs on the GPU host; tools/gpu/rope_check.sh calls it).

For each architecture and RoPE variant of tools/fixtures/make_fixtures.py (llama, mistral, qwen2,
phi3, qwen3; linear, dynamic, llama3, yarn, longrope, a transformers-4-style config) it builds the
same tiny random model with transformers' own classes, saves it with save_pretrained, and runs
one batch of prompts of different lengths (3, 8 and 13 tokens; llama-dynamic and
phi3-longrope-crossing switch tables at 16 positions, inside the 13 + NEW positions generated;
phi3-longrope's original context is 4, so the batch's longest prompt puts every row, the 3-token
one included, on the long factors from the prefill on):

  reference  transformers, fp32, eager attention, left-padded batch, model.generate (greedy,
             no EOS), with the top-1 / top-2 margin of every step. For phi3-longrope-crossing
             the same greedy loop through the model's forward with its KV cache instead: Phi-3's
             generate drops the cache once where the longest sequence first exceeds the original
             context and recomputes everything with the long factors, which the engines do not
             (docs/ROPE.md); the step where generate parts from that loop is printed beside it
  cpu        `ecocompute generate --device cpu --format native` (fp32): tokens must be identical
  cuda       `ecocompute generate --device cuda --format fp16`: tokens must be identical up to a
             step where the reference's two best logits are closer than fp16 can separate
             (margin < 2e-2 of max(1, |top logit|)); from there the sequences may differ

Prints one JSON object per check and a Markdown table; exit status 1 when a check fails.
  python3 tools/gpu/rope_check.py --ecocompute gpu-carry/ecocompute --work /tmp/rope-check
"""
import argparse
import copy
import importlib.util
import json
import os
import random
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LENGTHS = [3, 8, 13]
NEAR_TIE = 2e-2  # fp16 engine against the fp32 reference
EXACT_TIE = 1e-4  # fp32 engine: only a true tie may part the sequences


def load_fixture_module():
    path = os.path.join(ROOT, "tools", "fixtures", "make_fixtures.py")
    spec = importlib.util.spec_from_file_location("make_fixtures", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def reference(model, torch, transformers, prompts, new_tokens, device):
    """Left-padded batch through model.generate; tokens and per-step margins per sequence."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    # No EOS (ecocompute generate does not stop either) and nothing else that alters logits;
    # set on the model too, since transformers fills unset fields from model.generation_config.
    gen = transformers.GenerationConfig(
        do_sample=False, num_beams=1, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
        eos_token_id=None, pad_token_id=0, bos_token_id=None, repetition_penalty=1.0,
        temperature=None, top_k=None, top_p=None, output_scores=True,
        return_dict_in_generate=True)
    model.generation_config = gen
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, generation_config=gen)
    tokens = out.sequences[:, width:].tolist()
    margins = [[0.0] * new_tokens for _ in prompts]
    for step, scores in enumerate(out.scores):
        top = torch.topk(scores.float(), 2, dim=-1).values
        for b in range(len(prompts)):
            t1, t2 = float(top[b, 0]), float(top[b, 1])
            margins[b][step] = (t1 - t2) / max(1.0, abs(t1))
    return tokens, margins


def cached_reference(model, torch, prompts, new_tokens, device):
    """The greedy loop of model.generate without its prepare_inputs_for_generation: left-padded
    batch, one token per forward pass through the KV cache, position ids as generate makes them.
    Each forward pass takes its RoPE table from its own longest position (transformers'
    dynamic_rope_update) and cached keys keep the rotation they were written with."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    tokens = [[] for _ in prompts]
    margins = [[] for _ in prompts]
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
        for _ in range(new_tokens):
            scores = out.logits[:, -1].float()
            top = torch.topk(scores, 2, dim=-1).values
            nxt = torch.argmax(scores, dim=-1)  # first maximum = lowest id, as generate
            for b in range(len(prompts)):
                tokens[b].append(int(nxt[b]))
                t1, t2 = float(top[b, 0]), float(top[b, 1])
                margins[b].append((t1 - t2) / max(1.0, abs(t1)))
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            pos = pos[:, -1:] + 1
            out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=pos,
                        past_key_values=out.past_key_values, use_cache=True)
    return tokens, margins


def ours(binary, model_dir, prompts, new_tokens, device, fmt):
    cmd = [binary, "generate", "--model", model_dir, "--max-new-tokens", str(new_tokens),
           "--device", device, "--format", fmt, "--json"]
    for p in prompts:
        cmd += ["--prompt-ids", ",".join(str(t) for t in p)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        return None, run.stderr.strip()[-400:]
    return json.loads(run.stdout)["tokens"], ""


def compare(name, mode, got, want, margins, exact):
    """The first step where a sequence parts from the reference, and whether that is allowed."""
    result = {"kind": "rope_check", "variant": name, "engine": mode, "pass": True, "sequences": []}
    for b, (g, w) in enumerate(zip(got, want)):
        step = next((i for i, (x, y) in enumerate(zip(g, w)) if x != y), None)
        seq = {"prompt_len": LENGTHS[b], "first_diff": step}
        if step is not None:
            seq["margin"] = round(margins[b][step], 5)
            if margins[b][step] >= (EXACT_TIE if exact else NEAR_TIE):
                result["pass"] = False
        result["sequences"].append(seq)
    return result


def check_variant(name, fx, torch, transformers, args):
    config = fx.make_config(name, transformers, args.init_range)
    model = fx.build_model(config, torch, transformers, args.seed, args.init_range)
    model_dir = os.path.join(args.work, name)
    model.save_pretrained(model_dir, safe_serialization=True)
    if name == "llama3-v4config":
        fx.rewrite_v4_style(os.path.join(model_dir, "config.json"))
    rng = random.Random(args.seed)
    prompts = [[rng.randrange(3, config.vocab_size) for _ in range(n)] for n in LENGTHS]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    # A fresh model from the saved files: the reference reads what ecocompute reads.
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="eager")
    model = model.to(device=device, dtype=torch.float32).eval()
    pristine = copy.deepcopy(model)  # the rotary embedding keeps state between passes
    want, margins = reference(model, torch, transformers, prompts, args.new_tokens, device)
    ref_name, note = "generate", None
    if name in fx.GENERATE_RECOMPUTES:
        generated = want
        want, margins = cached_reference(pristine, torch, prompts, args.new_tokens, device)
        ref_name = "forward with KV cache"
        note = "; ".join(
            f"len {n}: generate parts at step {step}" for n, step in
            ((n, next((i for i, (x, y) in enumerate(zip(g, w)) if x != y), None))
             for n, g, w in zip(LENGTHS, generated, want)) if step is not None) or None
    results = []
    for mode, dev, fmt, exact in [("cpu-fp32", "cpu", "native", True),
                                  ("cuda-fp16", "cuda", "fp16", False)]:
        got, err = ours(args.ecocompute, model_dir, prompts, args.new_tokens, dev, fmt)
        if got is None:
            results.append({"kind": "rope_check", "variant": name, "engine": mode, "pass": False,
                            "error": err})
            continue
        results.append(compare(name, mode, got, want, margins, exact))
    for r in results:
        r["reference"] = ref_name
        if note:
            r["note"] = note
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ecocompute", required=True, help="the ecocompute binary (CUDA build)")
    ap.add_argument("--work", required=True, help="folder for the saved models")
    ap.add_argument("--new-tokens", type=int, default=24)
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--init-range", type=float, default=0.3)
    ap.add_argument("--variants", nargs="*", help="default: every architecture and variant")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    torch.backends.cuda.matmul.allow_tf32 = False  # an fp32 reference, not TF32
    torch.backends.cudnn.allow_tf32 = False
    fx = load_fixture_module()
    names = args.variants or ["llama", "mistral", "qwen2", "phi3"] + fx.VARIANTS
    os.makedirs(args.work, exist_ok=True)
    rows, ok = [], True
    for name in names:
        try:
            results = check_variant(name, fx, torch, transformers, args)
        except Exception as e:  # one variant's failure must not hide the others
            results = [{"kind": "rope_check", "variant": name, "engine": "setup", "pass": False,
                        "error": f"{type(e).__name__}: {e}"[:400]}]
        for r in results:
            print(json.dumps(r), flush=True)
            ok = ok and r["pass"]
            diffs = ", ".join(
                f"len {s['prompt_len']}: step {s['first_diff']} (margin {s.get('margin')})"
                for s in r.get("sequences", []) if s["first_diff"] is not None) or "-"
            if r.get("note"):
                diffs += f" ({r['note']})"
            rows.append(f"| {name} | {r['engine']} | {r.get('reference', '-')} | "
                        f"{'pass' if r['pass'] else 'FAIL'} | {r.get('error', diffs)} |")
    print(f"\ntransformers {transformers.__version__}, torch {torch.__version__}, "
          f"prompts of {LENGTHS} tokens in one batch, {args.new_tokens} new tokens\n")
    print("| variant | engine | transformers reference | result | where it parts from it |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
