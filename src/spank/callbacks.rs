//! The plugin's exported symbols: what Slurm looks up with dlsym().
//!
//! Each `slurm_spank_*` function does one thing and dispatches on the SPANK context:
//! - `init` (every context): read the plugstack.conf arguments, register `--oom-explain`.
//! - the option callback (sbatch/srun/salloc): refuse a bad MODE at submission.
//! - `user_init` (slurmstepd): if the step opted in, find its memory cgroup and start watching.
//! - `task_exit` (slurmstepd): after the last local task, read the cgroup — the last moment it
//!   is still there on cgroup v1 — analyse it and write the report to the step's stderr.
//!
//! Without the option nothing happens in slurmstepd beyond one getopt call: no thread, no file.

use std::ffi::{CStr, c_char, c_int, c_uint};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use once_cell::sync::OnceCell;

use super::boundary::guard;
use super::handle::{self, Context, Spank};
use super::{log, sys};
use crate::accounting::{ctld, store};
use crate::cgroup::read_snapshot;
use crate::cgroup::{StepCgroup, discover_step};
use crate::classify::{Cause, Evidence};
use crate::config::{Config, Records, Watching};
use crate::evidence::forecast::Notice;
use crate::evidence::kernel::{self, KernelLog};
use crate::evidence::sampler::{Sampler, Warner};
use crate::journal;
use crate::options::{Choice, Mode};
use crate::record::{self, Origin, StepRecord};
use crate::render::PREFIX;
use crate::report::{EvidenceRecord, StepReport};
use crate::spool;
use crate::step::{MemoryRequest, StepContext, StepId, StepKind};

#[unsafe(no_mangle)]
pub static plugin_name: [u8; 12] = *b"oom-explain\0";
#[unsafe(no_mangle)]
pub static plugin_type: [u8; 6] = *b"spank\0";
/// Slurm loads a plugin only if this matches its own major.minor: it comes from the headers the
/// plugin was built against (build.rs).
#[unsafe(no_mangle)]
pub static plugin_version: c_uint = sys::SLURM_VERSION_NUMBER;
#[unsafe(no_mangle)]
pub static spank_plugin_version: c_uint = 1;

/// The plugstack.conf arguments, parsed once per process.
static CONFIG: OnceCell<Result<Config, String>> = OnceCell::new();

/// What slurmstepd remembers between user_init and the last task_exit of a watched step.
struct Watch {
    /// What the user asked to hear; None for a step watched only for its record
    /// (`records=all`): nothing is written to its stderr.
    mode: Option<Mode>,
    /// The user gave `--oom-explain` (not the site's `default_mode`), as the record says.
    user_asked: bool,
    /// Who and where, for the step record.
    origin: Origin,
    config: Config,
    cgroup: StepCgroup,
    context: StepContext,
    started: Instant,
    /// When the step started, on the kernel log's clock: how long into the step a kill came.
    started_us: u64,
    /// The kernel log as from the step's start (None where it could not be opened).
    kernel_log: Option<KernelLog>,
    sampler: Option<Sampler>,
}

static WATCH: Mutex<Option<Watch>> = Mutex::new(None);

/// In slurmstepd, the option's value as Slurm handed it to the option callback (from the launch
/// message or the step's environment): Slurm calls it before init_post_opt, where
/// `spank_option_getopt` does not answer yet (22.05 to 26.05).
static OPTION_GIVEN: Mutex<Option<Option<String>>> = Mutex::new(None);

/// The kernel log, opened in init_post_opt (still root) for the user_init that follows.
static KERNEL_LOG: Mutex<Option<KernelLog>> = Mutex::new(None);

/// Reading the kernel log at a step's end stops after this long, however busy the log. Real
/// machines read an OOM report (~110 records) in about 1 ms; an emulated VM needed 100 ms for it
/// and lost a report at that budget (26.05 VM lane).
const KERNEL_LOG_BUDGET: Duration = Duration::from_millis(250);

/// The plugstack.conf arguments, parsed once per process by the first callback that has them.
///
/// # Safety
/// `argv` must hold `argc` valid C strings, as Slurm passes them to every callback.
unsafe fn config_from(argc: c_int, argv: *mut *mut c_char) -> &'static Result<Config, String> {
    CONFIG.get_or_init(|| {
        // SAFETY: per this function's contract.
        let args = unsafe { handle::args(argc, argv) };
        Config::from_args(&args).map_err(|e| e.to_string())
    })
}

