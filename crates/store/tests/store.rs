//! Round-trip, resume after a crash, cache reuse, diff and removal, on a temp store.

use serde_json::json;
use std::path::Path;
use tradeoff_record::Metric;
use tradeoff_store::*;

fn spec(config: &str, name: &str) -> RunSpec {
    let mut s = RunSpec::new(config).named(name);
    // Fixed machine so tests do not depend on the box they run on.
    s.machine = Machine {
        cpu: "Test CPU".into(),
        threads: 2,
        ram_bytes: 1 << 30,
        gpu: None,
        os: "linux".into(),
        hostname: "box".into(),
        arch: "x86_64".into(),
        isa: vec!["avx2".into(), "avx512_vnni".into()],
    };
    s
}

fn variant(label: &str, bits: u32) -> VariantSpec {
    VariantSpec {
        source_sha256: Some("ab".repeat(32)),
        recipe: json!({"method": "rtn", "bits": bits}),
        manifest: json!({"recipe": {"method": "rtn", "bits": bits}, "tool_version": "0.1.0"}),
        artifact_path: Some(format!("/cache/variants/{label}.gguf").into()),
        artifact_sha256: Some(format!("{bits:064}")),
        size_bytes: Some(1000 * bits as u64),
        ..VariantSpec::new(label, "smollm2-135m")
    }
}

fn bench(v: &str) -> ResultSpec {
    ResultSpec {
        dataset: Some(Dataset {
            name: "humaneval".into(),
            sha256: "cd".repeat(32),
        }),
        prompt_template: Some("{prompt}".into()),
        generation: Some(json!({"temperature": 0.0, "max_new_tokens": 512})),
        params: json!({"limit": 3}),
        ..ResultSpec::new(v, Kind::Bench, "humaneval")
    }
}

fn sample(task: &str, i: u32, passed: bool) -> SampleRow {
    SampleRow {
        task_id: task.into(),
        sample: i,
        passed,
        status: if passed { "pass" } else { "fail" }.into(),
        detail: None,
        tokens: Some(42),
        exec_s: Some(0.1),
        gen_s: Some(1.5),
        completion: Some("return 1".into()),
        cases: None,
    }
}

fn pass1(v: f64) -> Metric {
    Metric {
        ci95: Some((v - 0.1, v + 0.1)),
        n: Some(3),
        unit: Some("fraction".into()),
        ..Metric::new("pass@1", v, true)
    }
}

