#!/usr/bin/env python3
"""Writes chat-formatted code for calibration: MBPP task ids 511-974 (validation and train,
never the test split 11-510 or HumanEval), each prompt with its asserts and the reference
answer in Qwen2.5's chat format, one {"text": ...} per line.

usage: scripts/mbpp-chat-calibration.py MBPP_JSONL OUT_JSONL
"""
import json
import sys

SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def main(src, dst):
    n = 0
    with open(src) as f, open(dst, "w") as out:
        for line in f:
            r = json.loads(line)
            if not 511 <= r["task_id"] <= 974:
                continue
            tests = "\n".join(r["test_list"])
            code = r["code"].replace("\r", "")
            text = (
                f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
                f"<|im_start|>user\n{r['text']}\nYour code should pass these tests:\n{tests}<|im_end|>\n"
                f"<|im_start|>assistant\n```python\n{code}\n```<|im_end|>\n"
            )
            out.write(json.dumps({"text": text}) + "\n")
            n += 1
    if n != 464:
        sys.exit(f"{src}: {n} problems with task ids 511-974, expected 464 (the full 974-problem MBPP)")
    print(f"{dst}: {n} chat-formatted MBPP problems (task ids 511-974)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
