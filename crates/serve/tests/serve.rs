//! The server end to end on tiny models: routing, override, fallback, streaming, errors, the
//! API key, the log and the metrics, over real HTTP.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tradeoff_engine::testing::{write_tiny_gguf, TinySpec};
use tradeoff_engine::{
    Arch, ChatMessage, Engine, EngineInfo, Error, Event, GenParams, GenRequest, LoadOptions,
    LocalEngine, ModelPath, RemoteEngine, Scheduler,
};
use tradeoff_route::{Policy, PolicyArgs};
use tradeoff_serve::openai::Limits;
use tradeoff_serve::{App, Backend, Input, Options, Remote, Tier};

/// A tier that always fails, to exercise fallback.
struct Broken;

impl Backend for Broken {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            engine: "broken".into(),
            model: "broken".into(),
            model_sha256: None,
            architecture: None,
            context_length: None,
            device: "none".into(),
            threads: None,
        }
    }
    fn render_chat(&self, _: &[ChatMessage]) -> tradeoff_engine::Result<String> {
        Ok(String::new())
    }
    fn count_tokens(&self, _: &str) -> Option<usize> {
        None
    }
    fn start(
        &self,
        _: Input,
        _: GenParams,
        _: usize,
        tx: tokio::sync::mpsc::UnboundedSender<Event>,
    ) -> tradeoff_engine::Result<()> {
        let _ = tx.send(Event::Done(Err(Error::Stopped("out of order".into()))));
        Ok(())
    }
}

fn tiny(dir: &Path, name: &str, seed: u64) -> LocalEngine {
    let path = dir.join(format!("{name}.gguf"));
    let mut spec = TinySpec::new(Arch::Qwen2);
    spec.seed = seed;
    write_tiny_gguf(&path, &spec).unwrap();
    LocalEngine::load(&ModelPath::Gguf(path), LoadOptions::default()).unwrap()
}

fn greedy(max: usize) -> GenParams {
    GenParams {
        max_new_tokens: max,
        ..GenParams::default()
    }
}

fn policies(tiers: usize) -> BTreeMap<String, Arc<dyn Policy>> {
    let args = PolicyArgs {
        tiers: (0..tiers).map(|t| t.to_string()).collect(),
        ..PolicyArgs::default()
    };
    ["tokens", "complexity"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                tradeoff_route::policy(n, &args).unwrap().into(),
            )
        })
        .collect()
}

struct Server {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

fn start(tiers: Vec<Tier>, api_key: Option<&str>, log: std::path::PathBuf) -> Server {
    let n = tiers.len();
    let app = App::new(Options {
        tiers,
        policies: policies(n),
        default_policy: ("tokens".into(), 20.0),
        embedder: None,
        log: Some(log),
        sinks: vec![],
        api_key: api_key.map(str::to_string),
        limits: Limits {
            max_tokens: 16,
            max_n: 4,
        },
        max_body: 4096,
    })
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(format!("http://{}", l.local_addr().unwrap()))
                .unwrap();
            tradeoff_serve::serve(app, l, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
    });
    Server {
        url: rx.recv().unwrap(),
        stop: Some(stop),
        thread: Some(thread),
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Status, headers we care about, body.
fn post(
    url: &str,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, BTreeMap<String, String>, String) {
    let mut r = agent().post(format!("{url}{path}"));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let mut resp = r.send_json(body).unwrap();
    let hs = resp
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-tradeoff") || k.as_str() == "content-type")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    (
        resp.status().as_u16(),
        hs,
        resp.body_mut().read_to_string().unwrap(),
    )
}

fn get(url: &str, path: &str) -> (u16, String) {
    let mut resp = agent().get(format!("{url}{path}")).call().unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
    )
}

