//! The sandbox on its own: environment, descriptors, output cap, nonce protocol.

use tradeoff_eval::sandbox::{Exit, Limits, Sandbox};

fn python() -> String {
    // The system interpreter: world-readable, so it also works when running as root.
    "/usr/bin/python3".into()
}

fn py(sb: &Sandbox, code: &str, limits: &Limits) -> tradeoff_eval::sandbox::RunOutput {
    let s = sb.session().unwrap();
    s.run(&[python(), "-I".into(), "-c".into(), code.into()], limits)
        .unwrap()
}

#[test]
fn fresh_dir_cleared_env_and_only_five_fds() {
    let sb = Sandbox::new().unwrap();
    let code = "import os, json; print(json.dumps([os.listdir('.'), sorted(os.environ), sorted(os.listdir('/proc/self/fd')), os.getcwd()]))";
    let out = py(&sb, code, &Limits::default());
    assert_eq!(out.exit, Exit::Code(0), "{}", out.stderr_str());
    let v: serde_json::Value = serde_json::from_str(&out.stdout_str()).unwrap();
    assert_eq!(v[0], serde_json::json!([]), "empty directory");
    assert_eq!(v[1], serde_json::json!(["HOME", "LANG", "PATH", "TMPDIR"]));
    // 0-4 plus the descriptor listdir itself opened.
    assert_eq!(v[2].as_array().unwrap().len(), 6, "{}", v[2]);
    assert!(v[3].as_str().unwrap().contains("tradeoff-run-"));
}

#[test]
fn nonce_must_come_from_fd3() {
    let sb = Sandbox::new().unwrap();
    let echo = py(
        &sb,
        "import os; os.write(4, os.read(3, 32))",
        &Limits::default(),
    );
    assert!(echo.nonce_seen);
    let guess = py(
        &sb,
        "import os; os.write(4, os.urandom(16).hex().encode())",
        &Limits::default(),
    );
    assert!(!guess.nonce_seen && guess.exit == Exit::Code(0));
    // Each run has its own nonce: replaying one from an earlier run does not work.
    let first = py(
        &sb,
        "import os; n = os.read(3, 32); print(n.decode())",
        &Limits::default(),
    );
    let replay = format!("import os; os.write(4, b'{}')", first.stdout_str().trim());
    assert!(!py(&sb, &replay, &Limits::default()).nonce_seen);
}

#[test]
fn output_is_capped_and_drained() {
    let sb = Sandbox::new().unwrap();
    let limits = Limits {
        output_bytes: 1000,
        ..Limits::default()
    };
    let out = py(
        &sb,
        "import sys; sys.stdout.write('x' * 5_000_000)",
        &limits,
    );
    assert_eq!(out.exit, Exit::Code(0));
    assert_eq!(out.stdout.len(), 1000);
    assert_eq!(out.stdout_len, 5_000_000);
}

#[test]
fn runs_do_not_see_each_other() {
    let sb = Sandbox::new().unwrap();
    let a = sb.session().unwrap();
    a.write_file("secret.txt", b"a's data").unwrap();
    let b = sb.session().unwrap();
    let code = format!(
        "import os\ntry:\n    print(open({:?}).read())\nexcept OSError as e:\n    print('denied', e.errno)",
        a.dir().join("secret.txt").display().to_string()
    );
    let out = b
        .run(
            &[python(), "-I".into(), "-c".into(), code],
            &Limits::default(),
        )
        .unwrap();
    if sb.isolation().uid_base.is_some() {
        // Root: each run has its own uid and a private directory.
        assert!(
            out.stdout_str().starts_with("denied"),
            "{}",
            out.stdout_str()
        );
    } else {
        eprintln!("same uid for all runs: directories are not private (docs/sandbox.md)");
    }
    drop(a);
    drop(b);
}

#[test]
fn directory_is_removed_even_when_made_unwritable() {
    let sb = Sandbox::new().unwrap();
    let s = sb.session().unwrap();
    let dir = s.dir().to_path_buf();
    let code = "import os; os.makedirs('d/e'); open('d/e/f', 'w').write('x'); os.chmod('d/e', 0o500); os.chmod('d', 0o500)";
    let out = s
        .run(
            &[python(), "-I".into(), "-c".into(), code.into()],
            &Limits::default(),
        )
        .unwrap();
    assert_eq!(out.exit, Exit::Code(0), "{}", out.stderr_str());
    drop(s);
    assert!(!dir.exists());
}

