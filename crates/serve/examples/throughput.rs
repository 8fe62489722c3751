//! Serving throughput, tradeoff against llama-server, on the same GGUF and the same requests in
//! one run: N clients each send their share of M code-completion requests (greedy, fixed
//! max_tokens) to `tradeoff serve` and to `llama-server --parallel N`; prints generated tokens
//! per second for both and their ratio. The servers run one at a time, alternating, so neither
//! competes with the other for cores.
//!
//!   bin=$(scripts/llama-cpp.sh)
//!   cargo build --release -p tradeoff -p tradeoff-serve --examples
//!   target/release/examples/throughput --model ~/.cache/tradeoff/models/qwen2.5-coder-0.5b/*.gguf \
//!       --llama-server "$bin/llama-server" --clients 8 --requests 32

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Code prompts in the style of HumanEval: a signature and a docstring to complete.
const PROMPTS: [&str; 8] = [
    "def is_palindrome(s: str) -> bool:\n    \"\"\"Return True if s reads the same backwards, ignoring case.\"\"\"\n",
    "def running_max(xs: list[int]) -> list[int]:\n    \"\"\"Return the running maximum of xs.\"\"\"\n",
    "def count_vowels(s: str) -> int:\n    \"\"\"Count the vowels in s.\"\"\"\n",
    "def flatten(xss: list[list[int]]) -> list[int]:\n    \"\"\"Flatten a list of lists.\"\"\"\n",
    "def gcd(a: int, b: int) -> int:\n    \"\"\"Greatest common divisor of a and b.\"\"\"\n",
    "def word_freq(text: str) -> dict[str, int]:\n    \"\"\"Count how often each word occurs in text.\"\"\"\n",
    "def merge_sorted(a: list[int], b: list[int]) -> list[int]:\n    \"\"\"Merge two sorted lists.\"\"\"\n",
    "def to_roman(n: int) -> str:\n    \"\"\"Write n in Roman numerals.\"\"\"\n",
];

#[derive(Clone)]
struct Args {
    model: PathBuf,
    llama_server: PathBuf,
    tradeoff: PathBuf,
    clients: usize,
    requests: usize,
    max_tokens: usize,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args {
        model: PathBuf::new(),
        llama_server: PathBuf::new(),
        tradeoff: PathBuf::from("target/release/tradeoff"),
        clients: 8,
        requests: 32,
        max_tokens: 128,
        rounds: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => a.model = v.into(),
            "--llama-server" => a.llama_server = v.into(),
            "--tradeoff" => a.tradeoff = v.into(),
            "--clients" => a.clients = v.parse().expect("--clients N"),
            "--requests" => a.requests = v.parse().expect("--requests N"),
            "--max-tokens" => a.max_tokens = v.parse().expect("--max-tokens N"),
            "--rounds" => a.rounds = v.parse().expect("--rounds N"),
            _ => panic!("unknown flag {flag} (see the top of examples/throughput.rs)"),
        }
    }
    assert!(
        a.model.is_file() && a.llama_server.is_file(),
        "--model GGUF and --llama-server PATH are required"
    );
    a
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server under test, killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(a: &Args, which: &str) -> Server {
    let port = free_port();
    let mut cmd = if which == "llama-server" {
        let mut c = Command::new(&a.llama_server);
        c.arg("-m").arg(&a.model);
        c.args(["--host", "127.0.0.1", "--port", &port.to_string()]);
        c.args(["--parallel", &a.clients.to_string(), "-t", "2"]);
        // Every slot gets 2048 tokens of context, as much as one tradeoff sequence needs here.
        c.args(["-c", &(2048 * a.clients).to_string()]);
        c
    } else {
        let mut c = Command::new(&a.tradeoff);
        c.args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--log",
            "/dev/null",
        ]);
        c.arg("--tier").arg(format!("m={}", a.model.display()));
        c
    };
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {which}: {e}"));
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(r) = ureq::get(format!("{}/health", server.url)).call() {
            if r.status() == 200 {
                return server;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{which} did not become healthy within 120 s");
}

/// Sends every request with `clients` at a time; returns (completion tokens, seconds).
fn load(a: &Args, url: &str) -> (u64, f64) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let t0 = Instant::now();
    let tokens: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..a.clients)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= a.requests {
                            return n;
                        }
                        let body = serde_json::json!({
                            "model": "m",
                            "prompt": PROMPTS[i % PROMPTS.len()],
                            "max_tokens": a.max_tokens,
                            "temperature": 0.0,
                        });
                        let v: serde_json::Value = ureq::post(format!("{url}/v1/completions"))
                            .send_json(body)
                            .expect("request")
                            .body_mut()
                            .read_json()
                            .expect("response");
                        n += v["usage"]["completion_tokens"].as_u64().expect("usage");
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    (tokens, t0.elapsed().as_secs_f64())
}

fn main() {
    let a = args();
    println!(
        "{} requests, {} clients, max_tokens {}, greedy; model {}",
        a.requests,
        a.clients,
        a.max_tokens,
        a.model.display()
    );
    let mut best = [0.0f64; 2];
    for round in 1..=a.rounds {
        for (k, which) in ["llama-server", "tradeoff"].into_iter().enumerate() {
            let server = start(&a, which);
            load(
                &Args {
                    requests: a.clients,
                    ..a.clone()
                },
                &server.url,
            ); // warm-up
            let (tokens, secs) = load(&a, &server.url);
            let rate = tokens as f64 / secs;
            println!(
                "round {round} {which:<13} {tokens:>6} tokens in {secs:>7.2} s = {rate:>7.1} tok/s"
            );
            best[k] = best[k].max(rate);
        }
    }
    println!(
        "tradeoff serve / llama-server throughput (best rounds): {:.2}x",
        best[1] / best[0]
    );
}