#[test]
fn routes_overrides_falls_back_streams_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let mut small = tiny(dir.path(), "small", 1);
    let mut large = tiny(dir.path(), "large", 2);
    let short = "def f(x):";
    let long = "def add(a, b):\n    \"\"\"Add two numbers a and b and return their sum, as an integer.\"\"\"";
    let want = |e: &mut LocalEngine, p: &str| {
        e.generate(&GenRequest::new(p, greedy(8)), &mut |_, _, _| {})
            .unwrap()
            .samples[0]
            .text
            .clone()
    };
    let (small_short, large_long, large_short) = (
        want(&mut small, short),
        want(&mut large, long),
        want(&mut large, short),
    );
    let short_tokens = small.tokenizer.encode(short).unwrap().len();
    let long_tokens = small.tokenizer.encode(long).unwrap().len();
    assert!(
        short_tokens <= 20 && long_tokens > 20,
        "{short_tokens} {long_tokens}"
    );
    let tiers = vec![
        Tier::new("small", Arc::new(Scheduler::spawn(small, 16).unwrap())),
        Tier::new("large", Arc::new(Scheduler::spawn(large, 16).unwrap())),
    ];
    let log = dir.path().join("routing.jsonl");
    let s = start(tiers, None, log.clone());
    let completion =
        |model: &str, prompt: &str| json!({"model": model, "prompt": prompt, "max_tokens": 8});

    // auto = tokens at 20: the short prompt to the small tier, the long one to the large.
    let (st, h, body) = post(&s.url, "/v1/completions", &completion("auto", short), &[]);
    assert_eq!(st, 200, "{body}");
    assert_eq!(h["x-tradeoff-variant"], "small");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["choices"][0]["text"], small_short);
    assert_eq!(v["model"], "small");
    assert_eq!(v["usage"]["prompt_tokens"], short_tokens);
    assert!(
        v["usage"]["prompt_tokens_details"]["cached_tokens"].is_u64(),
        "{body}"
    );
    let (_, h, body) = post(&s.url, "/v1/completions", &completion("auto", long), &[]);
    assert_eq!(h["x-tradeoff-variant"], "large", "{h:?}");
    assert!(h["x-tradeoff-reason"].contains("tokens"), "{h:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["choices"][0]["text"],
        large_long
    );
    // Manual override by model name and by header; a policy by name and threshold.
    let (_, h, body) = post(&s.url, "/v1/completions", &completion("large", short), &[]);
    assert_eq!(h["x-tradeoff-variant"], "large");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["choices"][0]["text"],
        large_short
    );
    let (_, h, _) = post(
        &s.url,
        "/v1/completions",
        &completion("auto", short),
        &[("X-Tradeoff-Variant", "large")],
    );
    assert_eq!(h["x-tradeoff-variant"], "large");
    let (_, h, _) = post(
        &s.url,
        "/v1/completions",
        &completion("router-tokens-1000", long),
        &[],
    );
    assert_eq!(h["x-tradeoff-variant"], "small");

    // Streaming: the chunks add up to the answer, then [DONE].
    let body = json!({"model": "small", "prompt": short, "max_tokens": 8, "stream": true});
    let (st, h, text) = post(&s.url, "/v1/completions", &body, &[]);
    assert_eq!(st, 200);
    assert!(h["content-type"].starts_with("text/event-stream"), "{h:?}");
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"));
    let streamed: String = events[..events.len() - 1]
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["choices"][0]["text"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(streamed, small_short);

    // Chat, the template applied by the answering tier.
    let chat =
        json!({"model": "small", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4});
    let (st, _, body) = post(&s.url, "/v1/chat/completions", &chat, &[]);
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");

    // Eight clients at once share the batches and get what they would alone.
    let answers: Vec<String> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                sc.spawn(|| post(&s.url, "/v1/completions", &completion("small", short), &[]).2)
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for a in answers {
        assert_eq!(
            serde_json::from_str::<Value>(&a).unwrap()["choices"][0]["text"],
            small_short
        );
    }

    // Errors: OpenAI-shaped JSON with the right status.
    let cases = [
        (json!({"model": "auto"}), 400, "prompt"),
        (
            json!({"model": "nope", "prompt": "x"}),
            404,
            "does not exist",
        ),
        (json!({"prompt": "x", "max_tokens": 100}), 400, "max_tokens"),
        (json!({"prompt": "x", "temperature": 9}), 400, "temperature"),
        (json!({"prompt": "x".repeat(5000)}), 413, ""),
    ];
    for (body, status, needle) in cases {
        let (st, _, text) = post(&s.url, "/v1/completions", &body, &[]);
        assert_eq!(st, status, "{body}: {text}");
        if !needle.is_empty() {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["error"]["type"], "invalid_request_error", "{text}");
            assert!(
                v["error"]["message"].as_str().unwrap().contains(needle),
                "{text}"
            );
        }
    }

    let (st, models) = get(&s.url, "/v1/models");
    assert_eq!(st, 200);
    let ids: Vec<String> = serde_json::from_str::<Value>(&models).unwrap()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert!(
        ids.starts_with(&["small".into(), "large".into(), "auto".into()]),
        "{ids:?}"
    );
    let (_, metrics) = get(&s.url, "/metrics");
    assert!(
        metrics.contains("tradeoff_decisions_total{variant=\"small\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tradeoff_request_seconds_bucket{variant=\"large\""),
        "{metrics}"
    );

    // The log: a line per routed request (not per malformed one), no prompt text.
    drop(s);
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5 + 1 + 1 + 8, "{lines:#?}");
    assert_eq!(lines[0]["chosen"], "small");
    assert_eq!(lines[0]["answered"], "small");
    assert_eq!(lines[0]["prompt_tokens"], short_tokens);
    assert_eq!(lines[2]["policy"], "override");
    assert!(!std::fs::read_to_string(&log).unwrap().contains("def f"));
}

