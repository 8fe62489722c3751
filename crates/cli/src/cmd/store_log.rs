//! `tradeoff serve`'s routing log into the run store: the request path hands each decision to
//! a channel; one writer thread owns the store connection and commits what has queued up in one
//! transaction, so a slow disk never holds up an answer.

use anyhow::{Context, Result};
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use tradeoff_serve::{LogEntry, LogSink};
use tradeoff_store::Store;

/// Most decisions committed in one transaction.
const BATCH: usize = 256;

pub struct StoreLog {
    tx: Mutex<Option<mpsc::Sender<LogEntry>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl StoreLog {
    /// Opens the store now (so a bad path fails at start-up) and starts the writer.
    pub fn start(path: &Path, session: String) -> Result<Arc<StoreLog>> {
        let mut store = Store::open(path)?;
        let (tx, rx) = mpsc::channel::<LogEntry>();
        let writer = std::thread::Builder::new()
            .name("routing-log".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let rows: Vec<(f64, String)> = std::iter::once(first)
                        .chain(rx.try_iter().take(BATCH - 1))
                        .filter_map(|e| serde_json::to_string(&e).ok().map(|j| (e.time, j)))
                        .collect();
                    if let Err(e) = store.add_routing_log(&session, &rows) {
                        tracing::warn!("routing log in the run store: {e}");
                    }
                }
            })
            .context("starting the routing log writer")?;
        Ok(Arc::new(StoreLog {
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        }))
    }

    /// Stops taking decisions and waits until every one taken is committed.
    pub fn close(&self) {
        drop(self.tx.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(w) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = w.join();
        }
    }
}

impl LogSink for StoreLog {
    fn write(&self, e: &LogEntry) {
        if let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = tx.send(e.clone());
        }
    }
}
