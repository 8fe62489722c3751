//! All 974 MBPP reference solutions (about 15 s on 2 cores; run with `--ignored`).

mod common;

use tradeoff_eval::bench::{Mbpp, MbppSplit};
use tradeoff_eval::Evaluator;

#[test]
#[ignore = "full MBPP: run with --ignored"]
fn canonical_mbpp_passes_974_of_974() {
    let bench = Mbpp::load(&common::mbpp_path(), MbppSplit::All).unwrap();
    assert_eq!(tradeoff_eval::Benchmark::len(&bench), 974);
    let exec = common::executor();
    let r = Evaluator::new(&bench, &exec, common::options())
        .canonical()
        .unwrap();
    let failing: Vec<_> = r
        .failing()
        .map(|p| (&p.task_id, &p.samples[0].detail))
        .collect();
    assert!(failing.is_empty(), "{failing:#?}");
    assert_eq!(r.metric("pass@1").unwrap().value, 1.0);
}
