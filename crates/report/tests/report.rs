//! A hand-made run in a temp store, analysed and rendered: paired tests, frontiers, outputs.
//!
//! Set `TRADEOFF_REPORT_DEMO_DIR` to keep the store and the rendered report there (to look at
//! it, or to try `tradeoff runs` / `tradeoff report --store DIR/runs.sqlite` on it).

use tradeoff_report::*;
use tradeoff_store::*;

mod common;
use common::{build, NOTE, PROBLEMS};

fn report_in(dir: &std::path::Path) -> Report {
    let mut store = Store::open(&dir.join("runs.sqlite")).unwrap();
    let id = build(&mut store);
    let run = store.resolve_run(&id.to_string()).unwrap();
    analyse(&store, &run, &Options::default()).unwrap()
}

fn report() -> (tempfile::TempDir, Report) {
    let dir = tempfile::tempdir().unwrap();
    let r = report_in(dir.path());
    (dir, r)
}

fn row<'a>(r: &'a Report, label: &str, metric: &str) -> &'a Row {
    r.rows
        .iter()
        .find(|x| x.label == label && x.metric == metric)
        .unwrap_or_else(|| panic!("no row {label} {metric}"))
}

#[test]
fn paired_comparisons_against_the_baseline() {
    let (_d, r) = report();
    assert_eq!(r.baseline.as_deref(), Some("baseline"));
    assert_eq!(r.baseline_note.as_deref(), Some(NOTE));
    assert!(row(&r, "baseline", "pass@1").vs_baseline.is_none());

    let q4 = row(&r, "q4", "pass@1").vs_baseline.as_ref().unwrap();
    let m = q4.mcnemar.unwrap();
    assert_eq!((m.only_baseline, m.only_variant, m.n), (6, 1, PROBLEMS));
    assert!((m.p_value - 0.125).abs() < 1e-12); // scipy binomtest(1, 7).pvalue
    assert_eq!(q4.significant, Some(false));
    assert!((q4.delta - (-0.25)).abs() < 1e-12);
    let (lo, hi) = q4.delta_ci.unwrap();
    assert!(lo < -0.25 && -0.25 < hi && hi <= 0.05, "{lo} {hi}");
    // One sample per problem: Newcombe's paired interval of the 2×2 table (9 both, 1 only q4,
    // 6 only the baseline, 4 neither).
    assert_eq!(
        (lo, hi),
        stats::newcombe_paired(9.0, 1.0, 6.0, 4.0).unwrap()
    );
    let a = q4.agreement.unwrap();
    assert_eq!((a.k, a.n), (13, 20));
    assert!(a.ci95.unwrap().0 < 0.65 && a.ci95.unwrap().1 > 0.65);

    let q2 = row(&r, "q2", "pass@1").vs_baseline.as_ref().unwrap();
    let m = q2.mcnemar.unwrap();
    assert_eq!((m.only_baseline, m.only_variant), (10, 0));
    assert!((m.p_value - 0.001953125).abs() < 1e-15); // 2 * 0.5^10
    assert_eq!(q2.significant, Some(true));

    // Holm over the report's three McNemar tests (q8 p = 1, q4 0.125, q2 0.001953125).
    for (label, p, significant) in [
        ("q2", 3.0 * 0.001953125, true),
        ("q4", 2.0 * 0.125, false),
        ("q8", 1.0, false),
    ] {
        let c = row(&r, label, "pass@1").vs_baseline.as_ref().unwrap();
        assert!((c.p_holm.unwrap() - p).abs() < 1e-12, "{label}: {c:?}");
        assert_eq!(c.significant, Some(significant), "{label}");
    }

    // The records' pass@1 intervals are bootstrap ones; with one sample per problem the report
    // gives the Wilson interval.
    assert_eq!(row(&r, "baseline", "pass@1").ci95, stats::wilson(15, 20));
    assert_eq!(row(&r, "q2", "pass@1").ci95, stats::wilson(5, 20));

    // Perf and quality metrics get a Δ but no paired test.
    let tok = row(&r, "q4", "decode_tok_s").vs_baseline.as_ref().unwrap();
    assert_eq!((tok.delta, tok.mcnemar), (30.0, None));
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("mbpp") && n.contains("running")),
        "{:?}",
        r.notes
    );
}

