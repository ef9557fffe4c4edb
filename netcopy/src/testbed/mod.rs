//! Test networks for the workload: `netns` builds two network namespaces joined by veth.
pub mod netns;