fn open(p: &Path) -> Store {
    Store::open(&p.join("runs.sqlite")).unwrap()
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = open(dir.path());
    let run = st.begin_run(&spec("a = 1\n", "r1")).unwrap();
    assert!(!run.resumed);
    let base = st
        .upsert_variant(run.id, &variant("baseline", 32), Role::Baseline)
        .unwrap();
    let q4 = st
        .upsert_variant(run.id, &variant("q4", 4), Role::Candidate)
        .unwrap();
    assert!(!base.reused && !q4.reused);
    let Started::Todo { id, done } = st.begin_result(run.id, &bench(&q4.id)).unwrap() else {
        panic!("new result must be computed");
    };
    assert!(done.is_empty());
    for (t, p) in [
        ("HumanEval/0", true),
        ("HumanEval/1", false),
        ("HumanEval/2", true),
    ] {
        let mut s = sample(t, 0, p);
        // Per-case outcomes where the tests report them.
        s.cases = (!p).then(|| "PF?".to_string());
        assert!(st.add_sample(id, &s).unwrap());
    }
    let m = vec![pass1(2.0 / 3.0), Metric::new("nan_metric", f64::NAN, false)];
    st.finish_result(id, &m, &json!({"benchmark": "humaneval", "n": 1}))
        .unwrap();
    st.end_run(run.id, Status::Done).unwrap();

    let r = st.resolve_run("r1").unwrap();
    assert_eq!(r.status, Status::Done);
    assert_eq!(r.config, "a = 1\n");
    assert_eq!(r.machine.cpu, "Test CPU");
    assert_eq!(
        r.machine.isa,
        ["avx2", "avx512_vnni"],
        "the ISA the kernels chose by is kept"
    );
    assert_eq!(r.tool_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(st.resolve_run("latest").unwrap().id, r.id);
    assert_eq!(st.resolve_run(&r.id.to_string()).unwrap().name, "r1");
    assert!(matches!(st.resolve_run("nope"), Err(Error::NoRun(_))));

    let vs = st.variants(r.id).unwrap();
    assert_eq!(vs.len(), 2);
    assert_eq!(vs[0].role, Role::Baseline);
    assert_eq!(vs[1].variant.label, "q4");
    assert_eq!(vs[1].variant.recipe, json!({"method": "rtn", "bits": 4}));
    assert_eq!(vs[1].variant.manifest["tool_version"], "0.1.0");
    assert_eq!(vs[1].variant.size_bytes, Some(4000));

    let results = st.results(r.id).unwrap();
    assert_eq!(results.len(), 1);
    let res = &results[0];
    assert_eq!(res.status, Status::Done);
    assert_eq!(
        res.variant, q4.id,
        "result traces to its variant (and manifest)"
    );
    assert_eq!(res.dataset.as_ref().unwrap().name, "humaneval");
    assert_eq!(res.metric("pass@1").unwrap(), &pass1(2.0 / 3.0));
    assert!(res.metric("nan_metric").unwrap().value.is_nan());
    assert!(!res.reused);
    let samples = st.samples(res.id).unwrap();
    assert_eq!(samples.len(), 3);
    let mut failed = sample("HumanEval/1", 0, false);
    failed.cases = Some("PF?".into());
    assert_eq!(samples[1], failed);
    assert_eq!(samples[0], sample("HumanEval/0", 0, true));
    assert_eq!(
        st.record(res.id).unwrap().unwrap()["benchmark"],
        "humaneval"
    );

    let list = st.list_runs().unwrap();
    assert_eq!(
        (list[0].variants, list[0].results, list[0].reused),
        (2, 1, 0)
    );
}

#[test]
fn crash_mid_result_keeps_samples_and_rerun_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let q4_id;
    {
        let mut st = open(dir.path());
        let run = st.begin_run(&spec("cfg", "sweep")).unwrap();
        q4_id = st
            .upsert_variant(run.id, &variant("q4", 4), Role::Candidate)
            .unwrap()
            .id;
        let id = st.begin_result(run.id, &bench(&q4_id)).unwrap().id();
        st.add_sample(id, &sample("HumanEval/0", 0, true)).unwrap();
        st.add_sample(id, &sample("HumanEval/1", 0, false)).unwrap();
        // The process dies here: no finish_result, no end_run, connection dropped.
    }
    let mut st = open(dir.path());
    let list = st.list_runs().unwrap();
    assert_eq!(list[0].status, Status::Running);

    // Rerunning the same sweep resumes the same run and the same result.
    let run = st.begin_run(&spec("cfg", "sweep")).unwrap();
    assert!(run.resumed);
    assert_eq!(run.id, list[0].id);
    let v = st
        .upsert_variant(run.id, &variant("q4", 4), Role::Candidate)
        .unwrap();
    assert!(v.reused);
    let Started::Todo { id, done } = st.begin_result(run.id, &bench(&q4_id)).unwrap() else {
        panic!("unfinished result must be resumed, not reused");
    };
    let expect: std::collections::BTreeSet<_> = [
        ("HumanEval/0".to_string(), 0),
        ("HumanEval/1".to_string(), 0),
    ]
    .into();
    assert_eq!(done, expect);
    // A recomputed sample that already exists is kept as first written.
    assert!(!st.add_sample(id, &sample("HumanEval/1", 0, true)).unwrap());
    assert!(st.add_sample(id, &sample("HumanEval/2", 0, true)).unwrap());
    st.finish_result(id, &[pass1(2.0 / 3.0)], &json!({}))
        .unwrap();
    st.end_run(run.id, Status::Done).unwrap();

    let s = st.samples(id).unwrap();
    assert_eq!(s.len(), 3);
    assert!(!s[1].passed, "the sample written before the crash is kept");
    assert_eq!(st.list_runs().unwrap().len(), 1);
    assert_eq!(st.results(run.id).unwrap()[0].status, Status::Done);
}

