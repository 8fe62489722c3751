#!/usr/bin/env python3
"""Loads a tradeoff-exported LoRA adapter with PEFT onto the Hugging Face model read from the
same GGUF (transformers dequantizes it to f32) and compares the logits with tradeoff's.

usage: peft-check.py MODEL.gguf ADAPTER_DIR EXPECTED.safetensors
EXPECTED holds `tokens` (int64 [n]) and `logits` (f32 [n, vocab]) from tradeoff's forward
with the same adapter. Prints the differences; exits 1 when PEFT's logits do not match.
"""
import os
import sys

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

gguf, adapter, expected = sys.argv[1:4]
want = load_file(expected)
tokens = want["tokens"].long().unsqueeze(0)
base = AutoModelForCausalLM.from_pretrained(
    os.path.dirname(gguf), gguf_file=os.path.basename(gguf), dtype=torch.float32
)
model = PeftModel.from_pretrained(base, adapter)
model.eval()
with torch.no_grad():
    got = model(tokens).logits[0]
    with model.disable_adapter():
        plain = model(tokens).logits[0]
logits = want["logits"]
scale = logits.abs().max().item()
diff = (got - logits).abs().max().item()
effect = (plain - logits).abs().max().item()
print(f"max |PEFT - tradeoff| = {diff:.2e}; without the adapter {effect:.2e}; logit scale {scale:.1f}")
ok = diff < 1e-3 * max(scale, 1.0) and effect > 20 * diff
sys.exit(0 if ok else 1)
