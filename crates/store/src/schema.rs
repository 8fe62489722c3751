//! The SQLite schema and its migrations. `PRAGMA user_version` holds how many migrations have
//! run; a migration is appended, never edited, once released.

use crate::{Error, Result};
use rusqlite::Connection;

/// Each entry moves the schema one version up.
const MIGRATIONS: &[&str] = &[
    // v1
    r#"
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    config        TEXT NOT NULL,
    config_sha256 TEXT NOT NULL,
    tool_version  TEXT NOT NULL,
    git_rev       TEXT,
    cpu           TEXT NOT NULL,
    threads       INTEGER NOT NULL,
    ram_bytes     INTEGER NOT NULL,
    gpu           TEXT,
    os            TEXT NOT NULL,
    hostname      TEXT NOT NULL,
    machine_fp    TEXT NOT NULL,
    started_unix  REAL NOT NULL,
    ended_unix    REAL,
    status        TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed'))
);

-- A variant is its content: the same recipe on the same source gives the same id in any run.
CREATE TABLE variants (
    id              TEXT PRIMARY KEY,
    label           TEXT NOT NULL,
    model           TEXT NOT NULL,
    source_sha256   TEXT,
    recipe          TEXT NOT NULL,
    manifest        TEXT NOT NULL,
    artifact_path   TEXT,
    artifact_sha256 TEXT,
    size_bytes      INTEGER,
    note            TEXT,
    created_unix    REAL NOT NULL
);

CREATE TABLE run_variants (
    run      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    variant  TEXT NOT NULL REFERENCES variants(id),
    role     TEXT NOT NULL CHECK (role IN ('baseline', 'candidate')),
    -- The name this run gave it (the same content may be called differently elsewhere).
    label    TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (run, variant)
);

-- One measurement of one variant. `cache_key` hashes every input that changes the outcome, so
-- a later run asking for the same thing gets this row instead of recomputing it.
CREATE TABLE results (
    id              INTEGER PRIMARY KEY,
    cache_key       TEXT NOT NULL UNIQUE,
    variant         TEXT NOT NULL REFERENCES variants(id),
    kind            TEXT NOT NULL CHECK (kind IN ('bench', 'quality', 'perf')),
    name            TEXT NOT NULL,
    dataset_name    TEXT,
    dataset_sha256  TEXT,
    prompt_template TEXT,
    generation      TEXT,
    seed            INTEGER NOT NULL,
    n               INTEGER NOT NULL,
    k               TEXT NOT NULL,
    params          TEXT NOT NULL,
    machine_fp      TEXT,
    record          TEXT,
    status          TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    error           TEXT,
    run             INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    started_unix    REAL NOT NULL,
    ended_unix      REAL
);
CREATE INDEX results_variant ON results(variant);

-- Which runs use a result; `reused` = it was computed by an earlier run.
CREATE TABLE run_results (
    run    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    result INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,
    reused INTEGER NOT NULL,
    PRIMARY KEY (run, result)
);
CREATE INDEX run_results_result ON run_results(result);

CREATE TABLE metrics (
    result           INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    value            REAL,
    ci_lo            REAL,
    ci_hi            REAL,
    n                INTEGER,
    unit             TEXT,
    higher_is_better INTEGER NOT NULL,
    PRIMARY KEY (result, name)
);
CREATE INDEX metrics_name ON metrics(name);

CREATE TABLE samples (
    result     INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,
    task_id    TEXT NOT NULL,
    sample     INTEGER NOT NULL,
    passed     INTEGER NOT NULL,
    status     TEXT NOT NULL,
    detail     TEXT,
    tokens     INTEGER,
    exec_s     REAL,
    gen_s      REAL,
    completion TEXT,
    PRIMARY KEY (result, task_id, sample)
);
"#,
    // v2: routing evaluations are results too. SQLite cannot change a CHECK in place, so the
    // table is rebuilt (foreign keys are off while migrating: other tables keep their rows).
    r#"
CREATE TABLE results_v2 (
    id              INTEGER PRIMARY KEY,
    cache_key       TEXT NOT NULL UNIQUE,
    variant         TEXT NOT NULL REFERENCES variants(id),
    kind            TEXT NOT NULL CHECK (kind IN ('bench', 'quality', 'perf', 'route')),
    name            TEXT NOT NULL,
    dataset_name    TEXT,
    dataset_sha256  TEXT,
    prompt_template TEXT,
    generation      TEXT,
    seed            INTEGER NOT NULL,
    n               INTEGER NOT NULL,
    k               TEXT NOT NULL,
    params          TEXT NOT NULL,
    machine_fp      TEXT,
    record          TEXT,
    status          TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    error           TEXT,
    run             INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    started_unix    REAL NOT NULL,
    ended_unix      REAL
);
INSERT INTO results_v2 SELECT * FROM results;
DROP TABLE results;
ALTER TABLE results_v2 RENAME TO results;
CREATE INDEX results_variant ON results(variant);
"#,
    // v3: `tradeoff serve`'s routing decisions, one row per request, grouped by server session.
    // `entry` is the JSON record serve writes (no prompt text, only its sha256).
    r#"
CREATE TABLE routing_log (
    id      INTEGER PRIMARY KEY,
    session TEXT NOT NULL,
    time    REAL NOT NULL,
    entry   TEXT NOT NULL
);
CREATE INDEX routing_log_session ON routing_log(session, time);
"#,
    // v4: the machine's architecture and ISA extensions (comma-separated), which decide the
    // kernels' code paths; empty for runs stored before.
    r#"
ALTER TABLE runs ADD COLUMN arch TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN isa TEXT NOT NULL DEFAULT '';
"#,
    // v5: each test case's outcome where the tests report them (QuixBugs), as `P`/`F`/`?`.
    r#"
ALTER TABLE samples ADD COLUMN cases TEXT;
"#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database up to [`SCHEMA_VERSION`], one transaction per migration.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let have: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if have > SCHEMA_VERSION {
        return Err(Error::NewerSchema {
            have,
            known: SCHEMA_VERSION,
        });
    }
    if have == SCHEMA_VERSION {
        return Ok(());
    }
    // A table rebuild must not cascade its implicit DELETE into the tables that reference it.
    conn.pragma_update(None, "foreign_keys", false)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(have as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as u32 + 1)?;
        tx.commit()?;
    }
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_store_migrates_keeping_samples_and_metrics() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 1; PRAGMA foreign_keys = ON;
             INSERT INTO variants (id, label, model, recipe, manifest, created_unix)
                 VALUES ('v', 'q4', 'm', '{}', '{}', 0);
             INSERT INTO results (id, cache_key, variant, kind, name, seed, n, k, params, status, started_unix)
                 VALUES (1, 'k', 'v', 'bench', 'humaneval', 0, 1, '[1]', 'null', 'done', 0);
             INSERT INTO metrics (result, name, value, higher_is_better) VALUES (1, 'pass@1', 0.5, 1);
             INSERT INTO samples (result, task_id, sample, passed, status) VALUES (1, 'HumanEval/0', 0, 1, 'pass');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let count = |t: &str| -> i64 {
            conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(
            (count("results"), count("metrics"), count("samples")),
            (1, 1, 1)
        );
        conn.execute(
            "INSERT INTO results (cache_key, variant, kind, name, seed, n, k, params, status, started_unix)
             VALUES ('r', 'v', 'route', 'route', 0, 1, '[1]', 'null', 'done', 0)",
            [],
        )
        .unwrap();
        let fk: bool = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert!(fk, "foreign keys are back on after migrating");
    }
}
