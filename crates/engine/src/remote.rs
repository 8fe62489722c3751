//! An engine behind any OpenAI-compatible server (vLLM, llama-server, TGI): for models that
//! need more than this machine. Requests go to `/v1/completions` with the rendered prompt (or,
//! from `tradeoff serve`, chat messages to `/v1/chat/completions`) and are streamed
//! (server-sent events) so time-to-first-token is measured, not guessed.

use crate::api::*;
use crate::chat::ChatTemplate;
use crate::{Error, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RemoteEngine {
    /// Base URL ending in `/v1`.
    base: String,
    model: String,
    api_key: Option<String>,
    template: Option<ChatTemplate>,
    /// Requests in flight at once in `generate_many` (match the server's parallel slots).
    pub parallel: usize,
    agent: ureq::Agent,
}

impl RemoteEngine {
    /// Connects to `url` (with or without the trailing `/v1`). The model id is taken from
    /// `model`, or else the server's first listed model. The chat template comes from
    /// llama-server's `/props` when available; set one with [`RemoteEngine::with_template`].
    pub fn connect(url: &str, model: Option<&str>) -> Result<Self> {
        let trimmed = url.trim_end_matches('/');
        let base = if trimmed.ends_with("/v1") {
            trimmed.to_string()
        } else {
            format!("{trimmed}/v1")
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(1800)))
            .http_status_as_error(false)
            .build()
            .into();
        let api_key = std::env::var("OPENAI_API_KEY")
            .ok()
            .filter(|k| !k.is_empty());
        let mut e = Self {
            base,
            model: String::new(),
            api_key,
            template: None,
            parallel: 8,
            agent,
        };
        e.model = match model {
            Some(m) => m.to_string(),
            None => {
                let v = e.get_json("/models")?;
                v["data"][0]["id"]
                    .as_str()
                    .ok_or_else(|| e.err("GET /models lists no model; name one with ?model=ID"))?
                    .to_string()
            }
        };
        let root = e.base.trim_end_matches("/v1").to_string();
        if let Ok(props) = e.get_json_at(&format!("{root}/props")) {
            if let Some(t) = props["chat_template"].as_str().filter(|t| !t.is_empty()) {
                e.template = Some(ChatTemplate::new(t, "", "")?);
            }
        }
        Ok(e)
    }

    /// The model id requests name (given, or the server's first listed).
    pub fn model_id(&self) -> &str {
        &self.model
    }

    /// What the server's `/models` says of this model (vLLM adds its path and context length),
    /// or None when it does not list it.
    pub fn model_listing(&self) -> Result<Option<Value>> {
        let v = self.get_json("/models")?;
        Ok(v["data"]
            .as_array()
            .and_then(|a| a.iter().find(|m| m["id"] == self.model.as_str()))
            .cloned())
    }

    /// Uses this Jinja chat template (e.g. from the model's tokenizer_config.json).
    pub fn with_template(mut self, source: &str, bos: &str, eos: &str) -> Result<Self> {
        self.template = Some(ChatTemplate::new(source, bos, eos)?);
        Ok(self)
    }

    fn err(&self, msg: impl Into<String>) -> Error {
        Error::Remote {
            url: self.base.clone(),
            msg: msg.into(),
        }
    }

    fn get_json(&self, path: &str) -> Result<Value> {
        self.get_json_at(&format!("{}{path}", self.base))
    }

    fn get_json_at(&self, url: &str) -> Result<Value> {
        let mut req = self.agent.get(url);
        if let Some(k) = &self.api_key {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        let mut resp = req
            .call()
            .map_err(|e| self.err(format!("cannot reach the server ({e}); is it running?")))?;
        if !resp.status().is_success() {
            return Err(self.err(format!("GET {url}: HTTP {}", resp.status())));
        }
        resp.body_mut()
            .read_json::<Value>()
            .map_err(|e| self.err(format!("GET {url}: bad JSON ({e})")))
    }

    /// One streamed completion: text, tokens seen, finish reason, time to first text.
    fn complete(
        &self,
        input: Input<'_>,
        p: &GenParams,
        seed: u64,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Streamed> {
        let (path, field, value) = match input {
            Input::Prompt(t) => ("completions", "prompt", json!(t)),
            Input::Chat(m) => ("chat/completions", "messages", json!(m)),
        };
        let mut body = json!({
            "model": self.model,
            field: value,
            "max_tokens": p.max_new_tokens,
            "temperature": p.temperature,
            "seed": seed,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if let Some(k) = p.top_k {
            body["top_k"] = json!(k);
        }
        if let Some(tp) = p.top_p {
            body["top_p"] = json!(tp);
        }
        if !p.stop.is_empty() {
            body["stop"] = json!(p.stop);
        }
        if p.ignore_eos {
            // llama-server and vLLM both accept this extension.
            body["ignore_eos"] = json!(true);
        }
        let mut req = self.agent.post(format!("{}/{path}", self.base));
        if let Some(k) = &self.api_key {
            req = req.header("Authorization", &format!("Bearer {k}"));
        }
        let t0 = Instant::now();
        let mut resp = req
            .send_json(&body)
            .map_err(|e| self.err(format!("cannot reach the server ({e}); is it running?")))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.body_mut().read_to_string().unwrap_or_default();
            return Err(self.err(format!("POST /{path}: HTTP {status}: {}", text.trim())));
        }
        let mut out = Streamed::default();
        let reader = BufReader::new(resp.body_mut().as_reader());
        for line in reader.lines() {
            let line = line.map_err(|e| self.err(format!("reading the stream: {e}")))?;
            let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                continue;
            };
            if data == "[DONE]" {
                break;
            }
            let v: Value = serde_json::from_str(data)
                .map_err(|e| self.err(format!("bad event {data:?}: {e}")))?;
            if let Some(n) = v["usage"]["completion_tokens"].as_u64() {
                out.usage_tokens = Some(n as usize);
            }
            if let Some(n) = v["usage"]["prompt_tokens"].as_u64() {
                out.prompt_tokens = n as usize;
            }
            let Some(choice) = v["choices"].get(0) else {
                continue;
            };
            let text = choice["text"]
                .as_str()
                .or(choice["delta"]["content"].as_str());
            if let Some(t) = text.filter(|t| !t.is_empty()) {
                if out.ttft_s.is_none() {
                    out.ttft_s = Some(t0.elapsed().as_secs_f64());
                }
                out.chunks += 1;
                out.text.push_str(t);
                on_text(t);
            }
            if let Some(f) = choice["finish_reason"].as_str() {
                out.finish = Some(match f {
                    "length" => FinishReason::Length,
                    "stop" if !p.stop.is_empty() => FinishReason::Stop,
                    _ => FinishReason::Eos,
                });
            }
        }
        out.total_s = t0.elapsed().as_secs_f64();
        // Servers differ in whether a stop string is included: cut it here either way.
        if let Some(cut) = p
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| out.text.find(s.as_str()))
            .min()
        {
            out.text.truncate(cut);
            out.finish = Some(FinishReason::Stop);
        }
        Ok(out)
    }

    /// [`Engine::generate`] through a shared reference: one engine serves many threads.
    pub fn request(&self, req: &GenRequest, on_text: &mut OnText<'_>) -> Result<Generation> {
        self.request_input(Input::Prompt(&req.prompt), &req.params, req.n, on_text)
    }

    /// A chat request forwarded as messages to the server's `/chat/completions`, so the server
    /// applies its own chat template (vLLM and TGI do not publish theirs).
    pub fn request_chat(
        &self,
        messages: &[ChatMessage],
        params: &GenParams,
        n: usize,
        on_text: &mut OnText<'_>,
    ) -> Result<Generation> {
        self.request_input(Input::Chat(messages), params, n, on_text)
    }

    fn request_input(
        &self,
        input: Input<'_>,
        params: &GenParams,
        n: usize,
        on_text: &mut OnText<'_>,
    ) -> Result<Generation> {
        let t0 = Instant::now();
        let mut samples = Vec::with_capacity(n);
        let mut timing = Timing::default();
        for i in 0..n {
            let s = self.complete(
                input,
                params,
                params.seed.wrapping_add(i as u64),
                &mut |t| on_text(0, i, t),
            )?;
            let tokens = s.usage_tokens.unwrap_or(s.chunks);
            let ttft = s.ttft_s.unwrap_or(s.total_s);
            if i == 0 {
                timing.prompt_tokens = s.prompt_tokens;
                timing.ttft_s = ttft;
                timing.prefill_s = ttft;
            }
            timing.decode_s += s.total_s - ttft;
            timing.generated_tokens += tokens;
            samples.push(Sample {
                text: s.text,
                tokens,
                finish: s.finish.unwrap_or(FinishReason::Eos),
            });
        }
        timing.total_s = t0.elapsed().as_secs_f64();
        Ok(Generation { samples, timing })
    }
}

/// What a request sends: a prompt to `/completions` or messages to `/chat/completions`.
#[derive(Clone, Copy)]
enum Input<'a> {
    Prompt(&'a str),
    Chat(&'a [ChatMessage]),
}

#[derive(Default)]
struct Streamed {
    text: String,
    chunks: usize,
    usage_tokens: Option<usize>,
    prompt_tokens: usize,
    finish: Option<FinishReason>,
    ttft_s: Option<f64>,
    total_s: f64,
}

impl Engine for RemoteEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            engine: "openai".into(),
            model: format!("{}#{}", self.base, self.model),
            model_sha256: None,
            architecture: None,
            context_length: None,
            device: "remote".into(),
            threads: None,
        }
    }

    fn render_chat(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        match &self.template {
            Some(t) => t.render(messages, add_generation_prompt),
            None => Err(self.err(
                "the server does not publish its chat template (only llama-server's /props does): \
                 evaluate with --style base, or in a sweep give the variant `chat_template = \"MODEL\"` \
                 (a local copy of the served model, whose template is used)",
            )),
        }
    }

    fn generate(&mut self, req: &GenRequest, on_text: &mut OnText<'_>) -> Result<Generation> {
        self.request(req, on_text)
    }

    fn generate_many(
        &mut self,
        reqs: &[GenRequest],
        on_done: &mut dyn FnMut(usize, Result<Generation>),
    ) -> Result<()> {
        let next = Mutex::new(0usize);
        let (tx, rx) = mpsc::channel();
        let this = &*self;
        std::thread::scope(|s| {
            for _ in 0..self.parallel.max(1).min(reqs.len()) {
                let tx = tx.clone();
                let next = &next;
                s.spawn(move || loop {
                    let i = {
                        let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(r) = reqs.get(i) else { break };
                    let t = Instant::now();
                    let g = this.request(r, &mut |_, _, _| {}).map(|mut g| {
                        g.timing.total_s = t.elapsed().as_secs_f64();
                        g
                    });
                    if tx.send((i, g)).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            for (i, g) in rx {
                on_done(i, g);
            }
        });
        Ok(())
    }
}
