//! The dashboard in a real headless Chromium, driven through chromedriver (W3C WebDriver over
//! plain HTTP): pages load without console errors and fit a phone's width, a filter narrows
//! the runs table and its CSV export holds exactly those rows, three variants are compared,
//! the Pareto chart's points are the store's values, and live progress advances while a sweep
//! commits samples. Needs Debian's `chromium` and
//! `chromium-driver` (scripts/test installs them); without them the tests fail.

mod common;

use common::{advance_live, fixture, get, start, variants_a, PROBLEMS};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One chromedriver process and one browser session, both ended on drop.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
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
            .expect("chromedriver not found: apt-get install chromium chromium-driver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let t0 = Instant::now();
        while agent.get(format!("{base}/status")).call().is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800",
                format!("--user-data-dir={}", profile.path().display()),
            ]},
        }}});
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
            agent,
            _profile: profile,
        };
        let v = b.post("/session", caps);
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        b
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let mut r = self
            .agent
            .post(format!("{}{path}", self.base))
            .send_json(body)
            .unwrap();
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        assert!(v["value"].get("error").is_none(), "{path}: {v}");
        v["value"].clone()
    }

    fn cmd(&self, what: &str, body: Value) -> Value {
        self.post(&format!("/session/{}/{what}", self.session), body)
    }

    fn goto(&self, url: &str) {
        self.cmd("url", json!({ "url": url }));
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    fn js(&self, script: &str) -> Value {
        self.cmd("execute/sync", json!({"script": script, "args": []}))
    }

    /// The browser console's errors since the last call.
    fn console_errors(&self) -> Vec<String> {
        let logs = self.cmd("se/log", json!({"type": "browser"}));
        logs.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].to_string())
            .collect()
    }

    fn rows(&self, table: &str) -> Vec<String> {
        let v = self.js(&format!(
            "return [...document.querySelectorAll('{table} tbody tr')].map(r => r.cells[0].innerText.trim());"
        ));
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .agent
            .delete(format!("{}/session/{}", self.base, self.session))
            .call();
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
    assert_eq!(b.console_errors().len(), 1);
    for (w, h) in [(1280, 800), (390, 844)] {
        b.cmd("window/rect", json!({"width": w, "height": h}));
        b.goto(&format!("{url}/"));
        let inner = b.js("return window.innerWidth;").as_i64().unwrap();
        assert!(
            inner <= w && inner > w - 40,
            "window {inner}px wide, asked {w}px"
        );
        for path in [
            "/",
            "/runs/sweep-a",
            "/runs/sweep-a/compare",
            "/runs/sweep-a/pareto",
            "/runs/sweep-a/problems",
            "/runs/sweep-a/sample?result=1&task=HumanEval%2F0",
            "/runs/live/progress",
            "/routing",
        ] {
            b.goto(&format!("{url}{path}"));
            assert_eq!(b.js("return document.readyState;"), "complete", "{path}");
            assert_eq!(b.console_errors(), Vec::<String>::new(), "{path} at {w}px");
            // Wide tables scroll inside their own box; the page itself never scrolls sideways.
            let overflow = b.js("return document.documentElement.scrollWidth - window.innerWidth;");
            assert!(
                overflow.as_i64().unwrap() <= 0,
                "{path} at {w}px: {overflow}px too wide"
            );
        }
    }
}

#[test]
fn a_filter_narrows_the_table_and_the_csv_holds_those_rows() {
    let dir = tempfile::tempdir().unwrap();
    let url = start(&fixture(dir.path()), None);
    let b = Browser::start();
    b.goto(&format!("{url}/"));
    assert_eq!(b.rows("#runs"), ["live", "sweep-b", "sweep-a"]);
    b.js("const f = document.querySelector('form.filters'); \
          f.querySelector('select[name=model]').value = 'tiny-b'; \
          f.querySelector('button[type=submit]').click();");
    let t0 = Instant::now();
    while b.rows("#runs").len() != 1 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{:?}",
            b.rows("#runs")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(b.rows("#runs"), ["sweep-b"]);
    let href = b.js("return document.querySelector('a[href*=\"format=csv\"]').href;");
    let (status, _, csv) = get(href.as_str().unwrap());
    assert_eq!(status, 200);
    let names: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(names, ["sweep-b"], "{csv}");
}

#[test]
fn three_variants_are_compared() {
    let dir = tempfile::tempdir().unwrap();
    let url = start(&fixture(dir.path()), None);
    let b = Browser::start();
    b.goto(&format!("{url}/runs/sweep-a/compare"));
    b.js(
        "const boxes = [...document.querySelectorAll('input[type=checkbox][name=v]')]; \
          boxes.forEach((c, i) => c.checked = i < 3); \
          boxes[0].form.querySelector('button[type=submit]').click();",
    );
    let t0 = Instant::now();
    while b
        .js("return location.search;")
        .as_str()
        .unwrap()
        .matches("v=")
        .count()
        != 3
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the form was not sent"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = b.js("return document.body.innerText;");
    let text = text.as_str().unwrap();
    for label in ["original", "q8_0", "q4_0"] {
        assert!(text.contains(label), "{label} missing");
    }
    assert!(text.contains("p = "), "McNemar shown");
    assert_eq!(b.console_errors(), Vec::<String>::new());
}

#[test]
fn the_pareto_points_are_the_stores_values() {
    let dir = tempfile::tempdir().unwrap();
    let url = start(&fixture(dir.path()), None);
    let b = Browser::start();
    b.goto(&format!(
        "{url}/runs/sweep-a/pareto?quality=humaneval/pass@1&cost=size_bytes"
    ));
    let points = b.js(
        "return [...document.querySelectorAll('svg a.point')].map(p => \
         [Number(p.dataset.cost), Number(p.dataset.quality)]);",
    );
    let mut got: Vec<(u64, f64)> = points
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_f64().unwrap() as u64, p[1].as_f64().unwrap()))
        .collect();
    let mut want: Vec<(u64, f64)> = variants_a()
        .into_iter()
        .map(|(_, _, _, size, _, solved)| {
            let passed = solved.iter().filter(|s| **s).count();
            (size, passed as f64 / PROBLEMS as f64)
        })
        .collect();
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(&want) {
        assert!(
            g.0 == w.0 && (g.1 - w.1).abs() < 1e-12,
            "{got:?} against {want:?}"
        );
    }
}

/// The number before "samples committed" in the progress summary.
fn committed(b: &Browser) -> u64 {
    let text = b.js("return document.getElementById('progress-summary').textContent;");
    let text = text.as_str().unwrap();
    let before = text.split(" samples committed").next().unwrap();
    before
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{text}"))
}

#[test]
fn live_progress_advances_while_the_sweep_commits_samples() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture(dir.path());
    let url = start(&path, None);
    let b = Browser::start();
    b.goto(&format!("{url}/runs/live/progress"));
    let first = committed(&b);
    b.js("window.notReloaded = true;");
    // The sweep (here: the test, through the store's API) commits more while the page stays.
    advance_live(&path, 3, 4);
    let t0 = Instant::now();
    while committed(&b) != first + 4 {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "still {} samples, {first} before",
            committed(&b)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        b.js("return performance.getEntriesByType('navigation').length;"),
        1
    );
    assert_eq!(b.console_errors(), Vec::<String>::new());
}
