// The ARM variant a build runs as comes from its target triple (armv7-...,
// armv6-..., arm-...): stable Rust does not expose ARM's `v7` target
// feature to `cfg!`, so the triple is handed to the crate instead.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=OCI_IMAGE_TARGET={target}");
}
