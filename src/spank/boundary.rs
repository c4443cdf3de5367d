//! The panic boundary every `extern "C"` entry point goes through.
//!
//! A panic must never unwind into slurmstepd (undefined behaviour, and a failed job). Each
//! entry point runs its body inside [`guard`], which turns a panic or an error into a log line
//! with the `oom-explain:` prefix and returns the value Slurm should see.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use super::log;

/// Runs `body`; on `Err` logs it and returns `fallback`, on a panic logs it and returns
/// `fallback`. `what` names the entry point in the log.
pub fn guard<T>(what: &str, fallback: T, body: impl FnOnce() -> Result<T, String>) -> T {
    quiet_panics();
    // AssertUnwindSafe: after a panic the plugin's state is abandoned (see callbacks::state),
    // never reused half-updated.
    match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(message)) => {
            log::error(&format!("{what}: {message}"));
            fallback
        }
        Err(payload) => {
            let reason = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            log::error(&format!(
                "{what}: internal error ({reason}); the job is not affected"
            ));
            fallback
        }
    }
}

/// Rust's default panic hook writes to fd 2, which in slurmstepd is the user's stderr. Panics
/// are reported once, by `guard`, through Slurm's log instead.
fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| panic::set_hook(Box::new(|_| {})));
}
