//! The runtime spec's own good and bad example configs
//! (`../shared/reference/oci-runtime-spec/schema/test/`): every good one
//! parses, every bad one is refused; Linux-only validation accepts the
//! Linux examples and refuses the other platforms'.

use std::path::PathBuf;

use berth_runtime::spec::Spec;

fn examples(kind: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(std::env::var("BERTH_SHARED").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared").into()))
        .join("reference/oci-runtime-spec/schema/test/config")
        .join(kind);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (set BERTH_SHARED to the shared/ directory)", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

#[test]
fn good_examples_parse() {
    for p in examples("good") {
        let text = std::fs::read(&p).unwrap();
        let spec = Spec::from_json(&text, &p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let linux = spec.validate_for_linux(&p);
        if name.starts_with("freebsd") || name.starts_with("zos") {
            assert!(linux.is_err(), "{name} is not a Linux config");
        } else if name.contains("netdevice") || name == "spec-example.json" {
            // Valid, but refused: netDevices is not implemented; spec-example is ociVersion 0.5.0-dev.
            let e = linux.unwrap_err().to_string();
            assert!(e.contains("not"), "{name}: {e}");
            if name == "spec-example.json" {
                // Its seccomp section (x86 and x32 only) compiles.
                let s = spec.linux.as_ref().and_then(|l| l.seccomp.as_ref()).expect("spec-example has linux.seccomp");
                s.validate().unwrap();
                berth_runtime::seccomp::Filter::compile(s).unwrap();
            }
        } else if name.starts_with("minimal") && spec.process.is_none() {
            linux.unwrap();
        } else {
            linux.unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn bad_examples_are_refused_naming_the_field() {
    for p in examples("bad") {
        let text = std::fs::read(&p).unwrap();
        let e = match Spec::from_json(&text, &p) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{} should be refused", p.display()),
        };
        assert!(e.contains(p.to_str().unwrap()), "{e}");
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let field = match name.as_str() {
            "linux-hugepage.json" => Some("pageSize"),
            "linux-rdma.json" => Some("hcaHandles"),
            "linux-netdevice.json" => Some("netDevices.eth0.name"),
            "freebsd-vnet-disable.json" => Some("freebsd.jail.vnet"),
            _ => None,
        };
        if let Some(f) = field {
            assert!(e.contains(f), "{name}: {e}");
        }
    }
}