/// # Safety
/// Called only by Slurm, with the handle and plugstack.conf arguments of the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn slurm_spank_init(
    sp: sys::spank_t,
    argc: c_int,
    argv: *mut *mut c_char,
) -> c_int {
    guard("init", 0, || {
        let context = handle::context();
        if context == Context::Slurmd {
            // Once per slurmd start: which build the node runs, for admins after an upgrade.
            log::info(&format!("loaded, version {}", crate::VERSION_LINE));
        }
        // SAFETY: Slurm passes argc valid strings in argv.
        let config = unsafe { config_from(argc, argv) };
        if let Err(e) = config {
            // Admins read slurmd's log; users of sbatch/srun should not see an admin's typo.
            let message = format!("{e}; the plugin is off until this is fixed");
            match context {
                Context::Remote | Context::Slurmd => log::error(&message),
                _ => log::verbose(&message),
            }
        }
        // SAFETY: the handle Slurm passed to this callback.
        let spank = unsafe { Spank::new(sp) };
        // Registered even when the configuration is bad, so `#SBATCH --oom-explain` lines never
        // break a job script.
        if let Err(e) = spank.register_option(Some(option_callback))
            && matches!(
                context,
                Context::Local | Context::Remote | Context::Allocator
            )
        {
            return Err(e);
        }
        crate::fault::at("init")?;
        Ok(0)
    })
}

/// Called by sbatch/srun/salloc when the user gives the option (`remote` = 0), and again in
/// slurmstepd (`remote` = 1). A non-zero return makes sbatch refuse the job with our message.
extern "C" fn option_callback(_val: c_int, optarg: *const c_char, remote: c_int) -> c_int {
    guard("--oom-explain", 0, || {
        crate::fault::at("option")?;
        let value = (!optarg.is_null())
            // SAFETY: a non-null optarg is a NUL-terminated string owned by Slurm.
            .then(|| {
                unsafe { CStr::from_ptr(optarg) }
                    .to_string_lossy()
                    .into_owned()
            });
        if remote != 0
            && let Ok(mut given) = OPTION_GIVEN.lock()
        {
            *given = Some(value.clone());
        }
        match Choice::from_option(value.as_deref()) {
            Ok(_) => Ok(0),
            // In slurmstepd the value is checked again in user_init, where the user can be told.
            Err(_) if remote != 0 => Ok(0),
            Err(e) => {
                log::error(&e.to_string());
                Ok(-1)
            }
        }
    })
}

/// # Safety
/// Called only by Slurm, with the handle and plugstack.conf arguments of the running callback.
///
/// In slurmstepd, as root and before the tasks start: opens the kernel log at its end for a
/// step that may be watched, so that its end reads only what the kernel logged since. (Reading
/// /dev/kmsg needs root where `dmesg_restrict` is set; user_init runs as the job's user.)
#[unsafe(no_mangle)]
pub unsafe extern "C" fn slurm_spank_init_post_opt(
    sp: sys::spank_t,
    _argc: c_int,
    _argv: *mut *mut c_char,
) -> c_int {
    guard("init_post_opt", 0, || {
        crate::fault::at("init_post_opt")?;
        // SAFETY: the handle Slurm passed to this callback.
        let Some(spank) = (unsafe { in_slurmstepd(sp) }) else {
            return Ok(0);
        };
        let Some(config) = CONFIG.get().and_then(|c| c.as_ref().ok()) else {
            return Ok(0);
        };
        let option = option_given(&spank);
        let watched = matches!(
            config.watching(option.as_ref().map(Option::as_deref)),
            Ok(Watching::RecordOnly | Watching::Report(_))
        );
        if !watched || StepKind::from_raw(spank.step_id()?) == StepKind::Extern {
            return Ok(0);
        }
        match KernelLog::open_at_end(Path::new("/")) {
            Ok(log) => {
                if let Ok(mut slot) = KERNEL_LOG.lock() {
                    *slot = Some(log);
                }
            }
            Err(e) => log::info(&format!(
                "/dev/kmsg: {e}; reports will go without the kernel's own account of a kill"
            )),
        }
        Ok(0)
    })
}

