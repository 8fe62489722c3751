//! The dashboard in a real headless Chromium, driven through chromedriver (W3C WebDriver over
//! plain HTTP): pages load without console errors and fit a phone's width, a filter narrows
//! the runs table, its CSV export holds exactly the rows shown, three variants are compared,
//! the Pareto chart's points are the store's values, live progress advances while a sweep
//! commits samples, and a manual override on the routing page changes the answering variant.
//! Needs Debian's `chromium` and `chromium-driver` (scripts/test installs them); without them
//! the tests fail.

mod common;

use common::{advance_live, fixture, get, start, PAGES};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tradeoff_engine::testing::{write_tiny_gguf, TinySpec};
use tradeoff_engine::{Arch, LoadOptions, LocalEngine, ModelPath, Scheduler};
use tradeoff_route::{Policy, PolicyArgs};
use tradeoff_serve::openai::Limits;
use tradeoff_serve::{App, Options, Tier};
use tradeoff_store::Store;

const PACKAGES: &str =
    "the browser tests need Chromium and its driver: apt-get install chromium chromium-driver";
/// The key of an element reference in W3C WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Polls `f` until it gives a value; fails naming `what` after ten seconds.
fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One chromedriver process and one browser session, both ended on drop.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    /// Chromium's profile, fresh for each session and removed after.
    profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("chromedriver: {e}; {PACKAGES}"));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let profile = tempfile::tempdir().unwrap();
        let mut b = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            agent,
            profile,
        };
        until("chromedriver to listen", || {
            b.agent.get(format!("{}/status", b.base)).call().ok()
        });
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800",
                format!("--user-data-dir={}", b.profile.path().display()),
            ]},
        }}});
        let v = b.answer("/session", Some(caps));
        b.session = match v["sessionId"].as_str() {
            Some(s) => s.to_string(),
            None => panic!("no browser session ({v}); {PACKAGES}"),
        };
        // Finding an element waits this long for it to appear (pages update themselves).
        b.post("timeouts", json!({"implicit": 5000}));
        b
    }

    /// The value of one WebDriver request, a POST with a body or else a GET.
    fn answer(&self, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let mut r = match body {
            Some(b) => self.agent.post(url).send_json(b),
            None => self.agent.get(url).call(),
        }
        .unwrap();
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        v["value"].clone()
    }

    /// As [`Browser::answer`], failing on a WebDriver error.
    fn call(&self, path: &str, body: Option<Value>) -> Value {
        let v = self.answer(path, body);
        assert!(v.get("error").is_none(), "{path}: {v}");
        v
    }

    /// A command of this session.
    fn post(&self, what: &str, body: Value) -> Value {
        self.call(&format!("/session/{}/{what}", self.session), Some(body))
    }

    fn get(&self, what: &str) -> Value {
        self.call(&format!("/session/{}/{what}", self.session), None)
    }

    fn goto(&self, url: &str) {
        self.post("url", json!({ "url": url }));
    }

    fn resize(&self, width: i64, height: i64) {
        self.post("window/rect", json!({"width": width, "height": height}));
    }

    /// The first element matching an XPath (by label or text, as a user finds it).
    fn find(&self, xpath: &str) -> String {
        let v = self.post("element", json!({"using": "xpath", "value": xpath}));
        v[ELEMENT].as_str().unwrap().to_string()
    }

    /// The form control labelled `label`.
    fn field(&self, label: &str) -> String {
        self.find(&format!(
            "//label[starts-with(normalize-space(.), '{label}')]\
             //*[self::input or self::select or self::textarea]"
        ))
    }

    fn button(&self, text: &str) -> String {
        self.find(&format!("//button[normalize-space(.)='{text}']"))
    }

    fn click(&self, el: &str) {
        self.post(&format!("element/{el}/click"), json!({}));
    }

    /// Picks `option` in the select labelled `label`, by clicking it.
    fn choose(&self, label: &str, option: &str) {
        let select = self.field(label);
        let v = self.post(
            &format!("element/{select}/element"),
            json!({"using": "xpath", "value": format!("./option[normalize-space(.)='{option}']")}),
        );
        self.click(v[ELEMENT].as_str().unwrap());
    }

    fn type_in(&self, el: &str, text: &str) {
        self.post(&format!("element/{el}/value"), json!({ "text": text }));
    }

    fn text(&self, el: &str) -> String {
        let v = self.get(&format!("element/{el}/text"));
        v.as_str().unwrap().to_string()
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    fn execute(&self, script: &str) -> Value {
        self.post("execute/sync", json!({"script": script, "args": []}))
    }

    /// The browser console's errors since the last call.
    fn logs(&self) -> Vec<String> {
        let logs = self.post("se/log", json!({"type": "browser"}));
        logs.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].to_string())
            .collect()
    }

    /// What makes the page scroll sideways (the first element past the window's right edge
    /// and outside any scrolling box), or null when it does not.
    fn too_wide(&self) -> Value {
        self.execute(
            "if (document.documentElement.scrollWidth <= innerWidth) return null; \
             const boxed = e => { for (let a = e.parentElement; a && a !== document.body; \
               a = a.parentElement) if (getComputedStyle(a).overflowX !== 'visible') return true; \
               return false; }; \
             const e = [...document.body.querySelectorAll('*')] \
               .find(e => e.getBoundingClientRect().right > innerWidth + 0.5 && !boxed(e)); \
             return e ? e.outerHTML.slice(0, 120) : 'the document';",
        )
    }

    /// The cells' text of each body row of the table with id `table`.
    fn rows(&self, table: &str) -> Vec<Vec<String>> {
        let v = self.execute(&format!(
            "return [...document.querySelectorAll('#{table} tbody tr')]\
             .map(r => [...r.cells].map(c => c.innerText.trim()));"
        ));
        serde_json::from_value(v).unwrap()
    }

    fn names(&self, table: &str) -> Vec<String> {
        self.rows(table).into_iter().map(|r| r[0].clone()).collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .agent
                .delete(format!("{}/session/{}", self.base, self.session))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[test]
fn every_page_loads_without_console_errors_at_desktop_and_phone_width() {
    let dir = tempfile::tempdir().unwrap();
    let url = start(&fixture(dir.path()), None);
    let b = Browser::start();
    // The check itself sees a page's errors.
    b.goto("data:text/html,<script>console.error('seen')</script>");
    assert_eq!(b.logs().len(), 1);
    for (w, h) in [(1280, 800), (390, 844)] {
        b.resize(w, h);
        b.goto(&format!("{url}/"));
        let inner = b.execute("return window.innerWidth;").as_i64().unwrap();
        assert!(inner <= w && inner > w - 40, "{inner}px wide, asked {w}px");
        for path in PAGES {
            b.goto(&format!("{url}{path}"));
            assert_eq!(b.logs(), Vec::<String>::new(), "{path} at {w}px");
            // Wide tables scroll inside their own box; the page itself never scrolls sideways.
            assert_eq!(b.too_wide(), Value::Null, "{path} at {w}px");
        }
    }
}

#[test]
fn the_runs_table_is_usable_at_phone_width() {
    let dir = tempfile::tempdir().unwrap();
    let url = start(&fixture(dir.path()), None);
    let b = Browser::start();
    b.resize(390, 844);
    b.goto(&format!("{url}/"));
    // The filter form stacks its controls, each inside the screen.
    let outside = b.execute(
        "return [...document.querySelectorAll('form.filters select, form.filters input, \
         form.filters button')].filter(e => e.getBoundingClientRect().right > innerWidth).length;",
    );
    assert_eq!(outside, 0);
    // The table's box fits the screen and a run's link in it opens the run.
    let right = b.execute(
        "return document.getElementById('runs').parentElement.getBoundingClientRect().right;",
    );
    assert!(
        right.as_f64().unwrap() <= 390.0,
        "table box ends at {right}px"
    );
    b.click(&b.find("//table[@id='runs']//a[normalize-space(.)='sweep-a']"));
    until("the run's page", || {
        (b.execute("return location.pathname;") != "/").then_some(())
    });
    assert!(b.text(&b.find("//h1")).contains("sweep-a"));
}

#[test]
fn a_filter_narrows_the_runs_table() {
    let dir = tempfile::tempdir().unwrap();
    let url = start(&fixture(dir.path()), None);
    let b = Browser::start();
    b.goto(&format!("{url}/"));
    assert_eq!(b.names("runs"), ["live", "sweep-b", "sweep-a"]);
    b.choose("Model", "tiny-b");
    b.click(&b.button("Filter"));
    until("one run left", || {
        (b.names("runs").len() == 1).then_some(())
    });
    assert_eq!(b.names("runs"), ["sweep-b"]);
    assert_eq!(b.logs(), Vec::<String>::new());
}

/// Fields of a CSV line; the dashboard quotes a field holding a comma (the fixture's fields
/// hold no quotes or newlines).
fn csv_fields(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[test]
fn the_csv_download_holds_the_filtered_rows() {
    let dir = tempfile::tempdir().unwrap();
    let url = start(&fixture(dir.path()), None);
    let b = Browser::start();
    b.goto(&format!("{url}/"));
    // Typed into the name search, submitted with Enter as a keyboard user would.
    b.type_in(&b.field("Name"), "sweep\u{E007}");
    until("two runs left", || {
        (b.names("runs").len() == 2).then_some(())
    });
    let shown = b.rows("runs");
    let link = b.find("//*[@aria-label='Export']/a[normalize-space(.)='CSV']");
    let href = b.get(&format!("element/{link}/property/href"));
    let (status, kind, csv) = get(href.as_str().unwrap());
    assert_eq!(
        (status, kind.starts_with("text/csv")),
        (200, true),
        "{href}"
    );
    let rows: Vec<Vec<String>> = csv.lines().skip(1).map(csv_fields).collect();
    assert_eq!(rows, shown, "{href}");
}

#[test]
fn three_variants_are_compared() {
    let dir = tempfile::tempdir().unwrap();
    let url = start(&fixture(dir.path()), None);
    let b = Browser::start();
    b.goto(&format!("{url}/runs/sweep-a/compare"));
    // All four are ticked at first; untick one and compare the other three.
    b.click(&b.field("wanda-50"));
    b.click(&b.button("Compare"));
    let head = |b: &Browser| {
        let v = b.execute(
            "return [...document.querySelectorAll('#compare thead th')].map(c => c.innerText.trim());",
        );
        serde_json::from_value::<Vec<String>>(v).unwrap()
    };
    until("three variants", || (head(&b).len() == 8).then_some(()));
    assert_eq!(
        head(&b),
        [
            "kind",
            "result",
            "metric",
            "original",
            "q8_0",
            "q8_0 Δ vs baseline",
            "q4_0",
            "q4_0 Δ vs baseline",
        ]
    );
    let pass1 = b
        .rows("compare")
        .into_iter()
        .find(|r| r[1] == "humaneval" && r[2] == "pass@1")
        .unwrap();
    // Δ with its CI and the McNemar p-value, for each candidate.
    for delta in [&pass1[5], &pass1[7]] {
        assert!(delta.contains("p = "), "{pass1:?}");
    }
    assert_eq!(b.logs(), Vec::<String>::new());
}

/// Each variant's HumanEval pass@1 in the run, as the sweep stored it.
fn humaneval_pass1(store: &Store, run: i64) -> BTreeMap<String, f64> {
    store
        .results(run)
        .unwrap()
        .iter()
        .filter(|r| r.name == "humaneval")
        .map(|r| (r.variant.clone(), r.metric("pass@1").unwrap().value))
        .collect()
}

#[test]
fn the_pareto_points_are_the_stores_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture(dir.path());
    let url = start(&path, None);
    let b = Browser::start();
    b.goto(&format!("{url}/runs/sweep-a/pareto"));
    b.choose("Quality", "humaneval/pass@1");
    b.choose("Cost", "size_bytes");
    b.click(&b.button("Show"));
    until("the chosen axes", || {
        let q = b.execute("return location.search;");
        q.as_str()
            .unwrap()
            .contains("cost=size_bytes")
            .then_some(())
    });
    let points = b.execute(
        "return [...document.querySelectorAll('svg a.point')].map(p => \
         [p.dataset.variant, Number(p.dataset.cost), Number(p.dataset.quality)]);",
    );
    let got: BTreeMap<String, (f64, f64)> =
        serde_json::from_value::<Vec<(String, f64, f64)>>(points)
            .unwrap()
            .into_iter()
            .map(|(v, c, q)| (v, (c, q)))
            .collect();
    // Each variant's size and humaneval pass@1, as the sweep stored them.
    let store = Store::open(&path).unwrap();
    let run = store.resolve_run("sweep-a").unwrap().id;
    let pass1 = humaneval_pass1(&store, run);
    let want: BTreeMap<String, (f64, f64)> = store
        .variants(run)
        .unwrap()
        .into_iter()
        .map(|v| {
            let size = v.variant.size_bytes.unwrap() as f64;
            (v.variant.id.clone(), (size, pass1[&v.variant.id]))
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_budget_names_the_variant_to_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture(dir.path());
    let url = start(&path, None);
    // From the store: every variant's size and pass@1; the budget is the middle size.
    let store = Store::open(&path).unwrap();
    let run = store.resolve_run("sweep-a").unwrap().id;
    let pass1 = humaneval_pass1(&store, run);
    let mut points: Vec<(f64, f64, String)> = store
        .variants(run)
        .unwrap()
        .into_iter()
        .map(|v| {
            let id = v.variant.id.clone();
            (
                v.variant.size_bytes.unwrap() as f64,
                pass1[&id],
                v.variant.label,
            )
        })
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let budget = points[points.len() / 2].0;
    let want = points
        .iter()
        .filter(|p| p.0 <= budget)
        .fold(None::<&(f64, f64, String)>, |best, p| match best {
            Some(b) if b.1 >= p.1 => Some(b),
            _ => Some(p),
        })
        .unwrap();
    let b = Browser::start();
    b.goto(&format!("{url}/runs/sweep-a/pareto"));
    b.choose("Quality", "humaneval/pass@1");
    b.choose("Cost", "size_bytes");
    b.type_in(&b.field("Budget"), &format!("{budget}"));
    b.click(&b.button("Show"));
    until("the advice", || {
        let q = b.execute("return location.search;");
        q.as_str().unwrap().contains("budget=").then_some(())
    });
    let advice = b.text(&b.find("//*[@id='advice']"));
    assert!(
        advice.contains(&format!("deploy {},", want.2)),
        "budget {budget}, want {}: {advice}",
        want.2
    );
    let fits: Vec<String> = b.rows("points").into_iter().map(|r| r[5].clone()).collect();
    assert_eq!(
        fits.iter().filter(|f| *f == "yes").count(),
        points.iter().filter(|p| p.0 <= budget).count()
    );
    assert_eq!(b.logs(), Vec::<String>::new());
}

#[test]
fn live_progress_advances_while_the_sweep_commits_samples() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture(dir.path());
    let url = start(&path, None);
    let b = Browser::start();
    b.goto(&format!("{url}/runs/live/progress"));
    // The samples column of q4_0's running step.
    let samples = |b: &Browser| {
        let row = b.rows("steps").into_iter().find(|r| r[0] == "q4_0");
        row.map(|r| r[4].clone()).unwrap()
    };
    assert_eq!(samples(&b), "3");
    b.execute("window.stayed = true;");
    // The sweep (here: the test, through the store's API) commits more while the page stays.
    for (from, n) in [(3, 3), (6, 4)] {
        advance_live(&path, from, n);
        let want = (from + n).to_string();
        until(&format!("{want} samples shown"), || {
            (samples(&b) == want).then_some(())
        });
    }
    assert_eq!(
        b.execute("return window.stayed === true;"),
        true,
        "reloaded"
    );
    assert_eq!(b.logs(), Vec::<String>::new());
}

/// Two tiny models served as tiers `small` and `large`; by default a prompt of up to 20
/// tokens goes to `small`.
fn tiny_app(dir: &Path) -> Arc<App> {
    let tier = |name: &str, seed| {
        let path = dir.join(format!("{name}.gguf"));
        let mut spec = TinySpec::new(Arch::Qwen2);
        spec.seed = seed;
        write_tiny_gguf(&path, &spec).unwrap();
        let engine = LocalEngine::load(&ModelPath::Gguf(path), LoadOptions::default()).unwrap();
        Tier::new(name, Arc::new(Scheduler::spawn(engine, 16).unwrap()))
    };
    let args = PolicyArgs {
        tiers: vec!["0".into(), "1".into()],
        ..PolicyArgs::default()
    };
    let tokens: Arc<dyn Policy> = tradeoff_route::policy("tokens", &args).unwrap().into();
    App::new(Options {
        tiers: vec![tier("small", 1), tier("large", 2)],
        policies: BTreeMap::from([("tokens".to_string(), tokens)]),
        default_policy: ("tokens".into(), 20.0),
        embedder: None,
        log: None,
        sinks: vec![],
        api_key: None,
        limits: Limits {
            max_tokens: 32,
            max_n: 1,
        },
        max_body: 4096,
    })
    .unwrap()
}

#[test]
fn an_override_on_the_routing_page_changes_the_answering_variant() {
    let dir = tempfile::tempdir().unwrap();
    let url = start(&fixture(dir.path()), Some(tiny_app(dir.path())));
    let b = Browser::start();
    b.goto(&format!("{url}/routing"));
    let answered = |b: &Browser, want: &str| {
        until(&format!("an answer from {want}"), || {
            let v = b.execute(
                "const e = document.getElementById('answered-by'); return e && e.textContent;",
            );
            (v == want).then_some(())
        })
    };
    // The default prompt is short: the policy picks the small model.
    b.click(&b.button("Send"));
    answered(&b, "small");
    b.choose("Manual override", "always large");
    b.click(&b.button("Send"));
    answered(&b, "large");
    assert_eq!(b.logs(), Vec::<String>::new());
}
