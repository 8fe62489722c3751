//! One continuous batch. Requests join at any time and leave as they finish: each [`Batch::step`]
//! admits what fits, then runs one forward pass over the weights for every active sequence (a
//! token for each decoding sequence, a chunk of each new prompt) and retires what finished.
//! [`LocalEngine`](crate::LocalEngine) drives one over a fixed set of requests; the
//! [`Scheduler`](crate::Scheduler) drives one over requests from many clients.
//!
//! When few sequences are left, greedy ones also feed a draft: the tokens that followed the
//! last earlier occurrence of their final tokens in prompt or output (prompt lookup decoding;
//! code answers repeat signatures, names and whole lines). The pass reads the weights once
//! whatever its rows, so checking a draft is nearly free there; each draft token is kept
//! while it equals the greedy choice, so the output is exactly what plain decoding gives.

use crate::api::*;
use crate::model::{KvCache, Model, Segment};
use crate::sampler::Sampler;
use crate::tokenizer::{Detokenizer, Tokenizer};
use crate::{Error, Result};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

pub(crate) struct Batch {
    max_batch: usize,
    chunk: usize,
    /// Draft tokens per sequence and step at most (0: no drafts).
    draft: usize,
    ctx: usize,
    next_id: usize,
    queue: VecDeque<usize>,
    reqs: HashMap<usize, Req>,
    prefilling: Vec<Prefill>,
    active: Vec<Seq>,
    /// The last pass's logits, [rows, vocab]; kept so that each pass reuses the memory.
    logits: Vec<f32>,
    /// The KV caches of the last [`PREFIXES`] prompts prefilled (their first [`PREFIX_MAX`]
    /// tokens): a new prompt that starts the same way copies one instead of recomputing it.
    prefixes: VecDeque<Prefix>,
}

struct Prefix {
    ids: Vec<u32>,
    cache: KvCache,
}

struct Req {
    req: GenRequest,
    samples: Vec<Option<Sample>>,
    left: usize,
    timing: Timing,
    submitted: Instant,
    admitted: Option<Instant>,
    first_token: Option<Instant>,
}

impl Batch {
    /// At most `max_batch` sequences at once, prompts prefilled `chunk` tokens per step, a
    /// context of `ctx` tokens.
    pub(crate) fn new(max_batch: usize, chunk: usize, ctx: usize) -> Self {
        Self {
            max_batch: max_batch.max(1),
            chunk: chunk.max(1),
            draft: 0,
            ctx,
            next_id: 0,
            queue: VecDeque::new(),
            reqs: HashMap::new(),
            prefilling: Vec::new(),
            active: Vec::new(),
            logits: Vec::new(),
            prefixes: VecDeque::new(),
        }
    }

    /// Lets greedy sequences check up to `n` draft tokens per step while few rows run.
    pub(crate) fn with_drafts(mut self, n: usize) -> Self {
        self.draft = n;
        self
    }