/// # Safety
/// Called only by Slurm, with the handle and plugstack.conf arguments of the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn slurm_spank_user_init(
    sp: sys::spank_t,
    _argc: c_int,
    _argv: *mut *mut c_char,
) -> c_int {
    guard("user_init", 0, || {
        crate::fault::at("user_init")?;
        // SAFETY: the handle Slurm passed to this callback.
        let Some(spank) = (unsafe { in_slurmstepd(sp) }) else {
            return Ok(0);
        };
        let option = option_given(&spank);
        let user_asked = option.is_some();
        // A bad configuration leaves the plugin off: a user who asked is told so.
        let Some(config) = CONFIG.get().and_then(|c| c.as_ref().ok()).cloned() else {
            if Config::default().watching(option.as_ref().map(Option::as_deref)) != Ok(Watching::No)
            {
                log::to_job(&format!(
                    "{PREFIX} not available for this job: the plugin's configuration is invalid \
                     (the administrators' slurmd log says why)."
                ));
            }
            return Ok(0);
        };
        // A step with no mode is at most recorded (records=all: only the cheap end-of-step
        // read, no sampler, nothing to its stderr).
        let choice = match config.watching(option.as_ref().map(Option::as_deref)) {
            Ok(Watching::No) => return Ok(0),
            Ok(Watching::RecordOnly) => None,
            Ok(Watching::Report(choice)) => Some(choice),
            Err(e) => {
                log::to_job(&format!("{PREFIX} {e}. No memory report for this step."));
                return Ok(0);
            }
        };
        let mode = choice.map(|c| c.mode);
        let id = StepId {
            job: spank.job_id()?,
            step: StepKind::from_raw(spank.step_id()?),
        };
        if id.step == StepKind::Extern {
            return Ok(0); // no user tasks of its own, and no stderr a user reads
        }
        let cgroup = match discover_step(Path::new("/"), "self", Some(&id.step.dir_name())) {
            Ok(cgroup) => cgroup,
            Err(e) => {
                if mode.is_some() {
                    log::to_job(&format!(
                        "{PREFIX} cannot watch the memory of step {id}; no report for it."
                    ));
                }
                return Err(format!("step {id}: {e}"));
            }
        };
        let uid = spank.job_uid().ok();
        let origin = Origin {
            node: node_name(),
            // The name and partition are the job epilog's to fill in: a user-database lookup
            // (NSS: LDAP, sssd) may block, which the step's start must never wait on, and the
            // step's environment is the user's to set.
            user: None,
            uid,
            partition: None,
        };
        let local_tasks = spank.local_task_count()?.max(1);
        let context = StepContext {
            request: MemoryRequest::from_env(
                spank.job_env("SLURM_MEM_PER_NODE").as_deref(),
                spank.job_env("SLURM_MEM_PER_CPU").as_deref(),
                spank.job_env("SLURM_MEM_PER_GPU").as_deref(),
            ),
            step_allocation: spank
                .step_alloc_mem_mib()
                .ok()
                .filter(|&m| m > 0)
                .map(|m| m << 20),
            cpus_per_task: spank.cpus_per_task().ok(),
            local_tasks: Some(local_tasks),
            node_memory: crate::step::node_memory(Path::new("/")),
            slurm: Some(crate::slurm::SlurmRelease::built_for()),
            // Only slurmstepd answers these (the job epilog cannot ask): the records keep them.
            array_task: spank.array_task(),
            ..StepContext::new(id)
        };
        // Memory over time, for opted-in steps only; without a thread the report is made from
        // the end figures alone. Warnings while it runs unless the site or the user said no.
        let warner = choice
            .filter(|c| c.warnings)
            .and_then(|_| config.warnings())
            .map(|settings| Warner::new(settings, Box::new(move |n: &Notice| tell(id, n))));
        let sampler = mode.and_then(|_| {
            Sampler::start(cgroup.clone(), warner)
                .map_err(|e| log::info(&format!("step {id}: no sampler ({e}); end figures only")))
                .ok()
        });
        let watch = Watch {
            mode,
            user_asked: user_asked && mode.is_some(),
            origin,
            config,
            cgroup,
            context,
            started: Instant::now(),
            started_us: kernel::now_us(),
            kernel_log: KERNEL_LOG.lock().ok().and_then(|mut slot| slot.take()),
            sampler,
        };
        if let Ok(mut slot) = WATCH.lock() {
            *slot = Some(watch);
        }
        Ok(0)
    })
}

