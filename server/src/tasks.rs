//! Finding tasks: TODO-style markers in comments and unchecked items in TASKS.md.