    /// Queues a request; ids count from 0 in submission order.
    pub(crate) fn push(&mut self, req: GenRequest) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        let n = req.n;
        self.reqs.insert(
            id,
            Req {
                req,
                samples: vec![None; n],
                left: n,
                timing: Timing::default(),
                submitted: Instant::now(),
                admitted: None,
                first_token: None,
            },
        );
        self.queue.push_back(id);
        id
    }

    /// Nothing queued or running.
    pub(crate) fn is_idle(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Drops a request wherever it is (its client left): its sequences stop at once.
    pub(crate) fn cancel(&mut self, id: usize) {
        self.reqs.remove(&id);
        self.queue.retain(|&q| q != id);
        self.prefilling.retain(|p| p.req != id);
        self.active.retain(|s| s.req != id);
    }

    /// Empties the batch, returning the ids of the requests it held (to fail them after a
    /// forward pass error).
    pub(crate) fn drain(&mut self) -> Vec<usize> {
        self.queue.clear();
        self.prefilling.clear();
        self.active.clear();
        let mut ids: Vec<usize> = self.reqs.drain().map(|(id, _)| id).collect();
        ids.sort_unstable();
        ids
    }

    /// Admits queued requests while their samples fit, runs one forward pass and retires
    /// finished sequences, calling `on_done` for each request whose samples are all done.
    pub(crate) fn step(
        &mut self,
        model: &Model,
        tk: &Tokenizer,
        mut on_text: Option<&mut OnText<'_>>,
        on_done: &mut dyn FnMut(usize, Result<Generation>),
    ) -> Result<()> {
        self.admit(model, tk, on_done);
        if self.active.is_empty() && self.prefilling.is_empty() {
            return Ok(());
        }
        self.draft_all();
        self.plan_prefill(model.kv_dim());
        let mut logits = std::mem::take(&mut self.logits);
        let n_rows = self.forward(model, &mut logits)?;
        let vocab = logits.len() / n_rows.max(1);
        let now = Instant::now();
        // Decoding sequences: sample, detokenize, check stops; keep what a draft got right.
        let mut at = 0;
        for s in self.active.iter_mut() {
            let r = &self.reqs[&s.req].req;
            let fed = std::mem::take(&mut s.feed);
            let rows = fed.len();
            let start = s.cache.len() - rows;
            let mut kept = 0;
            for (i, row) in logits[at * vocab..(at + rows) * vocab]
                .chunks_exact(vocab)
                .enumerate()
            {
                let tok = s.sampler.sample(row);
                s.accept(tok, tk, r, self.ctx, stop_hold(r), on_text.as_deref_mut())?;
                if s.finish.is_some() || i + 1 == rows || fed[i + 1] != tok {
                    break;
                }
                kept += 1;
            }
            if kept + 1 < rows {
                s.cache.truncate(start + 1 + kept, model.kv_dim());
            }
            at += rows;
        }
        // Prompts whose prefill completed: first token of each sample.
        let mut still = Vec::with_capacity(self.prefilling.len());
        let mut rows = logits[at * vocab..].chunks_exact(vocab);
        for mut p in std::mem::take(&mut self.prefilling) {
            if p.take == 0 {
                still.push(p);
                continue;
            }
            let row = rows
                .next()
                .expect("a logits row for each prompt chunk in the pass");
            p.done += p.take;
            if p.done < p.ids.len() {
                still.push(p);
                continue;
            }
            let keep = p.ids.len().min(PREFIX_MAX);
            self.prefixes.truncate(PREFIXES - 1);
            self.prefixes.push_front(Prefix {
                cache: p.cache.prefix(keep, model.kv_dim()),
                ids: p.ids[..keep].to_vec(),
            });
            let st = self
                .reqs
                .get_mut(&p.req)
                .expect("prefilling requests are known");
            let adm = st.admitted.unwrap_or(now);
            st.timing.prefill_s = (now - adm).as_secs_f64();
            st.timing.ttft_s = (now - adm).as_secs_f64();
            st.first_token = Some(now);
            let r = &st.req;
            let prompt: Arc<[u32]> = p.ids.into();
            for i in 0..r.n {
                let cache = if i + 1 == r.n {
                    std::mem::replace(&mut p.cache, KvCache::new(0))
                } else {
                    p.cache.clone()
                };
                let mut seq = Seq {
                    req: p.req,
                    sample: i,
                    cache,
                    feed: Vec::new(),
                    prompt: prompt.clone(),
                    ids: Vec::new(),
                    sampler: Sampler::new(&r.params, r.params.seed.wrapping_add(i as u64)),
                    detok: Detokenizer::default(),
                    text: String::new(),
                    streamed: 0,
                    finish: None,
                };
                let tok = seq.sampler.sample(row);
                seq.accept(tok, tk, r, self.ctx, stop_hold(r), on_text.as_deref_mut())?;
                self.active.push(seq);
            }
        }
        self.prefilling = still;
        self.logits = logits;
        self.retire(on_done);
        Ok(())
    }

    fn admit(
        &mut self,
        model: &Model,
        tk: &Tokenizer,
        on_done: &mut dyn FnMut(usize, Result<Generation>),
    ) {
        while let Some(&id) = self.queue.front() {
            let n = self.reqs[&id].req.n;
            let used: usize = self.active.len()
                + self
                    .prefilling
                    .iter()
                    .map(|p| self.reqs[&p.req].req.n)
                    .sum::<usize>();
            if used > 0 && used + n > self.max_batch {
                break;
            }
            self.queue.pop_front();
            let st = self.reqs.get_mut(&id).expect("queued requests are known");
            let now = Instant::now();
            st.admitted = Some(now);
            st.timing.queue_s = (now - st.submitted).as_secs_f64();
            let ids = match tk.encode(&st.req.prompt) {
                _ if n == 0 => {
                    let timing = st.timing.clone();
                    self.reqs.remove(&id);
                    on_done(
                        id,
                        Ok(Generation {
                            samples: vec![],
                            timing,
                        }),
                    );
                    continue;
                }
                Ok(ids) if ids.is_empty() => Err(Error::Request("empty prompt".into())),
                Ok(ids) if ids.len() >= self.ctx => Err(Error::PromptTooLong {
                    prompt: ids.len(),
                    context: self.ctx,
                }),
                other => other,
            };
            match ids {
                Ok(ids) => {
                    st.timing.prompt_tokens = ids.len();
                    self.prefilling.push(Prefill {
                        req: id,
                        ids,
                        done: 0,
                        take: 0,
                        cache: model.new_cache(),
                    });
                }
                Err(e) => {
                    self.reqs.remove(&id);
                    on_done(id, Err(e));
                }
            }
        }
    }

    /// Sets how many tokens each prompt feeds this pass: up to `chunk` in all, in order of
    /// arrival. A prompt that has fed nothing yet first copies the longest prefix it shares
    /// with a recent prompt or one being prefilled (rows of a pass do not depend on
    /// each other, so the copied keys and values are exactly those it would compute); while
    /// a prompt ahead of it has yet to compute more of their common prefix, it waits.
    fn plan_prefill(&mut self, kv_dim: usize) {
        let mut budget = self.chunk;
        for i in 0..self.prefilling.len() {
            let (before, rest) = self.prefilling.split_at_mut(i);
            let p = &mut rest[0];
            p.take = 0;
            if p.done == 0 {
                let last = p.ids.len() - 1;
                let cached = self
                    .prefixes
                    .iter()
                    .map(|d| (&d.ids[..], &d.cache))
                    .chain(before.iter().map(|q| (&q.ids[..q.done], &q.cache)));
                let best = cached
                    .map(|(ids, cache)| (common(ids, &p.ids).min(last), cache))
                    .max_by_key(|&(n, _)| n);
                let have = best.as_ref().map_or(0, |&(n, _)| n);
                // A prompt ahead of it will have computed more of their common prefix.
                let ahead = before
                    .iter()
                    .map(|q| common(&q.ids, &p.ids).min(last))
                    .max()
                    .unwrap_or(0);
                if ahead >= SHARE_MIN && ahead > have {
                    continue;
                }
                if let Some((n, cache)) = best.filter(|&(n, _)| n >= SHARE_MIN) {
                    p.cache = cache.prefix(n, kv_dim);
                    p.done = n;
                    if let Some(r) = self.reqs.get_mut(&p.req) {
                        r.timing.cached_tokens = n;
                    }
                }
            }
            p.take = (p.ids.len() - p.done).min(budget);
            budget -= p.take;
        }
    }

    /// Sets each decoding sequence's draft for this step: none while many rows run (the pass
    /// is arithmetic-bound there and a wrong draft would cost), else as many tokens as keep
    /// the pass within [`DRAFT_ROWS`] rows.
    fn draft_all(&mut self) {
        let n = self.active.len();
        let per_seq = if self.draft == 0 || !self.prefilling.is_empty() || n == 0 {
            0
        } else {
            (DRAFT_ROWS / n).saturating_sub(1).min(self.draft)
        };
        for s in self.active.iter_mut() {
            let r = &self.reqs[&s.req].req;
            // Never past the token limit, nor near the context's end: `accept` sees the cache
            // with the whole draft in it, and must judge the context as plain decoding would.
            let room = (r.params.max_new_tokens.saturating_sub(s.ids.len() + 1))
                .min(self.ctx.saturating_sub(s.cache.len() + 3));
            let want = if r.params.temperature <= 0.0 {
                per_seq.min(room)
            } else {
                0
            };
            s.feed.truncate(1);
            if want > 0 {
                let draft = lookup(&s.prompt, &s.ids, want);
                s.feed.extend_from_slice(&draft);
            }
        }
    }

    /// One forward pass: every decoding sequence's token (and draft), a chunk of every prompt;
    /// the logits of each decoding row, then the last position's of each prompt chunk.
    fn forward(&mut self, model: &Model, logits: &mut Vec<f32>) -> Result<usize> {
        let mut segs: Vec<Segment<'_>> =
            Vec::with_capacity(self.active.len() + self.prefilling.len());
        for s in self.active.iter_mut() {
            segs.push(Segment {
                all_logits: s.feed.len() > 1,
                tokens: &s.feed,
                cache: &mut s.cache,
            });
        }
        for p in self.prefilling.iter_mut().filter(|p| p.take > 0) {
            segs.push(Segment {
                tokens: &p.ids[p.done..p.done + p.take],
                cache: &mut p.cache,
                all_logits: false,
            });
        }
        model.forward_into(&mut segs, logits)
    }

    /// Removes finished sequences; reports requests whose samples are all done.
    fn retire(&mut self, on_done: &mut dyn FnMut(usize, Result<Generation>)) {
        let mut i = 0;
        while i < self.active.len() {
            if self.active[i].finish.is_none() {
                i += 1;
                continue;
            }
            let s = self.active.swap_remove(i);
            let st = self
                .reqs
                .get_mut(&s.req)
                .expect("active requests are known");
            st.timing.generated_tokens += s.ids.len();
            st.samples[s.sample] = Some(Sample {
                text: s.text,
                tokens: s.ids.len(),
                finish: s.finish.unwrap_or(FinishReason::Length),
            });
            st.left -= 1;
            if st.left > 0 {
                continue;
            }
            let mut st = self.reqs.remove(&s.req).expect("present above");
            let end = Instant::now();
            let adm = st.admitted.unwrap_or(st.submitted);
            st.timing.decode_s = (end - st.first_token.unwrap_or(end)).as_secs_f64();
            st.timing.total_s = (end - adm).as_secs_f64();
            let samples = st
                .samples
                .into_iter()
                .map(|x| x.expect("every sample finished"))
                .collect();
            on_done(
                s.req,
                Ok(Generation {
                    samples,
                    timing: st.timing,
                }),
            );
        }
    }
}