#[test]
fn finished_results_and_variants_are_reused_by_later_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = open(dir.path());
    let r1 = st.begin_run(&spec("one", "r1")).unwrap().id;
    let v = st
        .upsert_variant(r1, &variant("q4", 4), Role::Candidate)
        .unwrap()
        .id;
    let id = st.begin_result(r1, &bench(&v)).unwrap().id();
    st.finish_result(id, &[pass1(0.5)], &json!({})).unwrap();
    let perf = ResultSpec::new(&v, Kind::Perf, "decode");
    let pid = st.begin_result(r1, &perf).unwrap().id();
    st.finish_result(pid, &[Metric::new("decode_tok_s", 50.0, true)], &json!({}))
        .unwrap();

    // Another sweep, same variant: relabelled and moved, still the same content.
    let r2 = st.begin_run(&spec("two", "r2")).unwrap().id;
    let mut moved = variant("q4-renamed", 4);
    moved.artifact_path = Some("/elsewhere/q4.gguf".into());
    let up = st.upsert_variant(r2, &moved, Role::Candidate).unwrap();
    assert_eq!(
        up,
        Upserted {
            id: v.clone(),
            reused: true
        }
    );
    assert_eq!(
        st.variant(&v).unwrap().artifact_path.unwrap(),
        Path::new("/elsewhere/q4.gguf")
    );
    assert_eq!(
        st.begin_result(r2, &bench(&v)).unwrap(),
        Started::Cached(id)
    );
    assert!(st.find_result(r2, &bench(&v)).unwrap().unwrap().reused);
    assert_eq!(st.variants(r2).unwrap()[0].variant.label, "q4-renamed");
    assert_eq!(st.variants(r1).unwrap()[0].variant.label, "q4");
    // Any input change is a different result.
    let mut other = bench(&v);
    other.seed = 1;
    assert!(st.find_result(r2, &other).unwrap().is_none());
    assert!(matches!(
        st.begin_result(r2, &other).unwrap(),
        Started::Todo { .. }
    ));

    // Perf numbers are only reused on the same machine.
    assert_eq!(st.begin_result(r2, &perf).unwrap(), Started::Cached(pid));
    let mut elsewhere = spec("three", "r3");
    elsewhere.machine.cpu = "Other CPU".into();
    let r3 = st.begin_run(&elsewhere).unwrap().id;
    st.upsert_variant(r3, &variant("q4", 4), Role::Candidate)
        .unwrap();
    assert_eq!(
        st.begin_result(r3, &bench(&v)).unwrap(),
        Started::Cached(id)
    );
    assert!(matches!(
        st.begin_result(r3, &perf).unwrap(),
        Started::Todo { .. }
    ));

    let runs = st.list_runs().unwrap();
    let r2s = runs.iter().find(|r| r.name == "r2").unwrap();
    assert_eq!((r2s.results, r2s.reused), (3, 2));
}

#[test]
fn run_names_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = open(dir.path());
    st.begin_run(&spec("x", "same")).unwrap();
    assert!(matches!(
        st.begin_run(&spec("different config", "same")),
        Err(Error::RunNameTaken(_))
    ));
    // A text the caller deems the same config (a comment edited) resumes the run.
    let mut edited = spec("# a comment\nx", "same");
    assert!(matches!(st.begin_run(&edited), Err(Error::RunNameTaken(_))));
    edited.same_config = Some(|a, b| {
        a.lines()
            .filter(|l| !l.starts_with('#'))
            .eq(b.lines().filter(|l| !l.starts_with('#')))
    });
    assert!(st.begin_run(&edited).unwrap().resumed);
    let mut moved = spec("x", "same");
    moved.machine.threads = 64;
    assert!(matches!(st.begin_run(&moved), Err(Error::OtherMachine(_))));
    // A run without timings resumes anywhere.
    assert!(st.begin_run(&moved.portable()).unwrap().resumed);
    let mut unnamed = spec("x", "ignored");
    unnamed.name = None;
    let a = st.begin_run(&unnamed).unwrap();
    let b = st.begin_run(&unnamed).unwrap();
    assert!(
        a.name.starts_with("run-") && b.name != a.name,
        "{} {}",
        a.name,
        b.name
    );
    assert!(matches!(
        st.begin_result(a.id, &bench("no-such-variant")),
        Err(Error::NoVariant(_))
    ));
    assert!(matches!(
        st.finish_result(999, &[], &json!({})),
        Err(Error::NoResult(999))
    ));
    assert!(matches!(
        st.upsert_variant(999, &variant("q4", 4), Role::Candidate),
        Err(Error::NoRun(_))
    ));
}

