//! A long-lived continuous batch that many clients share. The [`Scheduler`] owns the model on
//! a thread of its own; [`Scheduler::submit`] takes `&self`, so one handle (`Send + Sync`, in
//! an `Arc`) serves every client: requests from all of them join the same batch between two
//! forward passes, with no lock around the model. It is also an [`Engine`], the blocking facade
//! that evaluation and sweeps use.

use crate::api::*;
use crate::batch::Batch;
use crate::chat::ChatTemplate;
use crate::local::{render_chat, LocalEngine};
use crate::tokenizer::Tokenizer;
use crate::{Error, Result};
use std::collections::HashMap;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

/// What a request's sink receives: text as it is produced, then the result.
#[derive(Debug)]
pub enum Event {
    Text { sample: usize, text: String },
    Done(Result<Generation>),
}

/// Receives one request's events. Returning `false` says nobody listens any more: the request
/// is cancelled and its sequences leave the batch.
pub type Sink = Box<dyn FnMut(Event) -> bool + Send>;

struct Job {
    req: GenRequest,
    sink: Sink,
}

/// The text side, shared by callers (token counts, chat templates) and the batch thread.
struct Text {
    tokenizer: Tokenizer,
    template: Option<ChatTemplate>,
    spec: String,
}

pub struct Scheduler {
    tx: Option<mpsc::Sender<Job>>,
    text: Arc<Text>,
    info: EngineInfo,
    worker: Option<JoinHandle<()>>,
}

impl Scheduler {
    /// Moves `engine` onto a thread of its own. Requests may ask for up to `max_new_tokens`
    /// tokens (this sizes the batch unless the engine's options set it).
    pub fn spawn(engine: LocalEngine, max_new_tokens: usize) -> Result<Scheduler> {
        let parts = engine.into_parts(max_new_tokens);
        let text = Arc::new(Text {
            tokenizer: parts.tokenizer,
            template: parts.template,
            spec: parts.spec,
        });
        let (tx, rx) = mpsc::channel::<Job>();
        let mut batch = Batch::new(
            parts.max_batch,
            parts.prefill_chunk,
            parts.model.cfg.context_length,
        )
        .with_drafts(parts.drafts);
        let model = parts.model;
        let shared = text.clone();
        let worker = std::thread::Builder::new()
            .name(format!("batch {}", text.spec))
            .spawn(move || {
                let mut sinks: HashMap<usize, Sink> = HashMap::new();
                loop {
                    // Block only when idle; otherwise take whatever arrived since the last step.
                    if batch.is_idle() {
                        match rx.recv() {
                            Ok(job) => {
                                sinks.insert(batch.push(job.req), job.sink);
                            }
                            // Every handle dropped and nothing in flight: done.
                            Err(_) => return,
                        }
                    }
                    while let Ok(job) = rx.try_recv() {
                        sinks.insert(batch.push(job.req), job.sink);
                    }
                    step(&mut batch, &model, &shared.tokenizer, &mut sinks);
                }
            })
            .map_err(|e| Error::Stopped(format!("cannot start the batch thread: {e}")))?;
        Ok(Scheduler {
            tx: Some(tx),
            text,
            info: parts.info,
            worker: Some(worker),
        })
    }

    /// Queues a request; its events go to `sink`, from the batch thread.
    pub fn submit(&self, req: GenRequest, sink: Sink) -> Result<()> {
        let tx = self.tx.as_ref().expect("present until drop");
        tx.send(Job { req, sink })
            .map_err(|_| Error::Stopped(format!("{}: the batch thread has exited", self.text.spec)))
    }

    /// The prompt's length in the model's tokens.
    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(self.text.tokenizer.encode(text)?.len())
    }
}

/// One step of the batch, events delivered after it; a failed forward pass fails every request
/// in flight (the thread lives on for the next ones).
fn step(batch: &mut Batch, model: &crate::Model, tk: &Tokenizer, sinks: &mut HashMap<usize, Sink>) {
    let mut texts: Vec<(usize, usize, String)> = Vec::new();
    let mut done: Vec<(usize, Result<Generation>)> = Vec::new();
    let res = batch.step(
        model,
        tk,
        Some(&mut |id, sample, t: &str| texts.push((id, sample, t.to_string()))),
        &mut |id, g| done.push((id, g)),
    );
    let mut gone = Vec::new();
    for (id, sample, text) in texts {
        if let Some(sink) = sinks.get_mut(&id) {
            if !sink(Event::Text { sample, text }) {
                gone.push(id);
            }
        }
    }
    for (id, g) in done {
        if let Some(mut sink) = sinks.remove(&id) {
            sink(Event::Done(g));
        }
    }
    for id in gone {
        batch.cancel(id);
        sinks.remove(&id);
    }
    if let Err(e) = res {
        tracing::error!("forward pass failed: {e}");
        for id in batch.drain() {
            if let Some(mut sink) = sinks.remove(&id) {
                sink(Event::Done(Err(Error::Stopped(format!(
                    "forward pass failed: {e}"
                )))));
            }
        }
    }
}

impl Drop for Scheduler {
    /// Finishes the requests in flight, then stops the thread.
    fn drop(&mut self) {
        self.tx.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Engine for Scheduler {
    fn info(&self) -> EngineInfo {
        self.info.clone()
    }

    fn render_chat(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        render_chat(
            self.text.template.as_ref(),
            &self.text.spec,
            messages,
            add_generation_prompt,
        )
    }

    fn generate(&mut self, req: &GenRequest, on_text: &mut OnText<'_>) -> Result<Generation> {
        let (tx, rx) = mpsc::channel();
        self.submit(req.clone(), Box::new(move |e| tx.send(e).is_ok()))?;
        for e in rx {
            match e {
                Event::Text { sample, text } => on_text(0, sample, &text),
                Event::Done(g) => return g,
            }
        }
        Err(Error::Stopped(format!("{}: no result", self.text.spec)))
    }

    fn generate_many(
        &mut self,
        reqs: &[GenRequest],
        on_done: &mut dyn FnMut(usize, Result<Generation>),
    ) -> Result<()> {
        let (tx, rx) = mpsc::channel();
        for (i, r) in reqs.iter().enumerate() {
            let tx = tx.clone();
            self.submit(
                r.clone(),
                Box::new(move |e| match e {
                    Event::Done(g) => tx.send((i, g)).is_ok(),
                    Event::Text { .. } => true,
                }),
            )?;
        }
        drop(tx);
        for (i, g) in rx {
            on_done(i, g);
        }
        Ok(())
    }
}
