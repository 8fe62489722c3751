//! The dashboard over HTTP, without a browser: every page answers, filters narrow the runs,
//! exports hold the rows the page shows, errors are pages with the right status.

mod common;

use common::{fixture, get, start, PAGES};

fn csv_lines(body: &str) -> Vec<Vec<String>> {
    // The fixture's fields hold no quotes or newlines; commas only inside quoted lists.
    body.lines()
        .map(|l| {
            let mut out = Vec::new();
            let (mut cur, mut quoted) = (String::new(), false);
            for c in l.chars() {
                match c {
                    '"' => quoted = !quoted,
                    ',' if !quoted => out.push(std::mem::take(&mut cur)),
                    c => cur.push(c),
                }
            }
            out.push(cur);
            out
        })
        .collect()
}

#[test]
fn every_page_answers() {
    let dir = tempfile::tempdir().unwrap();
    let url = start(&fixture(dir.path()), None);
    for path in PAGES {
        let (status, kind, body) = get(&format!("{url}{path}"));
        assert_eq!(status, 200, "{path}: {body}");
        assert!(kind.starts_with("text/html"), "{path}: {kind}");
        assert!(body.contains("</html>"), "{path}");
    }
    for (path, want) in [
        ("/runs/nope", 404),
        ("/runs/sweep-a/sample?result=1", 400),
        ("/runs/sweep-a/sample?result=1&task=nope", 404),
        ("/runs/sweep-a?format=xml", 400),
    ] {
        let (status, kind, _) = get(&format!("{url}{path}"));
        assert_eq!(
            (status, kind.starts_with("text/html")),
            (want, true),
            "{path}"
        );
    }
    let (_, kind, css) = get(&format!("{url}/assets/dashboard.css"));
    assert!(kind.starts_with("text/css") && css.contains("@media"));
}

#[test]
fn filters_narrow_the_runs_and_the_export_follows() {
    let dir = tempfile::tempdir().unwrap();
    let url = start(&fixture(dir.path()), None);
    let names = |q: &str| -> Vec<String> {
        let (status, kind, body) = get(&format!("{url}/?{q}&format=csv"));
        assert_eq!(status, 200);
        assert!(kind.starts_with("text/csv"));
        csv_lines(&body)[1..].iter().map(|r| r[0].clone()).collect()
    };
    assert_eq!(names(""), ["live", "sweep-b", "sweep-a"], "newest first");
    assert_eq!(names("model=tiny-b"), ["sweep-b"]);
    assert_eq!(names("method=wanda"), ["sweep-a"]);
    assert_eq!(
        names("bench=humaneval&sort=name&dir=asc"),
        ["live", "sweep-a"]
    );
    assert_eq!(names("status=running"), ["live"]);
    assert_eq!(names("q=SWEEP&sort=name&dir=asc"), ["sweep-a", "sweep-b"]);
    assert!(names("from=2999-01-01").is_empty());
    assert_eq!(names("to=2999-01-01").len(), 3);
    let (_, _, json) = get(&format!("{url}/?model=tiny-a&format=json"));
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["run"], "sweep-a");
    assert_eq!(rows[0]["variants"], 4.0);
    assert_eq!(rows[0]["methods"], "original, rtn, wanda");
}

#[test]
fn compare_exports_the_picked_variants_against_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture(dir.path());
    let url = start(&path, None);
    let store = tradeoff_store::Store::open(&path).unwrap();
    let vs = store.variants(1).unwrap();
    let q: Vec<String> = vs[..3]
        .iter()
        .map(|v| format!("v={}", v.variant.id))
        .collect();
    let (_, _, body) = get(&format!(
        "{url}/runs/sweep-a/compare?{}&format=csv",
        q.join("&")
    ));
    let lines = csv_lines(&body);
    assert_eq!(
        lines[0],
        [
            "kind",
            "result",
            "metric",
            "original",
            "q8_0",
            "q8_0 Δ vs baseline",
            "q4_0",
            "q4_0 Δ vs baseline"
        ]
    );
    let pass = lines.iter().find(|r| r[2] == "pass@1").unwrap();
    assert_eq!(pass[3].parse::<f64>().unwrap(), 0.8);
    assert!(
        (pass[5].parse::<f64>().unwrap() + 0.1).abs() < 1e-9,
        "{pass:?}"
    );
    let (_, _, html) = get(&format!("{url}/runs/sweep-a/compare?{}", q.join("&")));
    assert!(html.contains("p = "), "McNemar shown");
    assert!(html.contains("<svg"), "bars drawn");
}

#[test]
fn pdf_of_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let url = start(&fixture(dir.path()), None);
    assert!(
        tradeoff_report::pdf::find_browser().is_some(),
        "no Chromium: apt-get install chromium chromium-driver"
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(format!("{url}/runs/sweep-a/report.pdf"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let bytes = r
        .body_mut()
        .with_config()
        .limit(1 << 26)
        .read_to_vec()
        .unwrap();
    assert!(bytes.starts_with(b"%PDF"), "{} bytes", bytes.len());
}
