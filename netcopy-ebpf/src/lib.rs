//! Host-side stub so that `netcopy` can list this crate as a build-dependency (which makes
//! cargo rebuild `netcopy` when the programs change). The programs live in `main.rs`.
#![no_std]
