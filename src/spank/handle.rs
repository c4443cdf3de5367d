//! Safe calls on the SPANK handle Slurm passes to every callback.

use std::ffi::{CStr, c_char, c_int};

use super::sys;
use crate::options;
use crate::step::ArrayTask;

/// Where the plugin is running (spank_context()).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// srun on the submit host.
    Local,
    /// slurmstepd on the compute node: where steps run and reports are made.
    Remote,
    /// sbatch or salloc.
    Allocator,
    /// slurmd itself.
    Slurmd,
    /// The job prolog/epilog slurmstepd.
    JobScript,
    Unknown,
}

pub fn context() -> Context {
    // SAFETY: takes no arguments, only reads Slurm's global state.
    match unsafe { sys::spank_context() } {
        sys::spank_context::S_CTX_LOCAL => Context::Local,
        sys::spank_context::S_CTX_REMOTE => Context::Remote,
        sys::spank_context::S_CTX_ALLOCATOR => Context::Allocator,
        sys::spank_context::S_CTX_SLURMD => Context::Slurmd,
        sys::spank_context::S_CTX_JOB_SCRIPT => Context::JobScript,
        _ => Context::Unknown,
    }
}

/// The plugstack.conf arguments Slurm passes to every callback.
///
/// # Safety
/// `argv` must hold `argc` valid C strings, as Slurm guarantees for SPANK callbacks.
pub unsafe fn args(argc: c_int, argv: *mut *mut c_char) -> Vec<String> {
    if argv.is_null() || argc <= 0 {
        return Vec::new();
    }
    (0..argc as usize)
        .filter_map(|i| {
            // SAFETY: i < argc, per the caller's contract.
            let arg = unsafe { *argv.add(i) };
            // SAFETY: non-null entries are NUL-terminated strings owned by Slurm.
            (!arg.is_null()).then(|| {
                unsafe { CStr::from_ptr(arg) }
                    .to_string_lossy()
                    .into_owned()
            })
        })
        .collect()
}

/// The option as Slurm sees it. Name, arginfo and usage point at static strings, which is what
/// spank_option_register() keeps (it does not copy them).
pub fn option(callback: sys::spank_opt_cb_f) -> sys::spank_option {
    const NAME: &CStr = c"oom-explain";
    const ARGINFO: &CStr = c"MODE";
    const USAGE: &CStr = c"Explain out-of-memory kills of this job in its stderr and suggest a \
--mem request. MODE: auto (default), oom (kills only), always (also a summary when all is well).";
    debug_assert_eq!(NAME.to_str(), Ok(options::OPTION_NAME));
    sys::spank_option {
        name: NAME.as_ptr().cast_mut(),
        arginfo: ARGINFO.as_ptr().cast_mut(),
        usage: USAGE.as_ptr().cast_mut(),
        // 2 = optional argument (getopt's optional_argument): --oom-explain or --oom-explain=MODE.
        has_arg: 2,
        val: 0,
        cb: callback,
    }
}

/// A SPANK handle, valid for the duration of one callback.
pub struct Spank(sys::spank_t);

impl Spank {
    /// # Safety
    /// `handle` must be the handle Slurm passed to the running callback.
    pub unsafe fn new(handle: sys::spank_t) -> Self {
        Spank(handle)
    }

    pub fn register_option(&self, callback: sys::spank_opt_cb_f) -> Result<(), String> {
        let mut opt = option(callback);
        // SAFETY: a live handle and an option whose strings are 'static.
        let rc = unsafe { sys::spank_option_register(self.0, &mut opt) };
        check(rc, "spank_option_register")
    }

    /// `None` when the user did not give the option; `Some(None)` for a bare `--oom-explain`.
    pub fn option_value(&self) -> Option<Option<String>> {
        let mut opt = option(None);
        let mut value: *mut c_char = std::ptr::null_mut();
        // SAFETY: a live handle; Slurm matches the option by name and sets `value` to a string
        // it owns (or leaves it null).
        let rc = unsafe { sys::spank_option_getopt(self.0, &mut opt, &mut value) };
        if rc != sys::ESPANK_SUCCESS {
            return None;
        }
        // SAFETY: a non-null value is a NUL-terminated string owned by Slurm.
        Some((!value.is_null()).then(|| {
            unsafe { CStr::from_ptr(value) }
                .to_string_lossy()
                .into_owned()
        }))
    }

    pub fn job_id(&self) -> Result<u32, String> {
        self.item(JOB_ID)
    }

    pub fn step_id(&self) -> Result<u32, String> {
        self.item(STEP_ID)
    }

    /// The array task of this step; `None` for a job that is no array task, or where Slurm does
    /// not say (only slurmstepd answers).
    pub fn array_task(&self) -> Option<ArrayTask> {
        let array_job_id = self.item(JOB_ARRAY_ID).ok()?;
        let array_task_id = self.item(JOB_ARRAY_TASK_ID).ok()?;
        ArrayTask::from_slurm(array_job_id, array_task_id)
    }

    pub fn local_task_count(&self) -> Result<u32, String> {
        self.item(LOCAL_TASK_COUNT)
    }

    /// CPUs per task; an error where the headers lack the item (build.rs decides).
    pub fn cpus_per_task(&self) -> Result<u32, String> {
        #[cfg(spank_item = "S_STEP_CPUS_PER_TASK")]
        return self.item(CPUS_PER_TASK);
        #[cfg(not(spank_item = "S_STEP_CPUS_PER_TASK"))]
        Err(missing_item("S_STEP_CPUS_PER_TASK"))
    }

