//! Slurm's accounting database (slurmdbd) as a store of job records (`accounting_field=`): the
//! job epilog leaves each job line worth telling in a job field that slurmdbd keeps, and
//! `oom-explain` reads it back with sacct on any login node, under Slurm's own access rules
//! (PrivateData). docs/records.md says when to use it.

pub mod backoff;
pub mod command;
pub mod ctld;
pub mod store;
pub mod value;

/// The job fields only admins (and Slurm) may set, which sacct shows. `Comment` is not one of
/// them: users set it, so a record there could be forged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    AdminComment,
    SystemComment,
}

impl Field {
    /// As sacct and sacctmgr spell it.
    pub fn name(self) -> &'static str {
        match self {
            Field::AdminComment => "AdminComment",
            Field::SystemComment => "SystemComment",
        }
    }

    /// A field by name, in any case (`admincomment` as Slurm's tools accept it).
    pub fn parse(name: &str) -> Option<Field> {
        [Field::AdminComment, Field::SystemComment]
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }
}
