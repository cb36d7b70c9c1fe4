//! Embeds `dist/sark_policy.wasm` (built by `make component`) in the host.
fn main() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/sark_policy.wasm");
    println!("cargo::rerun-if-changed={}", path.display());
    if !path.exists() {
        println!(
            "cargo::error=the component {} is missing: run `make component` first",
            path.display()
        );
    }
}