/// # Safety
/// Called only by Slurm, with the handle and plugstack.conf arguments of the running callback.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn slurm_spank_task_exit(
    sp: sys::spank_t,
    _argc: c_int,
    _argv: *mut *mut c_char,
) -> c_int {
    guard("task_exit", 0, || {
        crate::fault::at("task_exit")?;
        // SAFETY: the handle Slurm passed to this callback.
        let Some(spank) = (unsafe { in_slurmstepd(sp) }) else {
            return Ok(0);
        };
        let watch = {
            // A poisoned lock means an earlier callback panicked: abandon the step quietly.
            let Ok(mut slot) = WATCH.lock() else {
                return Ok(0);
            };
            let Some(watch) = slot.as_mut() else {
                return Ok(0);
            };
            watch
                .context
                .exit_statuses
                .push(spank.task_exit_status().unwrap_or(0));
            if (watch.context.exit_statuses.len() as u32) < watch.context.local_tasks.unwrap_or(1) {
                return Ok(0);
            }
            slot.take().expect("checked above")
        };
        let Watch {
            mode,
            user_asked,
            origin,
            config,
            cgroup,
            mut context,
            started,
            started_us,
            kernel_log,
            sampler,
            ..
        } = watch;
        context.elapsed = Some(started.elapsed());
        let id = context.id;
        let clock = Instant::now();
        // Stop the sampler first (it takes its own last sample), then read the end figures.
        let series = sampler.map(|sampler| {
            let (series, panic) = sampler.stop();
            if let Some(why) = panic {
                log::info(&format!(
                    "step {id}: {why}; the samples taken before are used"
                ));
            }
            series
        });
        // (The `snapshot` fault stands for a cgroup that vanished while it was read.)
        let snapshot = crate::fault::at("snapshot")
            .and_then(|_| read_snapshot(&cgroup).map_err(|e| e.to_string()))
            .map_err(|e| format!("step {id}: {e}"))?;
        let killed = snapshot.step.oom_kills.unwrap_or(0) > 0 || context.tasks_killed() > 0;
        // The kernel log only when something was killed: it is the one larger read.
        let (kernel, kernel_records) = match (killed, kernel_log) {
            (true, Some(mut log)) => log.oom_events(&cgroup, KERNEL_LOG_BUDGET),
            _ => (Vec::new(), 0),
        };
        let evidence = Evidence {
            series,
            kill_at: kernel::kill_time(&kernel, started_us, context.elapsed),
            kernel,
        };
        let report = StepReport::from_snapshot(snapshot, &evidence, &context, &config);
        // Rendered once, only if someone reads it: the step's stderr and/or its record.
        let to_job = mode.is_some_and(|m| report.wanted(m));
        let to_record = config.records != Records::Off && report.diagnosis.cause != Cause::None;
        let text = if to_job || to_record {
            report.text(&context)
        } else {
            Vec::new()
        };
        let analysed_in = clock.elapsed();
        if to_job {
            for line in &text {
                log::to_job(line);
            }
        }
        let sampler_cost = evidence.series.as_ref().map_or_else(
            || "no sampler".to_owned(),
            |s| format!("sampler {} samples in {} us", s.taken, s.busy.as_micros()),
        );
        log::info(&format!(
            "step {} ({}): cause {}, peak {}, limit {}, oom kills {} ({} reported in {} kernel log records), analysed in {} us, {sampler_cost}",
            id,
            report.snapshot.version.name(),
            report.diagnosis.cause.id(),
            bytes_or_unknown(report.diagnosis.peak),
            bytes_or_unknown(report.diagnosis.limit),
            report.diagnosis.oom_kills,
            evidence.kernel.len(),
            kernel_records,
            analysed_in.as_micros(),
        ));
        let (node, ended) = (origin.node.clone(), record::unix_now());
        if config.records != Records::Off {
            // What its stderr got: the warnings while it ran, then the report.
            let told = evidence.series.iter().flat_map(|s| &s.notices);
            let text = told
                .flat_map(|notice| crate::render::warning::lines(notice, id))
                .chain(text)
                .collect();
            let record = StepRecord::new(
                &report,
                &context,
                origin,
                cgroup.job_dir.clone(),
                user_asked,
                ended,
                text,
            );
            match journal::spool_step(&config.spool_dir, &record) {
                Err(e) => log::error(&format!("step {id}: step record not written: {e}")),
                Ok(()) => store_at_step_end(&config, &record, headroom(&report)),
            }
        }
        if let Some(dir) = &config.evidence_dir {
            let step = id.step.dir_name();
            let name = record::file_name(id.job, step.trim_start_matches("step_"), &node, ended);
            let record = EvidenceRecord::new(report.snapshot.clone(), evidence, context);
            spool::Dir::open(dir)
                .and_then(|dir| dir.create_new(&name, record.to_json().as_bytes()))
                .map_err(|e| format!("step {id}: evidence record not written: {e}"))?;
        }
        Ok(0)
    })
}

