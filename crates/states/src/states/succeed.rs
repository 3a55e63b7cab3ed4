//! `Succeed`: ends the execution (or the branch, or the iteration) successfully. It runs in
//! `run.rs`, since all it does is `InputPath` then `OutputPath`.

pub(crate) const FIELDS: &[&str] = &["InputPath", "OutputPath", "Output"];