#[test]
fn frontiers_and_hull_auc() {
    let (_d, r) = report();
    let f = |cost: &str, q: &str| {
        r.frontiers
            .iter()
            .find(|f| f.cost == cost && f.quality == q)
            .unwrap_or_else(|| panic!("no frontier {q} vs {cost}"))
    };
    // pass@1: base .75, q8 .70, q4 .50, q2 .25 — each is cheaper than the one before.
    let size = f(SIZE_METRIC, "pass@1");
    assert_eq!(size.front, vec!["q2", "q4", "q8", "baseline"]);
    assert!(size.auc.is_some());
    let tok = f("decode_tok_s", "pass@1");
    assert!(tok.cost_higher_is_better);
    assert_eq!(tok.front, vec!["q2", "q4", "q8", "baseline"]);
    // Lower-is-better quality: a frontier, but no hull area.
    let kl = f(SIZE_METRIC, "kl_divergence");
    assert!(!kl.quality_higher_is_better && kl.auc.is_none());
    assert!(
        r.frontiers.iter().all(|f| f.result != "decode"),
        "perf is a cost, not a quality"
    );
    assert_eq!(r.heatmaps.len(), 1);
    let hm = &r.heatmaps[0];
    assert_eq!(hm.variants, vec!["baseline", "q8", "q4", "q2"]);
    assert_eq!(hm.tasks.len(), PROBLEMS);
    assert_eq!((hm.solved[0].k, hm.solved[3].k), (15, 5));
}

#[test]
fn outputs_are_self_contained_and_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    // Kept: the store (for `tradeoff report --store`) and the rendered files.
    let keep = std::env::var_os("TRADEOFF_REPORT_DEMO_DIR").map(std::path::PathBuf::from);
    let out = keep.unwrap_or_else(|| dir.path().to_path_buf());
    std::fs::create_dir_all(&out).unwrap();
    let r = report_in(&out);
    let w = write(&r, &out, "demo", false).unwrap();
    assert_eq!(w.pdf, pdf::Pdf::Skipped("not asked for".into()));
    let html = std::fs::read_to_string(&w.html).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(NOTE));
    let lower = html.to_lowercase();
    for attr in ["src=", "href=", "url(", "@import", "<script", "<link"] {
        assert!(!lower.contains(attr), "external reference: {attr}");
    }
    assert!(!lower.contains("http://") && !lower.contains("https://"));
    // One <svg> per chart: frontiers + one bar chart per (result, metric) + heatmaps.
    let groups: std::collections::BTreeSet<_> = r
        .rows
        .iter()
        .map(|x| (x.kind, &x.result, &x.metric))
        .collect();
    let charts = r.frontiers.len() + groups.len() + r.heatmaps.len();
    assert_eq!(html.matches("<svg").count(), charts);
    assert_eq!(html.matches("</svg>").count(), charts);
    assert!(r.frontiers.len() >= 6 && groups.len() == 4);

    let csv = std::fs::read_to_string(&w.csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], CSV_COLUMNS.join(","));
    assert_eq!(lines.len(), 1 + r.rows.len());
    assert_eq!(r.rows.len(), 4 * 4, "4 variants × (pass@1, tok/s, p90, kl)");
    for l in &lines {
        assert_eq!(l.split(',').count(), CSV_COLUMNS.len(), "{l}");
    }
    let q2 = lines
        .iter()
        .find(|l| l.contains(",q2,") && l.contains("pass@1"))
        .unwrap();
    let cells: Vec<&str> = q2.split(',').collect();
    let col = |name: &str| cells[CSV_COLUMNS.iter().position(|c| *c == name).unwrap()];
    assert_eq!(col("mcnemar_p"), "0.001953125");
    assert_eq!(col("mcnemar_p_holm"), "0.005859375");
    assert_eq!(col("significant"), "true");
    assert_eq!(col("value"), "0.25");

    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&w.json).unwrap()).unwrap();
    assert_eq!(v["rows"].as_array().unwrap().len(), r.rows.len());
    assert_eq!(v["baseline_note"], NOTE);
    assert_eq!(v["run"]["name"], "demo");
    assert!(v["frontiers"][0]["points"].as_array().unwrap().len() >= 2);
}

