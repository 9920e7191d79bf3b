//! The root filesystem: mounts of every type, devices, masked and
//! read-only paths, a read-only root, and symlinks that try to escape.

use berth_integration_tests::*;
use serde_json::{json, Value};

fn mount<'a>(r: &'a Value, target: &str) -> Option<&'a Value> {
    r["mounts"].as_array().unwrap().iter().rev().find(|m| m["target"] == target)
}

#[test]
fn mounts_devices_and_paths() {
    let env = Env::new("rootfs");
    let mut b = env.bundle("a");
    let host_dir = env.dir.join("shared");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("hello.txt"), "from the host").unwrap();
    let host_file = env.dir.join("single.txt");
    std::fs::write(&host_file, "one file").unwrap();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/data/ro", "type": "bind", "source": host_dir, "options": ["rbind", "ro", "nosuid", "nodev"]}));
    mounts.push(json!({"destination": "/data/rw", "type": "none", "source": host_dir, "options": ["bind", "rw"]}));
    mounts.push(json!({"destination": "/etc/single.txt", "type": "bind", "source": host_file, "options": ["bind", "ro"]}));
    mounts.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=700", "noexec"]}));
    b.config["linux"]["devices"] = json!([{"type": "c", "path": "/dev/mynull", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 0, "gid": 0}]);
    b.config["root"]["readonly"] = json!(true);
    let r = env.report(&mut b, &env.id("a"));

    let ro = mount(&r, "/data/ro").expect("bind mount /data/ro");
    let opts = ro["options"].as_str().unwrap();
    assert!(opts.split(',').any(|o| o == "ro") && opts.contains("nosuid") && opts.contains("nodev"), "{opts}");
    let rw = mount(&r, "/data/rw").expect("bind mount /data/rw");
    assert!(rw["options"].as_str().unwrap().split(',').any(|o| o == "rw"), "{rw}");
    let t = mount(&r, "/scratch").expect("tmpfs /scratch");
    assert_eq!(t["fstype"], "tmpfs");
    let to = t["options"].as_str().unwrap();
    assert!(to.contains("noexec") && to.contains("size=1024k") && to.contains("mode=700"), "{to}");
    assert!(mount(&r, "/dev/pts").is_some_and(|m| m["fstype"] == "devpts"));
    assert!(mount(&r, "/dev/mqueue").is_some_and(|m| m["fstype"] == "mqueue"));
    assert!(mount(&r, "/sys").is_some_and(|m| m["fstype"] == "sysfs" && m["options"].as_str().unwrap().split(',').any(|o| o == "ro")));
    assert!(mount(&r, "/proc/kcore").is_some() || !std::path::Path::new("/proc/kcore").exists(), "kcore is masked");
    assert!(mount(&r, "/proc/sys").is_some_and(|m| m["options"].as_str().unwrap().split(',').any(|o| o == "ro")), "/proc/sys read-only");
    let root = mount(&r, "/").unwrap();
    assert!(root["options"].as_str().unwrap().split(',').any(|o| o == "ro"), "readonly root: {root}");

    // Now check behaviour, not only the mount table.
    let id = env.id("b");
    let mut run = |args: Vec<&str>| -> std::process::Output {
        b.config["process"]["args"] = json!(args);
        b.save();
        env.run(&["run", "--bundle", b.p(), &id])
    };
    let o = run(vec!["/bin/berth-probe", "write", "/data/ro/x", "no"]);
    assert!(!o.status.success(), "write to a ro bind must fail");
    let o = run(vec!["/bin/berth-probe", "write", "/data/rw/x", "yes"]);
    assert!(o.status.success(), "write to a rw bind: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(host_dir.join("x")).unwrap(), "yes");
    let o = run(vec!["/bin/berth-probe", "write", "/newfile", "no"]);
    assert!(!o.status.success(), "root is read-only");
    let o = run(vec!["/bin/berth-probe", "write", "/proc/sys/kernel/hostname", "no"]);
    assert!(!o.status.success(), "/proc/sys is read-only");
    let o = run(vec!["/bin/berth-probe", "cat", "/etc/single.txt"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "one file");
    let o = run(vec!["/bin/berth-probe", "ls", "/dev"]);
    let ls = String::from_utf8_lossy(&o.stdout).into_owned();
    for want in ["c 0666 1:3 null", "c 0666 1:5 zero", "c 0666 1:7 full", "c 0666 1:8 random", "c 0666 1:9 urandom", "c 0666 5:0 tty", "c 0640 1:3 mynull"] {
        assert!(ls.lines().any(|l| l == want), "missing {want:?} in\n{ls}");
    }
    for link in ["fd -> /proc/self/fd", "stdin -> /proc/self/fd/0", "stdout -> /proc/self/fd/1", "stderr -> /proc/self/fd/2", "ptmx -> pts/ptmx"] {
        assert!(ls.lines().any(|l| l.ends_with(link)), "missing {link:?} in\n{ls}");
    }
    if std::path::Path::new("/proc/kcore").exists() {
        let o = run(vec!["/bin/berth-probe", "cat", "/proc/kcore"]);
        assert!(o.stdout.is_empty(), "masked /proc/kcore reads empty");
    }
    env.assert_gone(&id);
}

#[test]
fn symlinks_cannot_escape_the_rootfs() {
    let env = Env::new("escape");
    let mut b = env.bundle("a");
    // /evil -> /etc on the host would put the mount over the host's /etc
    // if followed naively; it must land inside the rootfs.
    std::os::unix::fs::symlink("/etc", b.rootfs().join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../../../tmp", b.rootfs().join("up")).unwrap();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/evil/berth-escape", "type": "tmpfs", "source": "tmpfs"}));
    mounts.push(json!({"destination": "/up/berth-escape2", "type": "tmpfs", "source": "tmpfs"}));
    let r = env.report(&mut b, &env.id("a"));
    assert!(mount(&r, "/etc/berth-escape").is_some(), "mount resolved inside the rootfs: {:?}", r["mounts"]);
    assert!(mount(&r, "/tmp/berth-escape2").is_some());
    assert!(!std::path::Path::new("/etc/berth-escape").exists(), "host /etc untouched");
    assert!(!std::path::Path::new("/tmp/berth-escape2").exists(), "host /tmp untouched");
    assert!(b.rootfs().join("etc/berth-escape").is_dir());
}

#[test]
fn no_pivot_and_propagation() {
    let env = Env::new("nopivot");
    let mut b = env.bundle("a");
    b.config["linux"]["rootfsPropagation"] = json!("private");
    b.config["process"]["args"] = json!(["/bin/berth-probe", "report"]);
    b.save();
    let out = env.ok(&["run", "--no-pivot", "--bundle", b.p(), &env.id("a")]);
    let r: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(r["pid"], 1);
    assert!(mount(&r, "/proc").is_some());
}

#[test]
fn cgroup_mount_shows_own_cgroup() {
    let env = Env::new("cgmount");
    let mut b = env.bundle("a");
    let r = env.report(&mut b, &env.id("a"));
    // With a cgroup namespace, the container's own cgroup is its root.
    let cg = r["cgroup"].as_str().unwrap();
    assert!(cg.lines().all(|l| l.ends_with(":/")), "{cg}");
    assert!(r["mounts"].as_array().unwrap().iter().any(|m| m["target"].as_str().unwrap().starts_with("/sys/fs/cgroup")));
}
