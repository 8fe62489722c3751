//! Samples that ended in a harness fault (`infra_error`, or `sandbox_error` in older stores)
//! are left out of the comparisons and the per-problem matrix, and counted in the report.

use serde_json::json;
use tradeoff_record::Metric;
use tradeoff_report::*;
use tradeoff_store::*;

mod common;
use common::sample;

#[test]
fn harness_errors_are_counted_and_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("runs.sqlite")).unwrap();
    let run = store
        .begin_run(&RunSpec::new("[sweep]\n").named("infra"))
        .unwrap()
        .id;
    // Both solve problems 0-5 of 6; the candidate's runs of problems 4 and 5 hit harness
    // faults (one stored under the old name).
    let outcomes = [
        ("baseline", Role::Baseline, vec![(true, "pass"); 6]),
        (
            "q4",
            Role::Candidate,
            vec![
                (true, "pass"),
                (true, "pass"),
                (true, "pass"),
                (true, "pass"),
                (false, "infra_error"),
                (false, "sandbox_error"),
            ],
        ),
    ];
    for (label, role, samples) in outcomes {
        let v = VariantSpec {
            recipe: json!({ "name": label }),
            ..VariantSpec::new(label, "m")
        };
        let vid = store.upsert_variant(run, &v, role).unwrap().id;
        let id = store
            .begin_result(run, &ResultSpec::new(&vid, Kind::Bench, "humaneval"))
            .unwrap()
            .id();
        for (i, (p, st)) in samples.iter().enumerate() {
            store.add_sample(id, &sample(i, *p, st)).unwrap();
        }
        let kept = samples
            .iter()
            .filter(|(_, s)| *s != "infra_error" && *s != "sandbox_error")
            .count();
        let pass1 = Metric {
            n: Some(kept),
            ..Metric::new("pass@1", 1.0, true)
        };
        store.finish_result(id, &[pass1], &json!({})).unwrap();
    }
    store.end_run(run, Status::Done).unwrap();
    let run = store.resolve_run(&run.to_string()).unwrap();
    let r = analyse(&store, &run, &Options::default()).unwrap();

    let row = |label: &str| {
        r.rows
            .iter()
            .find(|x| x.label == label && x.metric == "pass@1")
            .unwrap()
    };
    assert_eq!(row("baseline").harness_errors, 0);
    let q4 = row("q4");
    assert_eq!(q4.harness_errors, 2);
    // Compared on the 4 problems the candidate's harness ran: no discordant pairs.
    let c = q4.vs_baseline.as_ref().unwrap();
    let m = c.mcnemar.unwrap();
    assert_eq!((m.only_baseline, m.only_variant, m.n), (0, 0, 4));
    // Not "solved 4 of 6": the faulted problems are not run for it.
    let hm = &r.heatmaps[0];
    let qi = hm.variants.iter().position(|v| v == "q4").unwrap();
    assert_eq!((hm.solved[qi].k, hm.solved[qi].n), (4, 4));
    assert!(
        r.notes
            .iter()
            .any(|n| n.starts_with("q4 / humaneval: 2 samples ended in a harness error")),
        "{:?}",
        r.notes
    );

    let html = html(&r);
    assert!(html.contains("2 harness errors</small>"), "count beside n");
    let csv = csv(&r);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], CSV_COLUMNS.join(","));
    let col = CSV_COLUMNS
        .iter()
        .position(|c| *c == "harness_errors")
        .unwrap();
    let q4_line = lines.iter().find(|l| l.contains(",q4,")).unwrap();
    assert_eq!(q4_line.split(',').nth(col), Some("2"));
    // JSON of a report written before the field still reads.
    let mut v: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
    for row in v["rows"].as_array_mut().unwrap() {
        row.as_object_mut().unwrap().remove("harness_errors");
    }
    let old: Report = serde_json::from_value(v).unwrap();
    assert!(old.rows.iter().all(|r| r.harness_errors == 0));
}
