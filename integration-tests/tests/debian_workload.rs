//! A real workload under Docker's defaults: a Debian rootfs, the default
//! seccomp profile, Docker's capability set and masked paths. apt-get and
//! dpkg install a package, useradd and su switch users: any syscall the
//! profile wrongly denies makes one of them fail.
//!
//! The rootfs comes from `scripts/debian-rootfs.sh` (debootstrap, cached);
//! `make test-integration` builds it and passes its path in BERTH_DEBIAN_ROOTFS.

use berth_integration_tests::*;
use serde_json::json;

const WORKLOAD: &str = r#"set -e
grep -q '^Seccomp:[[:space:]]*2' /proc/self/status
mkdir -p /tmp/pkg/DEBIAN /tmp/pkg/usr/share/berth-hello
printf 'Package: berth-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: berth <berth@localhost>\nDescription: test package\n' > /tmp/pkg/DEBIAN/control
echo hello > /tmp/pkg/usr/share/berth-hello/greeting
dpkg-deb --build /tmp/pkg /tmp/berth-hello.deb >/dev/null
apt-get install -y -q /tmp/berth-hello.deb >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
dpkg -s berth-hello | grep -q 'Status: install ok installed'
cat /usr/share/berth-hello/greeting
useradd -m tester
su tester -c 'id -un; touch ~/made-by-tester'
ls -l /home/tester/made-by-tester | grep -q tester
apt-get check -q
echo WORKLOAD-OK
"#;

#[test]
fn apt_get_and_dpkg_under_the_default_profile() {
    let lower = std::env::var("BERTH_DEBIAN_ROOTFS").unwrap_or_else(|_| "/var/tmp/berth-debian-rootfs".into());
    assert!(std::path::Path::new(&lower).join("usr/bin/apt-get").exists(), "no Debian rootfs at {lower}: run scripts/debian-rootfs.sh (make test-integration does)");
    let env = Env::new("debian");
    let mut b = env.bundle("a");
    // The Debian tree is shared and read-only; the container writes to an overlay upper dir.
    let rootfs = b.rootfs();
    std::fs::remove_dir_all(&rootfs).unwrap();
    std::fs::create_dir_all(&rootfs).unwrap();
    let (upper, work) = (env.dir.join("upper"), env.dir.join("work"));
    std::fs::create_dir_all(&upper).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let opts = format!("lowerdir={lower},upperdir={},workdir={}", upper.display(), work.display());
    let st = std::process::Command::new("mount").args(["-t", "overlay", "overlay", "-o", &opts]).arg(&rootfs).status().unwrap();
    assert!(st.success(), "overlay mount");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(rootfs.clone());

    let caps = berth_runtime::security::DOCKER_CAPS;
    b.config["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    b.config["process"]["noNewPrivileges"] = json!(false);
    b.config["process"]["env"] = json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive", "HOME=/root"]);
    b.config["process"]["args"] = json!(["/bin/sh", "-c", WORKLOAD]);
    b.config["linux"]["seccomp"] = serde_json::to_value(berth_runtime::seccomp::default_profile()).unwrap();
    b.config["linux"]["maskedPaths"] = json!(berth_runtime::security::MASKED_PATHS);
    b.config["linux"]["readonlyPaths"] = json!(berth_runtime::security::READONLY_PATHS);
    b.save();
    let id = env.id("a");
    let o = env.run(&["run", "--bundle", b.p(), &id]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && out.contains("WORKLOAD-OK"), "workload failed ({:?}):\n{out}\n{}", o.status, String::from_utf8_lossy(&o.stderr));
    assert!(out.lines().any(|l| l == "hello") && out.lines().any(|l| l == "tester"), "{out}");
    env.assert_gone(&id);
}
