//! The library's diagnostics. Messages go to one process-wide sink: standard error by
//! default (warnings and errors only), or a callback a host installs (the C API routes
//! this to `bitnet_log_set` / `llama_log_set`).

use std::sync::{Arc, RwLock};

/// Severity, ordered from most to least verbose (ggml's levels use the same order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

type Sink = Box<dyn Fn(Level, &str) + Send + Sync>;

static SINK: RwLock<Option<Arc<Sink>>> = RwLock::new(None);

/// Sends every message to `sink` instead of standard error; `None` restores the default.
pub fn set_sink(sink: Option<Sink>) {
    let mut guard = SINK
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *guard = sink.map(Arc::new);
}

/// Emits one message.
pub fn log(level: Level, message: &str) {
    // The sink is called without the lock held, so a sink may itself call `set_sink`.
    let sink = SINK
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    match sink {
        Some(sink) => sink(level, message),
        None if level >= Level::Warn => eprintln!("bitnet: {message}"),
        None => {}
    }
}

pub fn warn(message: &str) {
    log(Level::Warn, message);
}

pub fn info(message: &str) {
    log(Level::Info, message);
}