/// Bytes of text held back from streaming: a stop string may still be completing.
fn stop_hold(r: &GenRequest) -> usize {
    r.params
        .stop
        .iter()
        .map(|s| s.len())
        .max()
        .unwrap_or(1)
        .max(1)
        - 1
}

struct Prefill {
    req: usize,
    ids: Vec<u32>,
    /// Tokens in `cache`.
    done: usize,
    /// Tokens this pass feeds (0: waits a pass).
    take: usize,
    cache: KvCache,
}

/// Tokens a new prompt must share with a cached one to copy its KV cache (or to wait a pass
/// for one being computed): below this, computing them costs less than waiting.
const SHARE_MIN: usize = 16;

/// Prompt tokens kept for sharing: shared prefixes are system prompts and instructions.
const PREFIX_MAX: usize = 512;

/// Recent prompts kept for sharing (clients with different system prompts interleave).
const PREFIXES: usize = 4;

/// Length of the common prefix of `a` and `b`.
fn common(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Rows of a pass below which sequences feed drafts: the pass costs about the same up to
/// there (one weight read; 16-row tiles on AMX).
const DRAFT_ROWS: usize = 32;

/// Up to `max` tokens that followed the last earlier occurrence of the final 3 (else 2, else
/// 1) tokens of `prompt` + `out`.
fn lookup(prompt: &[u32], out: &[u32], max: usize) -> Vec<u32> {
    let len = prompt.len() + out.len();
    let at = |i: usize| {
        if i < prompt.len() {
            prompt[i]
        } else {
            out[i - prompt.len()]
        }
    };
    for n in (1..=3).rev() {
        if len <= n {
            continue;
        }
        let found = (0..len - n)
            .rev()
            .find(|&st| (0..n).all(|j| at(st + j) == at(len - n + j)));
        if let Some(st) = found {
            return (st + n..(st + n + max).min(len)).map(at).collect();
        }
    }
    Vec::new()
}

struct Seq {
    req: usize,
    sample: usize,
    cache: KvCache,
    /// What the next pass feeds: the last token, then this step's draft.
    feed: Vec<u32>,
    prompt: Arc<[u32]>,
    ids: Vec<u32>,
    sampler: Sampler,
    detok: Detokenizer,
    text: String,
    streamed: usize,
    finish: Option<FinishReason>,
}

impl Seq {
    /// Takes a sampled token: records it, extends the text, and decides whether to stop.
    fn accept(
        &mut self,
        tok: u32,
        tk: &Tokenizer,
        r: &GenRequest,
        ctx: usize,
        hold: usize,
        on_text: Option<&mut OnText<'_>>,
    ) -> Result<()> {
        if tk.is_eos(tok) && !r.params.ignore_eos {
            self.finish = Some(FinishReason::Eos);
        } else {
            self.ids.push(tok);
            self.feed.clear();
            self.feed.push(tok);
            let piece = self.detok.step(tk, &self.ids)?;
            if !piece.is_empty() {
                let from = self.text.len().saturating_sub(hold + piece.len());
                self.text.push_str(&piece);
                if let Some(cut) = find_stop(&self.text, from, &r.params.stop) {
                    self.text.truncate(cut);
                    self.finish = Some(FinishReason::Stop);
                }
            }
            if self.finish.is_none() {
                if self.ids.len() >= r.params.max_new_tokens {
                    self.finish = Some(FinishReason::Length);
                } else if self.cache.len() + 1 >= ctx {
                    self.finish = Some(FinishReason::Context);
                }
            }
        }
        if self.finish.is_some() && self.finish != Some(FinishReason::Stop) {
            // Bytes still held by the detokenizer (an incomplete character at the very end).
            let full = tk.decode(&self.ids)?;
            if full.len() > self.text.len() && full.starts_with(&self.text) {
                self.text = full;
            }
        }
        // Stream what can no longer turn out to be the start of a stop string.
        let safe = if self.finish.is_some() {
            self.text.len()
        } else {
            floor_boundary(&self.text, self.text.len().saturating_sub(hold))
        };
        if safe > self.streamed {
            if let Some(cb) = on_text {
                cb(self.req, self.sample, &self.text[self.streamed..safe]);
            }
            self.streamed = safe;
        }
        Ok(())
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Byte offset of the earliest stop string starting at or after `from`.
fn find_stop(text: &str, from: usize, stops: &[String]) -> Option<usize> {
    let from = floor_boundary(text, from);
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text[from..].find(s.as_str()).map(|i| from + i))
        .min()
}

#[cfg(test)]
mod tests {
    use super::lookup;

    #[test]
    fn lookup_continues_the_last_earlier_match() {
        // "1 2 3 | 9 1 2 3" : the final 3 tokens occurred at the start, followed by 9 1 2.
        assert_eq!(lookup(&[1, 2, 3, 9], &[1, 2, 3], 3), [9, 1, 2]);
        // The most recent occurrence wins, and the continuation may run into the output.
        assert_eq!(lookup(&[5, 6, 1, 5, 6], &[2, 7, 5, 6], 2), [2, 7]);
        // Shorter n-grams when longer ones never occurred before.
        assert_eq!(lookup(&[4, 8, 1], &[3, 8], 4), [1, 3, 8]);
        assert!(lookup(&[1, 2], &[3], 4).is_empty());
        assert!(lookup(&[], &[7], 4).is_empty());
    }
}