/// A run of two models, each as distributed and at q4: each q4 is compared with its own
/// model's original; the second model's original with the baseline.
#[test]
fn each_model_is_compared_with_its_own_original() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("runs.sqlite")).unwrap();
    let run = store
        .begin_run(&RunSpec::new("[sweep]\n").named("two-models"))
        .unwrap()
        .id;
    // (label, model, recipe, problems solved of 10)
    let small: Vec<bool> = (0..10).map(|i| i < 5).collect();
    let small_q4: Vec<bool> = (0..10).map(|i| i < 4).collect();
    let large: Vec<bool> = (0..10).map(|i| i < 9).collect();
    let large_q4: Vec<bool> = (0..10).map(|i| i < 3).collect();
    for (label, model, recipe, solved) in [
        ("small/original", "small", "original", small),
        ("small/q4", "small", "q4", small_q4),
        ("large/original", "large", "original", large),
        ("large/q4", "large", "q4", large_q4),
    ] {
        let role = if label == "small/original" {
            Role::Baseline
        } else {
            Role::Candidate
        };
        let v = VariantSpec {
            recipe: serde_json::json!({ "name": recipe }),
            ..VariantSpec::new(label, model)
        };
        let vid = store.upsert_variant(run, &v, role).unwrap().id;
        if label == "large/q4" {
            // Made earlier with other inputs: superseded by the one below, left out.
            let mut old = ResultSpec::new(&vid, Kind::Bench, "humaneval");
            old.params = serde_json::json!({ "scoring_version": 0 });
            let id = store.begin_result(run, &old).unwrap().id();
            let m = tradeoff_record::Metric::new("pass@1", 1.0, true);
            store
                .finish_result(id, &[m], &serde_json::json!({}))
                .unwrap();
        }
        let id = store
            .begin_result(run, &ResultSpec::new(&vid, Kind::Bench, "humaneval"))
            .unwrap()
            .id();
        for (i, &p) in solved.iter().enumerate() {
            let s = common::sample(i, p, if p { "pass" } else { "fail" });
            store.add_sample(id, &s).unwrap();
        }
        let rate = solved.iter().filter(|&&p| p).count() as f64 / 10.0;
        let m = tradeoff_record::Metric::new("pass@1", rate, true);
        store
            .finish_result(id, &[m], &serde_json::json!({}))
            .unwrap();
    }
    store.end_run(run, Status::Done).unwrap();
    let run = store.resolve_run("two-models").unwrap();
    let r = analyse(&store, &run, &Options::default()).unwrap();

    let large_q4 = row(&r, "large/q4", "pass@1");
    assert_eq!(large_q4.compared_with.as_deref(), Some("large/original"));
    let c = large_q4.vs_baseline.as_ref().unwrap();
    assert!((c.delta - (0.3 - 0.9)).abs() < 1e-12, "{c:?}");
    let m = c.mcnemar.unwrap();
    assert_eq!((m.only_baseline, m.only_variant), (6, 0));
    let small_q4 = row(&r, "small/q4", "pass@1");
    assert_eq!(small_q4.compared_with.as_deref(), Some("small/original"));
    assert_eq!(
        small_q4
            .vs_baseline
            .as_ref()
            .unwrap()
            .mcnemar
            .unwrap()
            .only_baseline,
        1
    );
    // The second model as distributed against the baseline: model size.
    let large = row(&r, "large/original", "pass@1");
    assert_eq!(large.compared_with.as_deref(), Some("small/original"));
    assert_eq!(
        large
            .vs_baseline
            .as_ref()
            .unwrap()
            .mcnemar
            .unwrap()
            .only_variant,
        4
    );
    assert!(row(&r, "small/original", "pass@1").vs_baseline.is_none());
    assert!(
        r.notes.iter().any(|n| n.contains("Several models")),
        "{:?}",
        r.notes
    );
    assert_eq!(
        r.rows.iter().filter(|x| x.label == "large/q4").count(),
        1,
        "one row per variant and metric"
    );
    assert!(
        r.notes
            .iter()
            .any(|n| n.starts_with("1 result of this run superseded")),
        "{:?}",
        r.notes
    );
    // The table says what each row is compared with where it is not the baseline.
    let html = tradeoff_report::html(&r);
    assert!(
        html.contains("vs large/original"),
        "comparison target missing"
    );
}
