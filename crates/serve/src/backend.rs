//! The `Backend` swap point: a tier that answers requests, in-process (a shared
//! [`Scheduler`]) or an OpenAI-compatible server elsewhere (vLLM, TGI, llama-server, another
//! tradeoff). Both are shared by every client without a lock.

use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;
use tradeoff_engine::{
    ChatMessage, Engine, EngineInfo, Event, GenParams, GenRequest, RemoteEngine, Result, Scheduler,
};

/// What a client asked for, in either API.
#[derive(Clone)]
pub enum Input {
    Prompt(String),
    Chat(Vec<ChatMessage>),
}

pub trait Backend: Send + Sync {
    fn info(&self) -> EngineInfo;
    fn render_chat(&self, messages: &[ChatMessage]) -> Result<String>;
    /// The prompt's length in this model's tokens, where the backend can count them.
    fn count_tokens(&self, text: &str) -> Option<usize>;
    /// Starts a request; its events arrive on `tx`. Dropping the receiver cancels it.
    fn start(
        &self,
        input: Input,
        params: GenParams,
        n: usize,
        tx: UnboundedSender<Event>,
    ) -> Result<()>;
}

impl Backend for Scheduler {
    fn info(&self) -> EngineInfo {
        Engine::info(self)
    }
    fn render_chat(&self, messages: &[ChatMessage]) -> Result<String> {
        Engine::render_chat(self, messages, true)
    }
    fn count_tokens(&self, text: &str) -> Option<usize> {
        Scheduler::count_tokens(self, text).ok()
    }
    fn start(
        &self,
        input: Input,
        params: GenParams,
        n: usize,
        tx: UnboundedSender<Event>,
    ) -> Result<()> {
        let prompt = match input {
            Input::Prompt(p) => p,
            Input::Chat(m) => Backend::render_chat(self, &m)?,
        };
        let req = GenRequest { prompt, params, n };
        self.submit(req, Box::new(move |e| tx.send(e).is_ok()))
    }
}

/// A remote server: each request runs on a blocking thread of its own (the HTTP client is
/// synchronous), so requests to one server run concurrently.
pub struct Remote(pub Arc<RemoteEngine>);

impl Backend for Remote {
    fn info(&self) -> EngineInfo {
        self.0.info()
    }
    fn render_chat(&self, messages: &[ChatMessage]) -> Result<String> {
        self.0.render_chat(messages, true)
    }
    fn count_tokens(&self, _text: &str) -> Option<usize> {
        None
    }
    fn start(
        &self,
        input: Input,
        params: GenParams,
        n: usize,
        tx: UnboundedSender<Event>,
    ) -> Result<()> {
        let engine = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let text_tx = tx.clone();
            let mut on_text = |_, sample, t: &str| {
                let _ = text_tx.send(Event::Text {
                    sample,
                    text: t.to_string(),
                });
            };
            // Chat goes to the server as messages: it applies its own template.
            let g = match &input {
                Input::Prompt(prompt) => {
                    let req = GenRequest {
                        prompt: prompt.clone(),
                        params,
                        n,
                    };
                    engine.request(&req, &mut on_text)
                }
                Input::Chat(m) => engine.request_chat(m, &params, n, &mut on_text),
            };
            let _ = tx.send(Event::Done(g));
        });
        Ok(())
    }
}