#[test]
fn warm_runs_see_what_cold_runs_see() {
    let sb = Sandbox::new().unwrap();
    let warm = sb.warm_python(std::path::Path::new(&python())).unwrap();
    let code = "import os, json, stat\nfds = sorted(os.listdir('/proc/self/fd'))\nkinds = [stat.S_ISSOCK(os.fstat(int(f)).st_mode) for f in fds if int(f) < 5]\nprint(json.dumps([os.listdir('.'), sorted(os.environ), fds, os.getuid(), any(kinds)]))\nos.write(4, os.read(3, 32))";
    let s = sb.session().unwrap();
    let out = s.run_python(&warm, code, &Limits::default()).unwrap();
    assert!(out.nonce_seen, "{}", out.stderr_str());
    let v: serde_json::Value = serde_json::from_str(&out.stdout_str()).unwrap();
    assert_eq!(v[0], serde_json::json!([]));
    assert_eq!(v[1], serde_json::json!(["HOME", "LANG", "PATH", "TMPDIR"]));
    assert_eq!(
        v[2].as_array().unwrap().len(),
        6,
        "0-4 and listdir's own: {}",
        v[2]
    );
    assert_eq!(v[4], false, "the zygote's socket is not reachable");
    if sb.isolation().uid_base.is_some() {
        assert_ne!(v[3], 0, "root drops to the run's uid");
    }
    // Limits apply to the forked program as to an exec'd one.
    let limits = Limits {
        cpu_s: 1,
        wall_s: 10.0,
        ..Limits::default()
    };
    let spin = sb
        .session()
        .unwrap()
        .run_python(&warm, "while True: pass", &limits)
        .unwrap();
    assert!(spin.cpu_exceeded(&limits), "{:?}", spin.exit);
    assert!(spin.wall_s < 5.0);
}

#[test]
fn warm_runs_end_like_an_interpreter() {
    let sb = Sandbox::new().unwrap();
    let warm = sb.warm_python(std::path::Path::new(&python())).unwrap();
    let run = |code: &str| {
        sb.session()
            .unwrap()
            .run_python(&warm, code, &Limits::default())
            .unwrap()
    };
    let out = run("print('hi')");
    assert_eq!(
        (out.exit, out.stdout_str().as_str()),
        (Exit::Code(0), "hi\n")
    );
    assert_eq!(run("import sys; sys.exit(3)").exit, Exit::Code(3));
    let boom = run("raise ValueError('boom')");
    assert_eq!(boom.exit, Exit::Code(1));
    assert!(boom.stderr_str().contains("ValueError: boom"));
}

#[test]
fn a_weak_sandbox_is_refused_unless_allowed() {
    use tradeoff_eval::SandboxConfig;
    let plain = SandboxConfig {
        namespaces: false,
        ..Default::default()
    };
    let e = Sandbox::with_config(plain.clone()).unwrap_err().to_string();
    assert!(
        e.contains("no pid namespace") && e.contains("--allow-weak-sandbox"),
        "{e}"
    );
    let sb = Sandbox::with_config(SandboxConfig {
        allow_weak: true,
        ..plain
    })
    .unwrap();
    let weak = sb.isolation().weaknesses();
    assert!(weak.contains(&"no network namespace"), "{weak:?}");
    assert!(sb.isolation().describe().contains("pid namespace OFF"));
    // Landlock does not need namespaces: the weak sandbox still confines the filesystem,
    // through both launchers (the warm one then forks a supervisor).
    let code = "import os\ntry:\n    open('/var/tmp/x', 'w')\nexcept PermissionError:\n    print('denied')\nos.write(4, os.read(3, 32))";
    let warm = sb.warm_python(std::path::Path::new(&python())).unwrap();
    for out in [
        py(&sb, code, &Limits::default()),
        sb.session()
            .unwrap()
            .run_python(&warm, code, &Limits::default())
            .unwrap(),
    ] {
        assert_eq!(out.stdout_str().trim(), "denied", "{}", out.stderr_str());
        assert!(out.nonce_seen && out.exit == Exit::Code(0));
    }
}
