//! Mutated HumanEval solutions must never pass, must get the right status, and must leave the
//! host alone.

mod common;

use tradeoff_eval::{Benchmark, Executor, Outcome, Status, Style};

fn run(bench: &dyn Benchmark, exec: &Executor, task: &str, body: &str, limit: f64) -> Outcome {
    let i = bench.index_of(task).unwrap();
    let program = bench.program(i, &bench.solution(i, Style::Base, body));
    exec.run(&program, limit)
}

fn expect(o: &Outcome, status: Status, what: &str) {
    assert_eq!(o.status, status, "{what}: {o:?}");
}

/// HumanEval/15: `return ' '.join(str(x) for x in range(n + 1))`.
const TASK: &str = "HumanEval/15";

#[test]
fn correct_solution_passes_and_wrong_ones_fail() {
    let (b, e) = (common::load("humaneval"), common::executor());
    let ok = "    return ' '.join(str(x) for x in range(n + 1))\n";
    expect(&run(&*b, &e, TASK, ok, 2.0), Status::Pass, "canonical");
    let none = run(&*b, &e, TASK, "    return None\n", 2.0);
    expect(&none, Status::Fail, "return None");
    assert!(
        none.detail.unwrap().contains("assert"),
        "names the failing assert"
    );
    let off_by_one = "    return ' '.join(str(x) for x in range(n))\n";
    expect(
        &run(&*b, &e, TASK, off_by_one, 2.0),
        Status::Fail,
        "off by one",
    );
    let raises = "    return 1 / 0\n";
    let o = run(&*b, &e, TASK, raises, 2.0);
    expect(&o, Status::Error, "raises");
    assert!(o.detail.unwrap().contains("ZeroDivisionError"));
    expect(
        &run(&*b, &e, TASK, "    return (\n", 2.0),
        Status::CompileError,
        "syntax error",
    );
}

#[test]
fn exiting_before_the_tests_is_not_a_pass() {
    let (b, e) = (common::load("humaneval"), common::executor());
    for body in [
        "    exit(0)\n",
        "    import sys; sys.exit(0)\n",
        "    raise SystemExit(0)\n",
        "    import os; os._exit(0)\n",
        // At definition time, before any test runs.
        "    pass\nimport os\nos._exit(0)\n",
        "    pass\nimport sys\nsys.exit(0)\n",
    ] {
        expect(&run(&*b, &e, TASK, body, 2.0), Status::Exited, body);
    }
}

#[test]
fn printed_or_guessed_pass_markers_do_not_count() {
    let (b, e) = (common::load("humaneval"), common::executor());
    let fake = r#"    import os, sys
    print("passed"); print("PASS"); print("All tests passed")
    for fd in (1, 2, 4):
        try:
            os.write(fd, b"P " + b"0" * 32 + b"\npassed\n")
        except OSError:
            pass
    os._exit(0)
"#;
    expect(
        &run(&*b, &e, TASK, fake, 2.0),
        Status::Exited,
        "fake markers",
    );
    // The nonce fd is closed before candidate code runs; the harness's copy is unreachable
    // by name. (Deliberate frame introspection is out of scope: docs/sandbox.md.)
    let steal = r#"    import os
    data = b""
    for fd in range(3, 64):
        try:
            data += os.read(fd, 64)
        except OSError:
            pass
    os.write(4, data)
    os._exit(0)
"#;
    expect(&run(&*b, &e, TASK, steal, 2.0), Status::Exited, "read fds");
    // Rebinding the harness's functions does not make a failing run pass.
    let rebind = "    import os\n    os.write = lambda *a: 0\n    os._exit = lambda *a: None\n    return None\n";
    expect(
        &run(&*b, &e, TASK, rebind, 2.0),
        Status::Fail,
        "rebinding os",
    );
}