#[test]
fn a_failing_variant_falls_back_and_all_failing_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let small = tiny(dir.path(), "small", 1);
    let tiers = vec![
        Tier::new("broken", Arc::new(Broken)),
        Tier::new("small", Arc::new(Scheduler::spawn(small, 16).unwrap())),
    ];
    let s = start(tiers, Some("sesame"), dir.path().join("log.jsonl"));
    let body = json!({"model": "broken", "prompt": "def f(x):", "max_tokens": 4});
    let auth = [("Authorization", "Bearer sesame")];
    // No key, wrong key: 401; /health needs none.
    assert_eq!(post(&s.url, "/v1/completions", &body, &[]).0, 401);
    assert_eq!(
        post(
            &s.url,
            "/v1/completions",
            &body,
            &[("Authorization", "Bearer x")]
        )
        .0,
        401
    );
    assert_eq!(get(&s.url, "/health").0, 200);
    let (st, h, text) = post(&s.url, "/v1/completions", &body, &auth);
    assert_eq!(st, 200, "{text}");
    assert_eq!(h["x-tradeoff-variant"], "small");
    assert_eq!(h["x-tradeoff-fallbacks"], "1");
    let only_broken = vec![Tier::new("broken", Arc::new(Broken))];
    let s2 = start(only_broken, None, dir.path().join("log2.jsonl"));
    let (st, _, text) = post(&s2.url, "/v1/completions", &body, &[]);
    assert_eq!(st, 503);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("broken: engine stopped: out of order"),
        "{text}"
    );
    drop(s);
    let log: Vec<Value> = std::fs::read_to_string(dir.path().join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["chosen"], "broken");
    assert_eq!(log[0]["answered"], "small");
    assert_eq!(log[0]["fallbacks"][0]["variant"], "broken");
}

#[test]
fn a_remote_tier_is_another_openai_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut small = tiny(dir.path(), "small", 1);
    let want = small
        .generate(&GenRequest::new("def f(x):", greedy(8)), &mut |_, _, _| {})
        .unwrap()
        .samples[0]
        .text
        .clone();
    let back = start(
        vec![Tier::new(
            "small",
            Arc::new(Scheduler::spawn(small, 16).unwrap()),
        )],
        None,
        dir.path().join("back.jsonl"),
    );
    let remote = RemoteEngine::connect(&format!("{}/v1", back.url), Some("small")).unwrap();
    let front = start(
        vec![Tier::new("far", Arc::new(Remote(Arc::new(remote))))],
        None,
        dir.path().join("front.jsonl"),
    );
    let body = json!({"model": "far", "prompt": "def f(x):", "max_tokens": 8});
    let (st, h, text) = post(&front.url, "/v1/completions", &body, &[]);
    assert_eq!(st, 200, "{text}");
    assert_eq!(h["x-tradeoff-variant"], "far");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["choices"][0]["text"],
        want
    );
}
