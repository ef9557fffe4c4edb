//! What the user sees, rendered from the plain results of `model` (their JSON is the results
//! themselves): a run's terminal table (`summary`), tracing other programs (`external`),
//! the kernel's rows both share (`calls`), `netcopy doctor` (`doctor`), a served connection (`served`), and a sweep's tables
//! (`sweep`: medians, spreads, A/B).

pub mod calls;
pub mod doctor;
pub mod external;
pub mod served;
pub mod summary;
pub mod sweep;