#[test]
fn runaway_programs_time_out() {
    let (b, e) = (common::load("humaneval"), common::executor());
    let spin = run(&*b, &e, TASK, "    while True:\n        pass\n", 1.0);
    expect(&spin, Status::Timeout, "infinite loop");
    assert!(spin.detail.unwrap().contains("CPU"));
    let sleep = run(&*b, &e, TASK, "    import time; time.sleep(600)\n", 1.0);
    expect(&sleep, Status::Timeout, "sleeping");
    assert!(sleep.detail.unwrap().contains("wall-clock"));
    assert!(sleep.exec_s.unwrap() < 5.0, "killed at 2*limit+1 s");
}

#[test]
fn fork_bomb_is_contained() {
    let (b, e) = (common::load("humaneval"), common::executor());
    let bomb = "    import os\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n";
    let o = run(&*b, &e, TASK, bomb, 1.0);
    assert!(!o.status.eq(&Status::Pass), "{o:?}");
    expect(&o, Status::Timeout, "fork bomb");
    // The host can still start processes.
    assert!(std::process::Command::new("true")
        .status()
        .unwrap()
        .success());
}

#[test]
fn memory_and_file_size_limits() {
    let (b, e) = (common::load("humaneval"), common::executor());
    let alloc = run(&*b, &e, TASK, "    x = bytearray(1 << 40)\n", 2.0);
    expect(&alloc, Status::Memory, "1 TiB allocation");
    let big = "    with open('big', 'wb') as f:\n        for _ in range(200):\n            f.write(b'x' * (1 << 20))\n";
    expect(
        &run(&*b, &e, TASK, big, 5.0),
        Status::FileSize,
        "200 MiB file",
    );
}

#[test]
fn no_network() {
    let (b, e) = (common::load("humaneval"), common::executor());
    let net = "    import socket\n    socket.create_connection(('1.1.1.1', 80), timeout=3).close()\n    return ' '.join(str(x) for x in range(n + 1))\n";
    let o = run(&*b, &e, TASK, net, 5.0);
    expect(&o, Status::Error, "network");
    // The network namespace has no route; Landlock (ABI 4+) denies the connect before that.
    let detail = o.detail.unwrap();
    assert!(
        detail.contains("unreachable") || detail.contains("Permission denied"),
        "{detail}"
    );
}

#[test]
fn leftover_processes_die_with_the_run() {
    let (b, e) = (common::load("humaneval"), common::executor());
    // A daemon (own session, so outside the run's process group) and a kill-everything.
    let marker = format!("{}.{}", 40 + std::process::id() % 50, std::process::id());
    let daemon = format!(
        "    import os\n    if os.fork() == 0:\n        os.setsid()\n        os.execv('/bin/sleep', ['sleep', '{marker}'])\n    return ' '.join(str(x) for x in range(n + 1))\n"
    );
    expect(&run(&*b, &e, TASK, &daemon, 2.0), Status::Pass, "daemon");
    let killer = "    import os, signal\n    try:\n        os.kill(-1, signal.SIGKILL)\n    except OSError:\n        pass\n    return None\n";
    expect(&run(&*b, &e, TASK, killer, 2.0), Status::Fail, "kill(-1)");
    // The sandbox refuses to start without a pid namespace (no --allow-weak-sandbox here).
    assert!(e.sandbox().isolation().pid);
    let alive = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|d| std::fs::read(d.path().join("cmdline")).ok())
        .any(|c| String::from_utf8_lossy(&c).contains(&marker));
    assert!(!alive, "the daemon outlived its run");
}

#[test]
fn cold_interpreters_give_the_same_statuses() {
    let (b, e) = (common::load("humaneval"), common::executor_with(false));
    assert!(!e.warm_python());
    let cases = [
        (
            "    return ' '.join(str(x) for x in range(n + 1))\n",
            Status::Pass,
        ),
        ("    return None\n", Status::Fail),
        ("    import os; os._exit(0)\n", Status::Exited),
        ("    x = bytearray(1 << 40)\n", Status::Memory),
        ("    while True:\n        pass\n", Status::Timeout),
    ];
    for (body, status) in cases {
        expect(&run(&*b, &e, TASK, body, 1.0), status, body);
    }
}
