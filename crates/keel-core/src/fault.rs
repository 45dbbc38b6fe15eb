//! Crash points for fault-injection tests. With `KEEL_CRASH_AT=N` in the environment the
//! process aborts (as a `kill -9` would stop it: no unwinding, no cleanup) at the N-th crash
//! point it passes; without it a crash point costs one atomic increment.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

static PASSED: AtomicU64 = AtomicU64::new(0);
static CRASH_AT: OnceLock<Option<u64>> = OnceLock::new();

/// Marks a point where a crash must leave a recoverable state. `_what` names it for readers
/// of the code (and of a core dump).
pub fn crash_point(_what: &str) {
    let n = PASSED.fetch_add(1, Ordering::SeqCst) + 1;
    let at = CRASH_AT.get_or_init(|| {
        std::env::var("KEEL_CRASH_AT")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    if *at == Some(n) {
        std::process::abort();
    }
}

/// How many crash points this process has passed (for tests choosing where to crash).
pub fn crash_points_passed() -> u64 {
    PASSED.load(Ordering::SeqCst)
}
