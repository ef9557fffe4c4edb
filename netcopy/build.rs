//! Builds `netcopy-ebpf` for the BPF target with aya-build and leaves the object in OUT_DIR,
//! where `src/probes/mod.rs` embeds it. `AYA_BUILD_SKIP=1` replaces the object with an empty
//! file (for `cargo check` on a machine without bpf-linker); such a binary cannot trace.
use anyhow::{Context as _, anyhow};

fn main() -> anyhow::Result<()> {
    if std::env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true")) {
        // aya-build writes nothing when skipping; leave an empty object so the crate compiles.
        println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
        let out_dir = std::env::var("OUT_DIR").context("OUT_DIR not set")?;
        std::fs::write(std::path::Path::new(&out_dir).join("netcopy-ebpf"), [])?;
        return Ok(());
    }
    let metadata = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let ebpf = metadata
        .packages
        .into_iter()
        .find(|p| p.name.as_str() == "netcopy-ebpf")
        .ok_or_else(|| anyhow!("the workspace has no netcopy-ebpf package"))?;
    let root_dir = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("no parent for {}", ebpf.manifest_path))?;
    aya_build::build_ebpf(
        [aya_build::Package {
            name: ebpf.name.as_str(),
            root_dir: root_dir.as_str(),
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}
