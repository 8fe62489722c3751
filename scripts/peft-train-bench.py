#!/usr/bin/env python3
"""LoRA training speed with PyTorch + PEFT on CPU, the counterpart of tradeoff's
`train_speed` example: the model read by transformers from the same GGUF (f32), LoRA on all
seven linears (r, alpha = 2r, no dropout), AdamW, gradient clipping at 1.0, next-token
cross-entropy on the same token ids. The first step is a warm-up and not timed.

usage: peft-train-bench.py MODEL.gguf TOKENS_FILE --batch B --seq S --r R --steps N --threads T
Prints one JSON line.
"""
import argparse
import json
import os
import resource
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

p = argparse.ArgumentParser()
p.add_argument("gguf")
p.add_argument("tokens")
for name, default in [("batch", 4), ("seq", 256), ("r", 16), ("steps", 4), ("threads", 2)]:
    p.add_argument(f"--{name}", type=int, default=default)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(
    os.path.dirname(a.gguf), gguf_file=os.path.basename(a.gguf), dtype=torch.float32
)
targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
model = get_peft_model(
    model,
    LoraConfig(r=a.r, lora_alpha=2 * a.r, lora_dropout=0.0, target_modules=targets, task_type="CAUSAL_LM"),
)
model.train()
params = [q for q in model.parameters() if q.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-3)
ids = [int(t) for t in open(a.tokens).read().split()]
assert len(ids) == a.batch * a.seq, "TOKENS_FILE: batch x seq ids"
x = torch.tensor(ids).view(a.batch, a.seq)
timed = []
for step in range(a.steps + 1):
    t0 = time.perf_counter()
    loss = model(input_ids=x, labels=x).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    if step > 0:
        timed.append(time.perf_counter() - t0)
print(json.dumps({
    "impl": "pytorch+peft", "torch": torch.__version__, "steps": a.steps, "batch": a.batch,
    "seq": a.seq, "r": a.r, "threads": a.threads,
    "attention": model.config._attn_implementation,
    "tokens_per_s": a.steps * a.batch * a.seq / sum(timed),
    "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
}))