#[test]
fn failed_result_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = open(dir.path());
    let r = st.begin_run(&spec("x", "r")).unwrap().id;
    let v = st
        .upsert_variant(r, &variant("q4", 4), Role::Candidate)
        .unwrap()
        .id;
    let id = st.begin_result(r, &bench(&v)).unwrap().id();
    st.add_sample(id, &sample("HumanEval/0", 0, true)).unwrap();
    st.fail_result(id, "engine crashed").unwrap();
    let row = st.result(id, Some(r)).unwrap();
    assert_eq!(
        (row.status, row.error.as_deref()),
        (Status::Failed, Some("engine crashed"))
    );
    let Started::Todo { id: again, done } = st.begin_result(r, &bench(&v)).unwrap() else {
        panic!("a failed result is computed again");
    };
    assert_eq!((again, done.len()), (id, 1));
    assert_eq!(st.result(id, None).unwrap().status, Status::Running);
}

#[test]
fn diff_and_rm() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = open(dir.path());
    let mut ids = vec![];
    for (name, cfg, v) in [
        ("a", "bits = 4\nseed = 0", 0.5),
        ("b", "bits = 4\nseed = 1", 0.75),
    ] {
        let r = st.begin_run(&spec(cfg, name)).unwrap().id;
        let vid = st
            .upsert_variant(r, &variant("q4", 4), Role::Candidate)
            .unwrap()
            .id;
        let mut b = bench(&vid);
        b.seed = (v * 4.0) as u64;
        let id = st.begin_result(r, &b).unwrap().id();
        st.finish_result(id, &[pass1(v)], &json!({})).unwrap();
        ids.push(r);
    }
    // b also has a variant of its own.
    let only_b = st
        .upsert_variant(ids[1], &variant("q2", 2), Role::Candidate)
        .unwrap()
        .id;
    let ra = st.resolve_run("a").unwrap();
    let rb = st.resolve_run("b").unwrap();
    let d = st.diff(&ra, &rb).unwrap();
    assert!(!d.same_config && d.same_machine);
    assert_eq!(d.config_lines, vec!["- seed = 0", "+ seed = 1"]);
    assert_eq!(d.rows.len(), 1);
    assert_eq!((d.rows[0].a, d.rows[0].b), (Some(0.5), Some(0.75)));
    assert_eq!(d.rows[0].label, "q4");

    let rm = st.rm_run(&rb).unwrap();
    assert_eq!((rm.results_removed, rm.variants_removed), (1, 1));
    assert_eq!(
        rm.unreferenced_artifacts,
        vec![Path::new("/cache/variants/q2.gguf")]
    );
    assert!(st.variant(&only_b).is_err());
    // Run a and what it uses are untouched.
    assert_eq!(st.results(ra.id).unwrap().len(), 1);
    assert_eq!(st.list_runs().unwrap().len(), 1);
}

