// tradeoff dashboard: the live parts only (every page works without this script).
"use strict";

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
}

function duration(s) {
  if (s == null) return "";
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
  return Math.floor(s / 3600) + "h " + String(Math.floor(s / 60) % 60).padStart(2, "0") + "m";
}

function rows(tableId, items, fill) {
  const body = document.querySelector("#" + tableId + " tbody");
  if (!body) return;
  body.replaceChildren();
  for (const it of items) {
    const tr = document.createElement("tr");
    fill(tr, it);
    body.appendChild(tr);
  }
}

// Sweep progress over server-sent events.
function followProgress(el) {
  const es = new EventSource(el.dataset.events);
  es.addEventListener("progress", (ev) => {
    const p = JSON.parse(ev.data);
    el.textContent = p.summary;
    rows("steps", p.steps, (tr, s) => {
      cell(tr, s.variant); cell(tr, s.kind); cell(tr, s.name); cell(tr, s.status);
      cell(tr, s.samples, "num"); cell(tr, s.expected, "num"); cell(tr, duration(s.eta_s), "num");
    });
  });
  es.addEventListener("done", () => es.close());
  es.addEventListener("error", () => es.close());
}

// The routing log, live.
function followRouting(el) {
  const es = new EventSource(el.dataset.events);
  es.addEventListener("log", (ev) => {
    const l = JSON.parse(ev.data);
    el.textContent = l.summary;
    rows("counts", l.counts, (tr, c) => {
      cell(tr, c.variant); cell(tr, c.requests, "num"); cell(tr, (c.share * 100).toFixed(1) + "%", "num");
      cell(tr, c.fallbacks, "num"); cell(tr, c.mean_latency_s.toFixed(3), "num");
    });
    const ol = document.getElementById("recent");
    if (ol) {
      ol.replaceChildren();
      for (const e of l.recent) {
        const li = document.createElement("li");
        li.textContent = new Date(e.time * 1000).toISOString().slice(0, 19).replace("T", " ") +
          " · " + e.policy + " → " + (e.answered || "no answer") + " (" + e.reason + ")";
        ol.appendChild(li);
      }
    }
  });
  es.addEventListener("error", () => es.close());
}

// A test query through the server's own OpenAI endpoint.
async function sendTest(form, out) {
  const f = new FormData(form);
  const model = f.get("override") || ("router-" + f.get("policy") + "-" + f.get("threshold"));
  const headers = { "Content-Type": "application/json" };
  if (f.get("key")) headers.Authorization = "Bearer " + f.get("key");
  out.textContent = "Sending…";
  try {
    const r = await fetch("/v1/completions", {
      method: "POST", headers,
      body: JSON.stringify({ model, prompt: f.get("prompt"), max_tokens: Number(f.get("max_tokens") || 32) }),
    });
    const body = await r.json();
    const answer = body.choices ? body.choices[0].text : (body.error ? body.error.message : "");
    out.replaceChildren();
    const dl = document.createElement("dl");
    for (const [k, v] of [["model asked", model], ["status", r.status],
      ["answered by", r.headers.get("X-Tradeoff-Variant") || "none"],
      ["why", r.headers.get("X-Tradeoff-Reason") || ""], ["answer", answer]]) {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v;
      if (k === "answered by") dd.id = "answered-by";
      dl.append(dt, dd);
    }
    out.appendChild(dl);
  } catch (e) {
    out.textContent = "Request failed: " + e;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const prog = document.getElementById("progress-summary");
  if (prog) followProgress(prog);
  const routing = document.getElementById("routing-summary");
  if (routing) followRouting(routing);
  const form = document.getElementById("route-test");
  if (form) {
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      sendTest(form, document.getElementById("route-answer"));
    });
  }
});
