//! Which end of the workload a traced thread is. The run's `workload::watch::Roles` decides
//! it, once, where a workload thread starts; every table and summary takes it from there.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The sending end.
    Server,
    /// The receiving end.
    Client,
    /// A thread of some other program, or of netcopy outside the two ends.
    Other,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Server, Role::Client, Role::Other];

    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
            Role::Other => "other",
        }
    }
}
