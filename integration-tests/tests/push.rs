//! `berth push`, `berth login` / `logout`: an image pushed to the plain
//! fixture registry comes back by the digest push reported, with the same
//! id; the auth registry refuses a push without credentials with a clear
//! 401, and accepts it after `berth login`, which keeps the credentials in
//! $DOCKER_CONFIG/config.json (0600, other keys kept) until `berth logout`.

use std::process::Command;

use berth_integration_tests::daemon::*;
use serde_json::Value;

fn unique() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    format!("{}-{}", std::process::id(), t.subsec_nanos())
}

/// The digest of `v1: digest: sha256:... size: N`.
fn pushed_digest(out: &str, tag: &str) -> String {
    let line = out.lines().find(|l| l.starts_with(&format!("{tag}: digest: "))).unwrap_or_else(|| panic!("no digest line in {out}"));
    line.split_whitespace().nth(2).unwrap().to_string()
}

/// Removes what a test pushed (the registry allows deletes), so the shared
/// fixture registry does not fill with test repositories' tags.
struct Pushed<'a>(Vec<(String, String)>, &'a str);

impl Drop for Pushed<'_> {
    fn drop(&mut self) {
        for (repo, digest) in &self.0 {
            let _ = Command::new("curl").args(["-s", "-o", "/dev/null", "-X", "DELETE", "-u", self.1]).arg(format!("http://{repo}/manifests/{digest}")).status();
        }
    }
}

#[test]
fn push_then_pull_back_by_digest() {
    let reg = registry();
    let d = Daemon::start("push");
    let src = format!("{reg}/busybox:latest");
    d.ok(&["pull", "-q", &src]);
    let id = d.inspect(&src)["Id"].as_str().unwrap().to_string();
    let src_digest = d.inspect(&src)["RepoDigests"][0].as_str().unwrap().split('@').nth(1).unwrap().to_string();
    let repo = format!("{reg}/berth-test/pushed-{}", unique());
    let target = format!("{repo}:v1");
    d.ok(&["tag", &src, &target]);
    let out = d.ok(&["push", &target]);
    assert!(out.starts_with(&format!("The push refers to repository [{repo}]\n")), "{out}");
    assert!(out.contains(": Pushed") || out.contains(": Mounted from busybox"), "{out}");
    let digest = pushed_digest(&out, "v1");
    let _cleanup = Pushed(vec![(format!("{reg}/v2/{}", repo.split_once('/').unwrap().1), digest.clone())], "x:x");
    // The manifest went up byte for byte: the digest is the one pulled.
    assert_eq!(digest, src_digest, "{out}");
    assert!(d.inspect(&target)["RepoDigests"].as_array().unwrap().iter().any(|r| r.as_str() == Some(&format!("{repo}@{digest}"))));

    // -a: every tag of the repository.
    d.ok(&["tag", &target, &format!("{repo}:v2")]);
    let all = d.ok(&["push", "--all-tags", &repo]);
    assert_eq!(pushed_digest(&all, "v1"), digest, "{all}");
    assert_eq!(pushed_digest(&all, "v2"), digest, "{all}");
    d.ok(&["rmi", &format!("{repo}:v2")]);

    // Again: every layer is there already.
    let again = d.ok(&["push", &target]);
    assert!(again.contains(": Layer already exists"), "{again}");
    assert_eq!(pushed_digest(&again, "v1"), digest);

    // Gone locally, back by digest: the same image.
    d.ok(&["rmi", "-f", &id]);
    assert!(d.ok(&["images", "-q"]).trim().is_empty());
    d.ok(&["pull", &format!("{repo}@{digest}")]);
    assert_eq!(d.inspect(&format!("{repo}@{digest}"))["Id"], id.as_str());
    let run = d.ok(&["run", "--rm", "--network", "none", &format!("{repo}@{digest}"), "echo", "pushed and back"]);
    assert_eq!(run.trim(), "pushed and back");

    // An image made by import pushes its stored blob too, under -q.
    let rootfs = d.dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(rootfs.join("etc/hello"), "hello\n").unwrap();
    let tgz = d.dir.join("r.tgz");
    assert!(Command::new("tar").arg("-C").arg(&rootfs).arg("-czf").arg(&tgz).arg(".").status().unwrap().success());
    let imported = format!("{repo}:imported");
    d.ok(&["import", tgz.to_str().unwrap(), &imported]);
    let out = d.ok(&["image", "push", &imported]);
    assert!(out.contains(": Pushed"), "the imported layer is new to the registry: {out}");
    let _cleanup_imported = Pushed(vec![(format!("{reg}/v2/{}", repo.split_once('/').unwrap().1), pushed_digest(&out, "imported"))], "x:x");
    let q = d.ok(&["push", "-q", &imported]);
    assert_eq!(q.trim(), imported);

    // --platform: the image must be of it.
    let q = d.ok(&["push", "-q", "--platform", "linux/amd64", &imported]);
    assert_eq!(q.trim(), imported);
    let err = d.fails(&["push", "--platform", "linux/arm64", &imported]);
    assert!(err.contains("does not provide the specified platform (linux/arm64/v8)"), "{err}");

    // Refusals.
    assert!(d.fails(&["push", &format!("{reg}/berth-test/never-tagged:v1")]).contains("does not exist locally"));
    assert!(d.fails(&["push"]).contains("requires exactly 1 argument"));
    assert!(d.fails(&["push", "-a", &target]).contains("--all-tags"));
}