    /// The job owner's uid; also in the job epilog.
    pub fn job_uid(&self) -> Result<u32, String> {
        self.item(JOB_UID)
    }

    /// The raw wait status of the task whose task_exit is running.
    pub fn task_exit_status(&self) -> Result<i32, String> {
        self.item(TASK_EXIT_STATUS)
    }

    /// Slurm's memory allocation for this step on this node, in MiB.
    pub fn step_alloc_mem_mib(&self) -> Result<u64, String> {
        #[cfg(spank_item = "S_STEP_ALLOC_MEM")]
        return self.item(STEP_ALLOC_MEM);
        #[cfg(not(spank_item = "S_STEP_ALLOC_MEM"))]
        Err(missing_item("S_STEP_ALLOC_MEM"))
    }

    /// A variable of the job's environment (not slurmstepd's own).
    pub fn job_env(&self, name: &str) -> Option<String> {
        let name = std::ffi::CString::new(name).ok()?;
        let mut buffer = [0 as c_char; 256];
        // SAFETY: a live handle, a NUL-terminated name and a buffer of the length given.
        let rc = unsafe {
            sys::spank_getenv(
                self.0,
                name.as_ptr(),
                buffer.as_mut_ptr(),
                buffer.len() as c_int,
            )
        };
        if rc != sys::ESPANK_SUCCESS {
            return None;
        }
        // SAFETY: on success Slurm wrote a NUL-terminated string into the buffer.
        Some(
            unsafe { CStr::from_ptr(buffer.as_ptr()) }
                .to_string_lossy()
                .into_owned(),
        )
    }

    /// The value of `item`, of the type its declaration (below) carries.
    fn item<T: Default>(&self, item: Item<T>) -> Result<T, String> {
        let mut value = T::default();
        // SAFETY: a live handle; `item` was declared with the C type spank.h gives it.
        let rc = unsafe { sys::spank_get_item(self.0, item.id, &mut value as *mut T) };
        check(rc, item.name)?;
        Ok(value)
    }
}

/// A SPANK item with the C type of its one out-parameter: the type is fixed where the item is
/// declared, from spank.h, never inferred from where the value goes.
struct Item<T> {
    id: sys::spank_item::Type,
    name: &'static str,
    _type: std::marker::PhantomData<T>,
}

impl<T> Item<T> {
    /// # Safety
    /// `T` must be the type spank.h gives for `id`'s out-parameter (`T *`).
    const unsafe fn new(id: sys::spank_item::Type, name: &'static str) -> Self {
        Item {
            id,
            name,
            _type: std::marker::PhantomData,
        }
    }
}

// SAFETY (each): spank.h documents these items' out-parameter as `uint32_t *`.
const JOB_ID: Item<u32> = unsafe { Item::new(sys::spank_item::S_JOB_ID, "S_JOB_ID") };
const STEP_ID: Item<u32> = unsafe { Item::new(sys::spank_item::S_JOB_STEPID, "S_JOB_STEPID") };
const JOB_ARRAY_ID: Item<u32> =
    unsafe { Item::new(sys::spank_item::S_JOB_ARRAY_ID, "S_JOB_ARRAY_ID") };
const JOB_ARRAY_TASK_ID: Item<u32> =
    unsafe { Item::new(sys::spank_item::S_JOB_ARRAY_TASK_ID, "S_JOB_ARRAY_TASK_ID") };
const LOCAL_TASK_COUNT: Item<u32> = unsafe {
    Item::new(
        sys::spank_item::S_JOB_LOCAL_TASK_COUNT,
        "S_JOB_LOCAL_TASK_COUNT",
    )
};
#[cfg(spank_item = "S_STEP_CPUS_PER_TASK")]
const CPUS_PER_TASK: Item<u32> = unsafe {
    Item::new(
        sys::spank_item::S_STEP_CPUS_PER_TASK,
        "S_STEP_CPUS_PER_TASK",
    )
};
// SAFETY: `uid_t *`.
const JOB_UID: Item<libc::uid_t> = unsafe { Item::new(sys::spank_item::S_JOB_UID, "S_JOB_UID") };
// SAFETY: `int *`.
const TASK_EXIT_STATUS: Item<c_int> =
    unsafe { Item::new(sys::spank_item::S_TASK_EXIT_STATUS, "S_TASK_EXIT_STATUS") };
// SAFETY: `uint64_t *`.
#[cfg(spank_item = "S_STEP_ALLOC_MEM")]
const STEP_ALLOC_MEM: Item<u64> =
    unsafe { Item::new(sys::spank_item::S_STEP_ALLOC_MEM, "S_STEP_ALLOC_MEM") };

/// The headers this plugin was built against do not define the item: the caller goes without.
#[allow(dead_code)] // used only when build.rs finds an item missing
fn missing_item(name: &str) -> String {
    format!(
        "{name}: not in Slurm {}'s spank.h",
        env!("OOM_EXPLAIN_SLURM_RELEASE")
    )
}

fn check(rc: sys::spank_err_t, what: &str) -> Result<(), String> {
    if rc == sys::ESPANK_SUCCESS {
        return Ok(());
    }
    // SAFETY: spank_strerror returns a static string for any code.
    let text = unsafe { sys::spank_strerror(rc) };
    let text = if text.is_null() {
        format!("error {rc}")
    } else {
        // SAFETY: non-null, static, NUL-terminated.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    };
    Err(format!("{what}: {text}"))
}
