//! Rebuild the eBPF object when the linker changes: bpf-linker is an undeclared build tool.
fn main() {
    if let Ok(linker) = which::which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
}