#[test]
fn reused_result_survives_removing_the_run_that_computed_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = open(dir.path());
    let r1 = st.begin_run(&spec("x", "r1")).unwrap().id;
    let v = st
        .upsert_variant(r1, &variant("q4", 4), Role::Candidate)
        .unwrap()
        .id;
    let id = st.begin_result(r1, &bench(&v)).unwrap().id();
    st.add_sample(id, &sample("HumanEval/0", 0, true)).unwrap();
    st.finish_result(id, &[pass1(1.0)], &json!({})).unwrap();
    let r2 = st.begin_run(&spec("y", "r2")).unwrap().id;
    st.upsert_variant(r2, &variant("q4", 4), Role::Candidate)
        .unwrap();
    assert_eq!(
        st.begin_result(r2, &bench(&v)).unwrap(),
        Started::Cached(id)
    );

    let rm = st.rm_run(&st.resolve_run("r1").unwrap()).unwrap();
    assert_eq!((rm.results_removed, rm.variants_removed), (0, 0));
    let left = st.results(r2).unwrap();
    assert_eq!(left[0].computed_by, None);
    assert_eq!(st.samples(id).unwrap().len(), 1);
}

#[test]
fn schema_is_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.sqlite");
    drop(Store::open(&path).unwrap());
    // Reopening runs no migration twice.
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, Error::NewerSchema { .. }), "{err}");
}

#[test]
fn artifacts_are_hashed_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.gguf");
    std::fs::write(&file, b"abc").unwrap();
    let v = VariantSpec::new("q4", "m").with_artifact(&file).unwrap();
    // sha256("abc")
    assert_eq!(
        v.artifact_sha256.as_deref(),
        Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(v.size_bytes, Some(3));
    let folder = dir.path().join("hf");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    std::fs::write(folder.join("config.json"), b"{}").unwrap();
    std::fs::write(folder.join("sub/w.safetensors"), b"abc").unwrap();
    let (a, size) = hash_artifact(&folder).unwrap();
    assert_eq!(size, 5);
    // Moving the folder keeps the hash; changing a byte changes it.
    let moved = dir.path().join("moved");
    std::fs::rename(&folder, &moved).unwrap();
    assert_eq!(hash_artifact(&moved).unwrap().0, a);
    std::fs::write(moved.join("config.json"), b"{ }").unwrap();
    assert_ne!(hash_artifact(&moved).unwrap().0, a);
    assert!(matches!(
        hash_artifact(&dir.path().join("nope")),
        Err(Error::Io { .. })
    ));
}

/// A finished run with one benchmark result whose record carries the prompt and program.
fn exportable(st: &mut Store, name: &str) -> (Run, String) {
    let run = st.begin_run(&spec("x = 1\n", name)).unwrap();
    let v = st
        .upsert_variant(run.id, &variant("q4", 4), Role::Candidate)
        .unwrap();
    let Started::Todo { id, .. } = st.begin_result(run.id, &bench(&v.id)).unwrap() else {
        panic!("new result");
    };
    for (t, p) in [("HumanEval/0", true), ("HumanEval/1", false)] {
        st.add_sample(id, &sample(t, 0, p)).unwrap();
    }
    let record = json!({"problems": [{"task_id": "HumanEval/0", "prompt": "def f():\n",
        "timing": {"prompt_tokens": 7},
        "samples": [{"program": "def f():\n return 1", "completion": " return 1", "passed": true}]}]});
    st.finish_result(id, &[pass1(0.5)], &record).unwrap();
    st.end_run(run.id, Status::Done).unwrap();
    (st.resolve_run(name).unwrap(), v.id)
}