/// A notice while the step runs: its lines in the step's stderr, one line in slurmd's log.
/// (From the sampler's thread: Slurm's log functions take their own lock.)
fn tell(id: StepId, notice: &Notice) {
    let lines = crate::render::warning::lines(notice, id);
    for line in &lines {
        log::to_job(line);
    }
    // The same words on one line for admins (log::info adds the prefix itself).
    let words: Vec<&str> = lines.iter().flat_map(|l| l.split_whitespace()).collect();
    let said = words.join(" ");
    let said = said.strip_prefix(PREFIX).unwrap_or(&said).trim_start();
    log::info(&format!("step {id}: told while it ran: {said}"));
}

/// Stores the node's line of the job in the accounting through slurmctld, when the site stores
/// lines there and this step may change it: its own outcome is worth telling, or it is the
/// batch script (the last step on its node). Here, in the last task_exit, srun and slurmctld
/// have not yet heard that the step ended, so the job still runs: slurmctld takes the update.
fn store_at_step_end(config: &Config, record: &StepRecord, headroom: Option<u64>) {
    if config.accounting_field != Some(crate::accounting::Field::AdminComment)
        || (!store::worth_telling(&record.cause) && record.step != "batch")
    {
        return;
    }
    let Some(uid) = record.origin.uid else {
        return;
    };
    let step = ctld::StepEnd {
        job: record.job,
        array_task: record.array_task(),
        uid,
        node: record.origin.node.clone(),
        batch: record.step == "batch",
        headroom,
    };
    if let Some(message) = ctld::at_step_end(config, &step) {
        log_store_message(message);
    }
}

/// A line about the accounting store for slurmd's log, an error if it tells of a failure.
fn log_store_message((failed, message): store::Message) {
    match failed {
        true => log::error(&message),
        false => log::info(&message),
    }
}

/// How far the job's memory was below its limit at the step's end.
fn headroom(report: &StepReport) -> Option<u64> {
    let snapshot = &report.snapshot;
    let used = snapshot.job.as_ref().unwrap_or(&snapshot.step).current?;
    Some(snapshot.limit?.saturating_sub(used))
}

/// The user's option in slurmstepd: `None` if not given, `Some(None)` for a bare
/// `--oom-explain`. From `spank_option_getopt`, or where it does not answer yet
/// (init_post_opt) from Slurm's own call of the option callback, which came before.
fn option_given(spank: &Spank) -> Option<Option<String>> {
    spank
        .option_value()
        .or_else(|| OPTION_GIVEN.lock().ok().and_then(|given| given.clone()))
}

/// The handle, when running in slurmstepd (the remote context); `None` elsewhere.
///
/// # Safety
/// `sp` must be the handle Slurm passed to the running callback.
unsafe fn in_slurmstepd(sp: sys::spank_t) -> Option<Spank> {
    // SAFETY: per this function's contract.
    (handle::context() == Context::Remote).then(|| unsafe { Spank::new(sp) })
}

