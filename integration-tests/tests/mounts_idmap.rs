//! Id-mapped bind mounts (uidMappings/gidMappings on a mount, `idmap`) and
//! recursive mount attributes (`rro`), seen from inside the container.

use std::os::unix::fs::MetadataExt;

use berth_integration_tests::*;
use serde_json::json;

/// Whether `dir`'s filesystem can be id-mapped on this kernel: tmpfs only
/// since 6.3, ramfs never (the test VM's root is one of them, on 6.1).
fn idmap_supported(dir: &std::path::Path) -> bool {
    let st = nix::sys::statfs::statfs(dir).unwrap();
    let t = st.filesystem_type().0 as u64;
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut v = rel.trim().split(['.', '-']).map(|x| x.parse::<u32>().unwrap_or(0));
    let (maj, min) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    match t {
        0x858458f6 => false,                  // ramfs
        0x01021994 => (maj, min) >= (6, 3), // tmpfs
        _ => (maj, min) >= (5, 12),
    }
}

/// On a kernel or filesystem without id-mapped mounts, the runtime must
/// refuse with the reason, not mount without the mapping.
fn expect_clear_refusal(env: &Env, b: &Bundle, id: &str) {
    let err = env.fails(&["run", "--bundle", b.p(), id]);
    assert!(err.contains("MOUNT_ATTR_IDMAP") && err.contains("support id-mapped mounts"), "{err}");
    env.assert_gone(id);
}

fn owners(out: &str) -> Vec<String> {
    out.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()
}

#[test]
fn idmapped_bind_mount_shows_mapped_owners() {
    let env = Env::new("idmap");
    let mut b = env.bundle("a");
    let data = env.dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("root-file"), "x").unwrap();
    std::fs::write(data.join("five-file"), "x").unwrap();
    std::os::unix::fs::chown(data.join("five-file"), Some(5), Some(5)).unwrap();
    std::os::unix::fs::chown(&data, Some(0), Some(0)).unwrap();
    // On-disk 0 appears as 1000 through the mount; 5 is not mapped (overflow id).
    b.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/data", "type": "bind", "source": data, "options": ["rbind"],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]
    }));
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config["process"]["args"] = json!(["sh", "-c", "busybox stat -c %u:%g /data/root-file /data/five-file; touch /data/made-inside && echo made"]);
    b.save();
    if !idmap_supported(&data) {
        return expect_clear_refusal(&env, &b, &env.id("a"));
    }
    let out = env.ok(&["run", "--bundle", b.p(), &env.id("a")]);
    assert_eq!(owners(&out), vec!["1000:1000", "65534:65534", "made"], "{out}");
    // What uid 1000 made through the mount is owned by 0 on disk.
    let md = std::fs::metadata(data.join("made-inside")).unwrap();
    assert_eq!((md.uid(), md.gid()), (0, 0));
    env.assert_gone(&env.id("a"));
}

#[test]
fn idmap_option_uses_the_container_user_namespace() {
    let env = Env::new("idmapns");
    let mut b = env.bundle("a");
    let data = env.dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), "x").unwrap();
    let rootfs = b.rootfs();
    b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["type"] != "sysfs" && m["type"] != "cgroup");
    // The mapped root cannot create directories in a rootfs owned by host root.
    for d in ["plain", "mapped"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    // Without idmap, host root's files show as nobody in the container; with it, as root.
    mounts.push(json!({"destination": "/plain", "type": "bind", "source": data, "options": ["bind"]}));
    mounts.push(json!({"destination": "/mapped", "type": "bind", "source": data, "options": ["bind", "idmap"]}));
    b.config["process"]["args"] = json!(["sh", "-c", "busybox stat -c %u:%g /plain/f /mapped/f"]);
    b.save();
    if !idmap_supported(&data) {
        return expect_clear_refusal(&env, &b, &env.id("a"));
    }
    let out = env.ok(&["run", "--bundle", b.p(), &env.id("a")]);
    assert_eq!(owners(&out), vec!["65534:65534", "0:0"], "{out}");
    env.assert_gone(&env.id("a"));
}

#[test]
fn recursive_read_only_and_bad_idmaps() {
    let env = Env::new("rro");
    let mut b = env.bundle("a");
    let data = env.dir.join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    // A mount below the source: `ro` would leave it writable, `rro` must not.
    let status = std::process::Command::new("mount").args(["-t", "tmpfs", "tmpfs"]).arg(data.join("sub")).status().unwrap();
    assert!(status.success());
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/data", "type": "bind", "source": data, "options": ["rbind", "rro"]}));
    b.config["process"]["args"] = json!(["sh", "-c", "touch /data/sub/x 2>/dev/null && echo writable || echo read-only"]);
    b.save();
    let out = env.run(&["run", "--bundle", b.p(), &env.id("a")]);
    let _ = std::process::Command::new("umount").arg(data.join("sub")).status();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "read-only", "{}", String::from_utf8_lossy(&out.stderr));
    env.assert_gone(&env.id("a"));

    // Mappings on a non-bind mount are refused, naming the mount.
    let mut b = env.bundle("b");
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs",
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}], "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}));
    b.save();
    let err = env.fails(&["run", "--bundle", b.p(), &env.id("b")]);
    assert!(err.contains("only possible on bind mounts"), "{err}");
    env.assert_gone(&env.id("b"));
}