#[test]
fn export_then_import_rebuilds_the_run_without_the_benchmark_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = open(dir.path());
    let (run, vid) = exportable(&mut src, "study");
    let mut buf = Vec::new();
    let rep = src
        .export_run(&run, ExportOptions::default(), &mut buf)
        .unwrap();
    assert_eq!((rep.variants, rep.results, rep.samples), (1, 1, 2));
    let text = String::from_utf8(buf.clone()).unwrap();
    assert!(
        !text.contains("def f():\\n\""),
        "prompts leave as hashes: {text}"
    );
    assert!(text.contains("prompt_sha256") && !text.contains("\"program\""));

    let other = tempfile::tempdir().unwrap();
    let mut dst = open(other.path());
    let rep = dst.import_run(&mut buf.as_slice(), None).unwrap();
    assert_eq!(
        (
            rep.run.as_str(),
            rep.variants,
            rep.results_added,
            rep.samples
        ),
        ("study", 1, 1, 2)
    );
    let r = dst.resolve_run("study").unwrap();
    assert_eq!(r.status, Status::Done);
    assert_eq!(
        r.machine.cpu, "Test CPU",
        "the machine that measured it travels with it"
    );
    let vs = dst.variants(r.id).unwrap();
    assert_eq!(vs[0].variant.id, vid, "variants keep their content hash");
    let res = &dst.results(r.id).unwrap()[0];
    assert_eq!(
        (res.status, res.metric("pass@1").unwrap().value),
        (Status::Done, 0.5)
    );
    let samples = dst.samples(res.id).unwrap();
    assert_eq!(
        samples[0],
        sample("HumanEval/0", 0, true),
        "completions included"
    );
    let rec = dst.record(res.id).unwrap().unwrap();
    assert_eq!(rec["problems"][0]["timing"]["prompt_tokens"], 7);

    // Importing again under another name reuses every result; without completions they go.
    let again = dst.import_run(&mut buf.as_slice(), Some("copy")).unwrap();
    assert_eq!((again.results_added, again.results_present), (0, 1));
    let mut slim = Vec::new();
    src.export_run(
        &run,
        ExportOptions {
            completions: false,
            unfinished: false,
        },
        &mut slim,
    )
    .unwrap();
    assert!(!String::from_utf8(slim).unwrap().contains("return 1"));
}

#[test]
fn import_refuses_what_is_not_an_export_and_edited_variants() {
    let dir = tempfile::tempdir().unwrap();
    let mut st = open(dir.path());
    let err = st
        .import_run(&mut "{\"a\": 1}\n".as_bytes(), None)
        .unwrap_err();
    assert!(
        err.to_string().contains("not a tradeoff run export"),
        "{err}"
    );
    let (run, _) = exportable(&mut st, "s");
    let mut buf = Vec::new();
    st.export_run(&run, ExportOptions::default(), &mut buf)
        .unwrap();
    let edited = String::from_utf8(buf)
        .unwrap()
        .replacen("\"bits\":4", "\"bits\":3", 1);
    let other = tempfile::tempdir().unwrap();
    let err = open(other.path())
        .import_run(&mut edited.as_bytes(), None)
        .unwrap_err();
    assert!(err.to_string().contains("does not hash to its id"), "{err}");
}

#[test]
fn an_unfinished_result_travels_and_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = open(dir.path());
    let run = src.begin_run(&spec("y = 1\n", "half")).unwrap();
    let v = src
        .upsert_variant(run.id, &variant("q4", 4), Role::Candidate)
        .unwrap();
    let Started::Todo { id, .. } = src.begin_result(run.id, &bench(&v.id)).unwrap() else {
        panic!("new result");
    };
    src.add_sample(id, &sample("HumanEval/0", 0, true)).unwrap();
    let run = src.resolve_run("half").unwrap();
    let mut done_only = Vec::new();
    let rep = src
        .export_run(&run, ExportOptions::default(), &mut done_only)
        .unwrap();
    assert_eq!(
        (rep.results, rep.samples),
        (0, 0),
        "finished results only by default"
    );
    let mut buf = Vec::new();
    let opts = ExportOptions {
        completions: true,
        unfinished: true,
    };
    let rep = src.export_run(&run, opts, &mut buf).unwrap();
    assert_eq!((rep.results, rep.unfinished, rep.samples), (1, 1, 1));

    let other = tempfile::tempdir().unwrap();
    let mut dst = open(other.path());
    let rep = dst.import_run(&mut buf.as_slice(), None).unwrap();
    assert_eq!(
        (rep.results_added, rep.results_unfinished, rep.samples),
        (0, 1, 1)
    );
    // The sweep on the new machine picks it up with the sample already done.
    let again = dst.begin_run(&spec("y = 1\n", "half-2")).unwrap();
    let Started::Todo { done, .. } = dst.begin_result(again.id, &bench(&v.id)).unwrap() else {
        panic!("an unfinished result resumes");
    };
    assert_eq!(
        done.into_iter().collect::<Vec<_>>(),
        vec![("HumanEval/0".to_string(), 0)]
    );
}
