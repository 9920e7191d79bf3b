//! `berth image prune` and the `images` filters: dangling images go, tagged
//! ones only with -a, an image a container uses never; `--digests`,
//! `--filter dangling|reference|label|before|since`.

use std::process::{Command, Stdio};

use berth_integration_tests::daemon::*;

fn tarball(dir: &std::path::Path) -> std::path::PathBuf {
    let r = dir.join("rootfs");
    std::fs::create_dir_all(r.join("bin")).unwrap();
    std::fs::copy(berth_integration_tests::busybox(), r.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", r.join("bin/sh")).unwrap();
    let out = dir.join("rootfs.tgz");
    assert!(Command::new("tar").arg("-C").arg(&r).arg("-czf").arg(&out).arg(".").status().unwrap().success());
    out
}

fn ids(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).filter(|l| !l.is_empty()).collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn prune_keeps_what_containers_use_and_filters_list() {
    let reg = registry();
    let d = Daemon::start("prune");
    let tgz = tarball(&d.dir);
    let tgz = tgz.to_str().unwrap();
    d.ok(&["pull", "-q", &format!("{reg}/busybox")]);
    d.ok(&["pull", "-q", &format!("{reg}/webapp")]);
    let busybox = d.inspect(&format!("{reg}/busybox"))["Id"].as_str().unwrap()[7..19].to_string();
    // Pulled by digest only: no tag, so dangling, listed as `repo <none>`.
    let fx: serde_json::Value = serde_json::from_slice(&std::fs::read(fixtures().join("fixtures.json")).unwrap()).unwrap();
    let layers_ref = format!("{reg}/layers@{}", fx["layers:latest"]["digest"].as_str().unwrap());
    d.ok(&["pull", "-q", &layers_ref]);
    let layers = d.inspect(&layers_ref)["Id"].as_str().unwrap()[7..19].to_string();

    // A, B, C imported in turn as local/x:1: A and B are left dangling; a
    // container uses A.
    let a = d.ok(&["import", "-c", "LABEL stage=a", tgz, "local/x:1"]).trim()[7..19].to_string();
    d.ok(&["create", "--network", "none", "--name", "uses-a", "local/x:1", "sh"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = d.ok(&["import", "-c", "LABEL stage=b", tgz, "local/x:1"]).trim()[7..19].to_string();
    let c = d.ok(&["import", "-c", "LABEL stage=c", tgz, "local/x:1"]).trim()[7..19].to_string();

    // The list and its filters.
    let table = d.ok(&["images", "--digests"]);
    let header = table.lines().next().unwrap();
    assert!(header.contains("DIGEST") && header.find("DIGEST") < header.find("IMAGE ID"), "{table}");
    let bb_row = table.lines().find(|l| l.starts_with(&format!("{reg}/busybox "))).unwrap();
    assert!(bb_row.contains("sha256:"), "{table}");
    assert!(table.lines().any(|l| l.starts_with(&format!("{reg}/layers ")) && l.contains("<none>")), "digest-only row: {table}");
    assert_eq!(ids(&d.ok(&["images", "-q", "--filter", "dangling=true"])), ids(&[a.as_str(), b.as_str(), layers.as_str()].join("\n")));
    assert_eq!(ids(&d.ok(&["images", "-q", "-f", "reference=*/busybox"])), vec![busybox.clone()]);
    assert_eq!(ids(&d.ok(&["images", "-q", "--filter", "label=stage=b"])), vec![b.clone()]);
    assert_eq!(ids(&d.ok(&["images", "-q", "--filter", "label=stage", "--filter", "dangling=false"])), vec![c.clone()]);
    assert_eq!(ids(&d.ok(&["images", "-q", "--filter", &format!("since={a}")])), ids(&[b.as_str(), c.as_str()].join("\n")));
    assert!(ids(&d.ok(&["images", "-q", "--filter", &format!("before={b}")])).contains(&busybox));
    assert!(!ids(&d.ok(&["images", "-q", "--filter", &format!("before={b}")])).contains(&c));
    assert!(d.fails(&["images", "--filter", "bogus=1"]).contains("invalid filter"));
    assert!(d.fails(&["images", "--filter", "nonsense"]).contains("bad format of filter"));

    // Without -f it asks; "n" keeps everything.
    let mut child = d.berth_cmd().args(["image", "prune"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"n\n").unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("This will remove all dangling images"));
    assert_eq!(d.ok(&["images", "-q"]).lines().count(), 6);

    // Dangling and unused: B and the digest-only layers image.
    let out = d.ok(&["image", "prune", "-f"]);
    assert!(out.starts_with("Deleted Images:\n"), "{out}");
    assert!(out.contains(&format!("deleted: sha256:{b}")) && out.contains(&format!("deleted: sha256:{layers}")), "{out}");
    assert!(!out.contains(&a) && !out.contains(&c), "{out}");
    assert!(!out.contains("Total reclaimed space: 0B"), "the layers image's layers were freed: {out}");
    let left = ids(&d.ok(&["images", "-q"]));
    assert!(left.contains(&a) && left.contains(&c) && left.contains(&busybox) && !left.contains(&b));

    // -a with a label that nothing has: nothing goes.
    let out = d.ok(&["image", "prune", "-a", "-f", "--filter", "label=nothing=here"]);
    assert_eq!(out.trim(), "Total reclaimed space: 0B");
    // -a: everything no container uses; A stays for its container.
    let out = d.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains(&format!("untagged: {reg}/busybox:latest")) && out.contains("untagged: local/x:1"), "{out}");
    assert_eq!(ids(&d.ok(&["images", "-q"])), vec![a.clone()]);
    d.ok(&["rm", "uses-a"]);
    d.ok(&["image", "prune", "-f"]);
    assert!(d.ok(&["images", "-q"]).trim().is_empty());
    assert_eq!(d.store_entries(), (vec![], vec![]), "nothing left on disk");
}
