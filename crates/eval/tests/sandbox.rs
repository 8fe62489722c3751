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