#[test]
fn push_to_auth_registry_needs_login() {
    let plain = registry();
    let reg = auth_registry();
    let d = Daemon::start("pushauth");
    let cfg_dir = d.dir.join("docker-config");
    let berth = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut c = d.berth_cmd();
        c.env("DOCKER_CONFIG", &cfg_dir).args(args).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut i = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            i.write_all(s.as_bytes()).unwrap();
        }
        drop(i);
        child.wait_with_output().unwrap()
    };
    d.ok(&["pull", "-q", &format!("{plain}/busybox")]);
    let target = format!("{reg}/private/pushed-{}:v1", unique());
    d.ok(&["tag", &format!("{plain}/busybox"), &target]);

    let o = berth(&["push", &target], None);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("authentication required") && err.contains("berth login"), "{err}");

    // A wrong password is refused by login, and nothing is written.
    let o = berth(&["login", "-u", "fixture", "--password-stdin", &reg], Some("wrong\n"));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("incorrect username or password"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!cfg_dir.join("config.json").exists());

    // Login keeps the file's other keys and makes it private.
    std::fs::create_dir_all(&cfg_dir).unwrap();
    std::fs::write(cfg_dir.join("config.json"), r#"{"psFormat":"table {{.ID}}","auths":{"other.example:5000":{"auth":"eDp5"}}}"#).unwrap();
    let o = berth(&["login", "-u", "fixture", "--password-stdin", &reg], Some("fixture-pass\n"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "Login Succeeded");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(cfg_dir.join("config.json")).unwrap().permissions().mode() & 0o777, 0o600);
    let cfg: Value = serde_json::from_slice(&std::fs::read(cfg_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["psFormat"], "table {{.ID}}");
    assert_eq!(cfg["auths"]["other.example:5000"]["auth"], "eDp5");
    assert_eq!(cfg["auths"][&reg]["auth"], "Zml4dHVyZTpmaXh0dXJlLXBhc3M=");

    let o = berth(&["push", &target], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let digest = pushed_digest(&out, "v1");
    let repo = target.rsplit_once(':').unwrap().0.to_string();
    let _cleanup = Pushed(vec![(format!("{reg}/v2/{}", repo.split_once('/').unwrap().1), digest.clone())], "fixture:fixture-pass");
    // Four layers, none on that registry: uploaded side by side.
    d.ok(&["pull", "-q", &format!("{plain}/layers")]);
    let multi = format!("{reg}/private/layers-{}:v1", unique());
    d.ok(&["tag", &format!("{plain}/layers"), &multi]);
    let o = berth(&["push", &multi], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(out.lines().filter(|l| l.ends_with(": Pushed") || l.ends_with(": Layer already exists")).count(), 4, "{out}");
    let multi_digest = pushed_digest(&out, "v1");
    let multi_repo = multi.rsplit_once(':').unwrap().0.to_string();
    let _cleanup2 = Pushed(vec![(format!("{reg}/v2/{}", multi_repo.split_once('/').unwrap().1), multi_digest.clone())], "fixture:fixture-pass");
    let layers_id = d.inspect(&multi)["Id"].as_str().unwrap().to_string();
    d.ok(&["rmi", "-f", &layers_id]);
    let o = berth(&["pull", "-q", &format!("{multi_repo}@{multi_digest}")], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(d.inspect(&format!("{multi_repo}@{multi_digest}"))["Id"], layers_id.as_str());

    let id = d.inspect(&target)["Id"].as_str().unwrap().to_string();
    d.ok(&["rmi", "-f", &id]);
    let o = berth(&["pull", &format!("{repo}@{digest}")], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(d.inspect(&format!("{repo}@{digest}"))["Id"], id.as_str());

    // -p works too (with docker's warning); logout removes only this server.
    let o = berth(&["login", "-u", "fixture", "-p", "fixture-pass", &format!("http://{reg}/v2/")], None);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--password-stdin"));
    let o = berth(&["logout", &reg], None);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), format!("Removing login credentials for {reg}"));
    let cfg: Value = serde_json::from_slice(&std::fs::read(cfg_dir.join("config.json")).unwrap()).unwrap();
    assert!(cfg["auths"].get(&reg).is_none() && cfg["auths"].get("other.example:5000").is_some(), "{cfg}");
    let o = berth(&["logout", &reg], None);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), format!("Not logged in to {reg}"));
    let o = berth(&["push", &format!("{repo}@{digest}")], None);
    assert!(!o.status.success());
    let o = berth(&["login", "-u", "fixture", &reg], None);
    assert!(String::from_utf8_lossy(&o.stderr).contains("non TTY"), "{}", String::from_utf8_lossy(&o.stderr));
}
