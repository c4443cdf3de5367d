//! Faults injected on purpose, to prove that none of them reaches a job: a panic or an error at
//! any entry point, a sampler thread that panics, a cgroup that cannot be read, a kernel log that
//! reads slowly. Compiled in only with the `fault-injection` feature (tests/run-all.sh builds a
//! separate plugin with it); there the plugstack.conf key `fault=PLACE:KIND[,PLACE:KIND…]` arms
//! them, e.g. `fault=user_init:panic,kmsg:slow`. A shipped build has neither the key nor a
//! single instruction of this.

#[cfg(feature = "fault-injection")]
mod armed {
    use std::sync::Mutex;

    /// What happens at an armed place.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Fault {
        Panic,
        Error,
        /// 5 ms lost each time the place is passed.
        Slow,
    }

    static ARMED: Mutex<Vec<(String, Fault)>> = Mutex::new(Vec::new());

    /// Arms the faults of a `fault=` value (replacing any armed before).
    pub fn arm(spec: &str) -> Result<(), String> {
        let mut faults = Vec::new();
        for item in spec.split(',').filter(|i| !i.is_empty()) {
            let (place, kind) = item
                .split_once(':')
                .ok_or_else(|| format!("fault={spec:?}: expected PLACE:KIND"))?;
            let kind = match kind {
                "panic" => Fault::Panic,
                "error" => Fault::Error,
                "slow" => Fault::Slow,
                _ => return Err(format!("fault={spec:?}: KIND is panic, error or slow")),
            };
            faults.push((place.to_owned(), kind));
        }
        *ARMED.lock().map_err(|_| "fault: poisoned")? = faults;
        Ok(())
    }

    pub fn at(place: &str) -> Result<(), String> {
        let fault = ARMED
            .lock()
            .ok()
            .and_then(|armed| armed.iter().find(|(p, _)| p == place).map(|(_, f)| *f));
        match fault {
            Some(Fault::Panic) => panic!("fault injected at {place}"),
            Some(Fault::Error) => Err(format!("fault injected at {place}")),
            Some(Fault::Slow) => {
                std::thread::sleep(std::time::Duration::from_millis(5));
                Ok(())
            }
            None => Ok(()),
        }
    }
}

#[cfg(feature = "fault-injection")]
pub use armed::{arm, at};

/// Without the feature: nothing is ever armed.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn at(_place: &str) -> Result<(), String> {
    Ok(())
}
