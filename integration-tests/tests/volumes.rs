//! Volumes and bind mounts under berthd: named volumes made on first use
//! and filled from the image, shared between containers and kept after
//! them; anonymous ones (from `-v /path` and the image's VOLUMEs) removed
//! with `rm -v` and `--rm`; binds read-only and with propagation;
//! `--mount` (bind, volume, tmpfs); `--volumes-from`; and `volume
//! create|ls|inspect|rm|prune` with their refusals.

use std::path::PathBuf;

use berth_integration_tests::containers::Env;
use serde_json::Value;

fn tempdir(name: &str) -> PathBuf {
    let d = PathBuf::from("/tmp").join(format!("berth-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(e: &Env, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm", "--network", "none"];
    a.extend_from_slice(args);
    e.ok(&a)
}

fn volume_names(e: &Env) -> Vec<String> {
    e.ok(&["volume", "ls", "-q"]).lines().map(str::to_string).collect()
}

#[test]
fn named_anonymous_and_image_volumes() {
    let e = Env::new("vol-named");
    let bb = e.bb();
    let web = format!("{}/webapp", e.reg);
    e.ok(&["pull", "-q", &web]);

    // A named volume made on first use, shared by containers, kept after them.
    run(&e, &["-v", "shared-data:/data", &bb, "sh", "-c", "echo persisted > /data/f"]);
    assert_eq!(run(&e, &["-v", "shared-data:/d2:ro", &bb, "cat", "/d2/f"]), "persisted\n");
    let o = e.berth(&["run", "--rm", "--network", "none", "-v", "shared-data:/d2:ro", &bb, "sh", "-c", "echo x > /d2/g"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("Read-only file system"), "{o:?}");
    let v: Value = serde_json::from_str(&e.ok(&["volume", "inspect", "shared-data"])).unwrap();
    let mountpoint = PathBuf::from(v[0]["Mountpoint"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(mountpoint.join("f")).unwrap(), "persisted\n");
    assert!(mountpoint.starts_with(&e.data_root), "{mountpoint:?}");
    assert_eq!((v[0]["Driver"].as_str(), v[0]["Scope"].as_str()), (Some("local"), Some("local")));

    // First use fills an empty volume from the image, owners included; nocopy does not.
    let o = run(&e, &["-v", "appvol:/app", "--entrypoint", "", &web, "sh", "-c", "ls /app; stat -c %U /app/www"]);
    assert!(o.contains("entrypoint.sh") && o.contains("www"), "{o}");
    let o = run(&e, &["-v", "emptyvol:/app:nocopy", "--entrypoint", "", &web, "ls", "-A", "/app"]);
    assert_eq!(o, "", "nocopy leaves the volume empty");
    // Already filled: a later container's different image content does not overwrite it.
    run(&e, &["-v", "appvol:/app", &bb, "sh", "-c", "echo mine > /app/entrypoint.sh"]);
    assert_eq!(run(&e, &["-v", "appvol:/app", "--entrypoint", "", &web, "cat", "/app/entrypoint.sh"]), "mine\n");

    // The image's VOLUMEs (/data, /var/log/app) become anonymous volumes, /data keeping its owner.
    let before = volume_names(&e);
    let id = e.run_d(&["--entrypoint", "", &web, "sleep", "100"]);
    let v = e.inspect_c(&id);
    let mounts = v["Mounts"].as_array().unwrap();
    let dests: Vec<&str> = mounts.iter().map(|m| m["Destination"].as_str().unwrap()).collect();
    assert_eq!(dests, ["/data", "/var/log/app"], "{mounts:?}");
    assert!(mounts.iter().all(|m| m["Type"] == "volume" && m["Name"].as_str().unwrap().len() == 64 && m["RW"] == true));
    assert_eq!(e.ok(&["exec", &id, "stat", "-c", "%U", "/data"]).trim(), "app");
    let anon: Vec<String> = mounts.iter().map(|m| m["Name"].as_str().unwrap().to_string()).collect();
    assert!(anon.iter().all(|a| volume_names(&e).contains(a)));
    let m = e.fails(&["volume", "rm", &anon[0]]);
    assert!(m.contains("volume is in use") && m.contains(&id), "{m}");
    // rm without -v keeps them; a second container with -v for one is then removed with -v.
    e.ok(&["rm", "-f", &id]);
    assert!(anon.iter().all(|a| volume_names(&e).contains(a)), "rm without -v keeps anonymous volumes");
    let id = e.run_d(&["-v", "/scratch", &bb, "sleep", "100"]);
    let scratch = e.inspect_c(&id)["Mounts"][0]["Name"].as_str().unwrap().to_string();
    e.ok(&["rm", "-f", "-v", &id]);
    assert!(!volume_names(&e).contains(&scratch), "rm -v removes the anonymous volume");
    // --rm removes them too, never a named one.
    run(&e, &["-v", "/scratch2", "-v", "shared-data:/data", &bb, "true"]);
    let after: Vec<String> = volume_names(&e);
    let new: Vec<&String> = after.iter().filter(|n| !before.contains(n) && !anon.contains(n)).collect();
    assert!(new.is_empty(), "--rm left {new:?}");
    assert!(after.contains(&"shared-data".to_string()));

    // prune: anonymous unused ones, then with -a named ones too.
    let o = e.ok(&["volume", "prune", "-f"]);
    assert!(anon.iter().all(|a| o.contains(a.as_str())) && !o.contains("shared-data"), "{o}");
    let o = e.ok(&["volume", "prune", "-f", "-a"]);
    assert!(o.contains("shared-data") && o.contains("appvol") && o.contains("Total reclaimed space"), "{o}");
    assert_eq!(volume_names(&e), Vec::<String>::new());
    assert!(!mountpoint.exists());
}

#[test]
fn binds_mount_flag_volumes_from_and_volume_commands() {
    let e = Env::new("vol-binds");
    let bb = e.bb();
    let dir = tempdir("vol-binds");
    std::fs::write(dir.join("hostfile"), "from host\n").unwrap();

    // -v HOST:CTR binds, :ro refuses writes, a missing host directory is made.
    assert_eq!(run(&e, &["-v", &format!("{}:/mnt", dir.display()), &bb, "sh", "-c", "cat /mnt/hostfile; echo back > /mnt/out"]), "from host\n");
    assert_eq!(std::fs::read_to_string(dir.join("out")).unwrap(), "back\n");
    let o = e.berth(&["run", "--rm", "--network", "none", "-v", &format!("{}:/mnt:ro", dir.display()), &bb, "touch", "/mnt/x"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("Read-only file system"));
    let made = dir.join("made/by/v");
    run(&e, &["-v", &format!("{}:/m", made.display()), &bb, "true"]);
    assert!(made.is_dir());
    // Propagation: rshared shows in the container's mountinfo.
    let o = run(&e, &["-v", &format!("{}:/mnt:rshared", dir.display()), &bb, "grep", " /mnt ", "/proc/self/mountinfo"]);
    assert!(o.contains("shared:"), "{o}");
    let o = run(&e, &["-v", &format!("{}:/mnt", dir.display()), &bb, "grep", " /mnt ", "/proc/self/mountinfo"]);
    assert!(!o.contains("shared:"), "rprivate by default: {o}");

    // --mount: bind (which must exist), volume with a label, tmpfs.
    let o = run(&e, &["--mount", &format!("type=bind,source={},target=/b,readonly", dir.display()), &bb, "sh", "-c", "cat /b/hostfile; touch /b/y 2>&1; true"]);
    assert!(o.contains("from host") && o.contains("Read-only"), "{o}");
    let m = e.fails(&["run", "--rm", "--network", "none", "--mount", "type=bind,source=/nonexistent-berth-src,target=/b", &bb, "true"]);
    assert!(m.contains("bind source path does not exist"), "{m}");
    run(&e, &["--mount", "type=volume,source=labelled,target=/v,volume-label=team=blue", &bb, "true"]);
    let v: Value = serde_json::from_str(&e.ok(&["volume", "inspect", "labelled"])).unwrap();
    assert_eq!(v[0]["Labels"]["team"], "blue");
    let o = run(&e, &["--mount", "type=tmpfs,target=/t,tmpfs-size=1m", &bb, "grep", " /t ", "/proc/mounts"]);
    assert!(o.contains("tmpfs") && o.contains("size=1024k"), "{o}");

    // --volumes-from: the other container's volumes and binds, :ro overriding.
    let src = e.run_d(&["--name", "vsrc", "-v", "fromvol:/shared", "-v", &format!("{}:/hostdir", dir.display()), &bb, "sh", "-c", "echo hi > /shared/f; sleep 100"]);
    let o = run(&e, &["--volumes-from", "vsrc:ro", &bb, "sh", "-c", "sleep 0.3; cat /shared/f /hostdir/hostfile; touch /shared/z 2>&1; true"]);
    assert!(o.contains("hi\nfrom host\n") && o.contains("Read-only"), "{o}");
    let v = e.inspect_c(&src);
    assert_eq!(v["Mounts"].as_array().unwrap().len(), 2);
    e.ok(&["rm", "-f", &src]);

    // volume create / ls / filters / inspect / rm.
    assert_eq!(e.ok(&["volume", "create", "--label", "env=test", "made"]).trim(), "made");
    assert_eq!(e.ok(&["volume", "create", "made"]).trim(), "made", "creating an existing volume returns it");
    let anon = e.ok(&["volume", "create"]).trim().to_string();
    assert_eq!(anon.len(), 64);
    let ls = e.ok(&["volume", "ls"]);
    assert!(ls.starts_with("DRIVER") && ls.contains("VOLUME NAME") && ls.contains("made"), "{ls}");
    assert_eq!(e.ok(&["volume", "ls", "-q", "--filter", "label=env=test"]).trim(), "made");
    assert_eq!(e.ok(&["volume", "ls", "-q", "--filter", "name=mad"]).trim(), "made");
    let dangling = e.ok(&["volume", "ls", "-q", "--filter", "dangling=true"]);
    assert!(dangling.contains("made") && dangling.contains(&anon));
    assert_eq!(e.ok(&["volume", "ls", "--format", "{{.Name}} {{.Driver}}", "--filter", "name=made"]).trim(), "made local");
    assert_eq!(e.ok(&["volume", "inspect", "-f", "{{.Labels.env}}", "made"]).trim(), "test");
    assert!(e.fails(&["volume", "inspect", "nope-vol"]).contains("no such volume"));
    assert!(e.fails(&["volume", "rm", "nope-vol"]).contains("no such volume"));
    e.ok(&["volume", "rm", "-f", "nope-vol"]);
    e.ok(&["volume", "rm", "made", &anon]);
    assert!(e.fails(&["volume", "create", "-o", "type=tmpfs", "x1"]).contains("not implemented"));
    assert!(e.fails(&["volume", "create", "-d", "nfs", "x1"]).contains("only local"));
    assert!(e.fails(&["volume", "create", "bad/name"]).contains("invalid characters"));

    // Refusals, and nothing created by them.
    e.refuses(&[
        (vec!["-v", "rel/path:/x"], "absolute path"),
        (vec!["-v", "vv:relative"], "must be absolute"),
        (vec!["-v", "vv:/x:bogus"], "invalid mode"),
        (vec!["-v", "vv:/x", "-v", "ww:/x"], "Duplicate mount point"),
        (vec!["--mount", "type=npipe,target=/x"], "not implemented"),
        (vec!["--mount", "type=volume,source=vv,target=/x,volume-opt=type=nfs"], "not implemented"),
        (vec!["--mount", "type=volume,source=vv"], "target is required"),
        (vec!["--volumes-from", "nope-ctr"], "No such container"),
    ]);
    let left = volume_names(&e);
    assert_eq!(left, ["fromvol", "labelled"], "a refused create makes no volume");
    e.ok(&["volume", "rm", "fromvol", "labelled"]);
    let _ = std::fs::remove_dir_all(&dir);
}
