//! `tradeoff serve`'s routing log in the store: each server session's decisions, as the JSON
//! records serve writes (the store does not interpret them).

use crate::{Result, Store};
use rusqlite::params;

/// One server session's share of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSession {
    pub session: String,
    pub requests: usize,
    pub first_unix: f64,
    pub last_unix: f64,
}

impl Store {
    /// Appends decisions `(time, JSON record)` of `session`, in one transaction.
    pub fn add_routing_log(&mut self, session: &str, entries: &[(f64, String)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO routing_log (session, time, entry) VALUES (?1, ?2, ?3)",
            )?;
            for (time, entry) in entries {
                st.execute(params![session, time, entry])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The sessions that logged decisions, oldest first.
    pub fn routing_sessions(&self) -> Result<Vec<LogSession>> {
        let mut st = self.conn.prepare(
            "SELECT session, count(*), min(time), max(time) FROM routing_log
             GROUP BY session ORDER BY min(time)",
        )?;
        let rows = st.query_map([], |r| {
            Ok(LogSession {
                session: r.get(0)?,
                requests: r.get::<_, i64>(1)? as usize,
                first_unix: r.get(2)?,
                last_unix: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The JSON records of one session (or of all), in the order they were logged.
    pub fn routing_log(&self, session: Option<&str>) -> Result<Vec<String>> {
        let mut st = self.conn.prepare(
            "SELECT entry FROM routing_log WHERE ?1 IS NULL OR session = ?1 ORDER BY time, id",
        )?;
        let rows = st.query_map(params![session], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_keep_their_decisions_apart() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = Store::open(&dir.path().join("runs.sqlite")).unwrap();
        st.add_routing_log("a", &[(2.0, "{\"n\":2}".into()), (1.0, "{\"n\":1}".into())])
            .unwrap();
        st.add_routing_log("b", &[(3.0, "{\"n\":3}".into())])
            .unwrap();
        let s = st.routing_sessions().unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].session.as_str(), s[0].requests), ("a", 2));
        assert_eq!((s[0].first_unix, s[0].last_unix), (1.0, 2.0));
        assert_eq!(
            st.routing_log(Some("a")).unwrap(),
            ["{\"n\":1}", "{\"n\":2}"]
        );
        assert_eq!(st.routing_log(None).unwrap().len(), 3);
        assert!(st.routing_log(Some("c")).unwrap().is_empty());
    }
}
