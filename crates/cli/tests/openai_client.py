"""The official openai client against `tradeoff serve` (tiers "a" and "b" of one tiny model).

Usage: python openai_client.py BASE_URL API_KEY
"""
import sys

import openai

base, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)

# Chat, routed by the default policy; who answered is in the headers.
raw = client.chat.completions.with_raw_response.create(
    model="auto", messages=[{"role": "user", "content": "hi"}], max_tokens=4
)
chat = raw.parse()
assert chat.object == "chat.completion", chat
assert chat.choices[0].message.role == "assistant", chat
assert raw.headers["x-tradeoff-variant"] in ("a", "b"), raw.headers
assert chat.usage.completion_tokens <= 4, chat.usage

# Completion with a manual override, n samples and a seed.
comp = client.completions.create(
    model="b", prompt="def f(x):", max_tokens=4, n=2, temperature=1.0, seed=3
)
assert comp.model == "b", comp
assert len(comp.choices) == 2, comp

# Header override beats the model field.
raw = client.completions.with_raw_response.create(
    model="a", prompt="def f(x):", max_tokens=2, extra_headers={"X-Tradeoff-Variant": "b"}
)
assert raw.headers["x-tradeoff-variant"] == "b", raw.headers

# Streaming, both APIs: the chunks add up to the non-streamed answer.
whole = client.completions.create(model="a", prompt="def f(x):", max_tokens=6).choices[0].text
parts = [
    c.choices[0].text
    for c in client.completions.create(model="a", prompt="def f(x):", max_tokens=6, stream=True)
    if c.choices
]
assert "".join(parts) == whole, (parts, whole)
deltas = [
    c.choices[0].delta.content or ""
    for c in client.chat.completions.create(
        model="router-tokens-1000",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=4,
        stream=True,
    )
    if c.choices
]
assert deltas, "no streamed chat chunks"

# Errors arrive as the client's typed exceptions.
try:
    client.completions.create(model="nope", prompt="x", max_tokens=2)
    raise AssertionError("unknown model accepted")
except openai.NotFoundError as e:
    assert "does not exist" in str(e), e
try:
    client.completions.create(model="a", prompt="x", max_tokens=100000)
    raise AssertionError("max_tokens beyond the limit accepted")
except openai.BadRequestError as e:
    assert "max_tokens" in str(e), e
try:
    openai.OpenAI(base_url=base, api_key="wrong", max_retries=0).models.list()
    raise AssertionError("wrong key accepted")
except openai.AuthenticationError:
    pass

ids = [m.id for m in client.models.list()]
assert ids[:3] == ["a", "b", "auto"], ids
print("ok")