/// This node's Slurm name: slurmstepd and the epilog's slurmstepd both have SLURMD_NODENAME
/// (set by Slurm, not the user); the host name only as a fallback.
fn node_name() -> String {
    std::env::var("SLURMD_NODENAME")
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| nix::unistd::gethostname().ok()?.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}

fn bytes_or_unknown(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "unknown".into(), |b| b.to_string())
}

/// # Safety
/// Called only by Slurm, with the handle and plugstack.conf arguments of the running callback.
///
/// The step is over. Normally the last task_exit has already made the report and stopped the
/// sampler; if a task_exit never came (a task that failed to launch), the sampler is stopped
/// and joined here, before slurmstepd unloads the plugin — a thread must never outlive its code.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn slurm_spank_exit(
    _sp: sys::spank_t,
    _argc: c_int,
    _argv: *mut *mut c_char,
) -> c_int {
    guard("exit", 0, || {
        crate::fault::at("exit")?;
        if handle::context() != Context::Remote {
            return Ok(0);
        }
        if let Ok(mut slot) = KERNEL_LOG.lock() {
            slot.take(); // opened for a step that was not watched after all
        }

        if let Ok(mut slot) = WATCH.lock()
            && let Some(watch) = slot.take()
        {
            let id = watch.context.id;
            log::info(&format!(
                "step {id}: ended before its last task_exit; no report"
            ));
            if let Some(why) = watch.sampler.and_then(Sampler::abandon) {
                log::info(&format!("step {id}: {why}"));
            }
        }
        Ok(0)
    })
}

/// # Safety
/// Called only by Slurm, with the handle and plugstack.conf arguments of the running callback.
///
/// The job epilog (as root, in the job-script slurmstepd, after all of the job's steps on this
/// node): merges the node's step records of the job, and any leftovers whose own epilog never
/// ran, into the node's job log. Never fails the job: errors are logged and the records stay in
/// the spool for the next epilog.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn slurm_spank_job_epilog(
    sp: sys::spank_t,
    argc: c_int,
    argv: *mut *mut c_char,
) -> c_int {
    guard("job_epilog", 0, || {
        // slurm_spank_init is not called in this context: the arguments come here.
        // SAFETY: Slurm passes argc valid strings in argv.
        let config = unsafe { config_from(argc, argv) }
            .as_ref()
            .map_err(|e| format!("{e}; the plugin is off until this is fixed"))?;
        crate::fault::at("job_epilog")?;
        if config.records == Records::Off {
            return Ok(0);
        }
        // SAFETY: the handle Slurm passed to this callback.
        let spank = unsafe { Spank::new(sp) };
        let job = spank.job_id()?;
        // The epilog's environment is Slurm's (user-set variables only with a SPANK_ prefix).
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let uid = spank
            .job_uid()
            .ok()
            .or_else(|| env("SLURM_JOB_UID").and_then(|u| u.parse().ok()));
        let here = Origin {
            node: node_name(),
            // The name from the uid, as the node's user database has it.
            user: uid.and_then(record::user_name),
            uid,
            partition: env("SLURM_JOB_PARTITION"),
        };
        let now = record::unix_now();
        let job_log = match config.job_log_to_syslog {
            true => journal::JobLog::Syslog(&config.syslog),
            false => journal::JobLog::File {
                path: &config.job_log,
                mode: config.job_log_mode,
            },
        };
        let merged = journal::epilog(&config.spool_dir, job_log, job, &here, |r| {
            journal::job_still_here(r, now, config.leftover_after_s)
        })
        .map_err(|e| format!("job {job}: records kept in the spool for the next epilog: {e}"))?;
        for bad in &merged.bad {
            log::error(&format!(
                "unreadable step record set aside: {}",
                bad.display()
            ));
        }
        for record in &merged.jobs {
            log::info(&crate::record::job_summary(record));
        }
        if let Some(kept) = &merged.kept {
            log::error(&format!("job {job}: {kept}"));
        }
        if let Some(file) = config.metrics_file.as_deref()
            && !merged.jobs.is_empty()
            && let Err(e) = crate::metrics::update(file, &merged.jobs, now)
        {
            log::error(&format!("metrics_file: counters left as they were: {e}"));
        }
        store::from_epilog(config, &merged.jobs)
            .into_iter()
            .for_each(log_store_message);
        Ok(0)
    })
}
