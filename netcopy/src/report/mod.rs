//! What the user sees: the run summary as a terminal table or as one JSON object.
pub mod summary;
pub mod sweep;
