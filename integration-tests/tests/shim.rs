//! berth-shim driving the real runtime: the json-file log, the exit
//! record (code, signal, OOM), attach with stdin, a terminal with resize,
//! and that it cleans up the runtime's container when init exits.

use std::io::{BufRead, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_integration_tests::*;
use serde_json::{json, Value};

fn shim_bin() -> PathBuf {
    let p = PathBuf::from(std::env::var("BERTH_SHIM").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/berth-shim").into()));
    assert!(p.exists(), "shim binary {} missing: run `make build`", p.display());
    p
}

struct Shim {
    state: PathBuf,
    ready: Value,
}

/// Starts a shim for bundle `b` and waits for its ready line.
fn start_shim(env: &Env, b: &Bundle, id: &str, extra: &[&str]) -> Shim {
    let state = env.dir.join(format!("shim-{id}"));
    let mut child = Command::new(shim_bin())
        .args(["--id", id, "--bundle", b.p(), "--runtime"])
        .arg(runtime_bin())
        .arg("--runtime-root")
        .arg(&env.root)
        .arg("--state-dir")
        .arg(&state)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    // The shim keeps running after its ready line; it is reaped by whoever
    // it is re-parented to when this test process's Child is dropped.
    std::mem::forget(child);
    Shim { state, ready: serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}")) }
}

fn wait_exit(s: &Shim) -> Value {
    let p = s.state.join("exit.json");
    wait_until("exit.json", || p.exists());
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn log_entries(s: &Shim, id: &str) -> Vec<Value> {
    std::fs::read_to_string(s.state.join(format!("{id}-json.log"))).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn frame(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, 0, 0, 0];
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

/// Reads frames until `want` appears in the stdout payload (or the shim hangs up).
fn read_until(sock: &mut UnixStream, want: &str) -> String {
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut out = String::new();
    let mut buf = [0u8; 4096];
    while !out.contains(want) {
        let n = sock.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        while got.len() >= 8 {
            let len = u32::from_be_bytes([got[4], got[5], got[6], got[7]]) as usize;
            if got.len() < 8 + len {
                break;
            }
            out.push_str(&String::from_utf8_lossy(&got[8..8 + len]));
            got.drain(..8 + len);
        }
    }
    out
}

fn wait_gone(env: &Env, id: &str, s: &Shim) {
    let pid: i32 = std::fs::read_to_string(s.state.join("shim.pid")).unwrap().parse().unwrap();
    wait_until("the shim to exit", || !Path::new(&format!("/proc/{pid}")).exists() || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z")));
    env.assert_gone(id);
}

#[test]
fn log_and_exit_record() {
    let env = Env::new("shimlog");
    let mut b = env.bundle("a");
    b.config["process"]["args"] = json!(["sh", "-c", "echo out; echo err >&2; printf partial; exit 3"]);
    b.save();
    let id = env.id("a");
    let s = start_shim(&env, &b, &id, &["--log-max-size", "1m", "--log-max-file", "2"]);
    assert!(s.ready["pid"].as_i64().unwrap() > 0, "{}", s.ready);
    let e = wait_exit(&s);
    assert_eq!(e["exit_code"], 3);
    assert_eq!(e["signal"], Value::Null);
    assert_eq!(e["oom_killed"], false);
    wait_gone(&env, &id, &s);
    let mut logs: Vec<(String, String)> = log_entries(&s, &id).iter().map(|v| (v["stream"].as_str().unwrap().into(), v["log"].as_str().unwrap().into())).collect();
    logs.sort();
    assert_eq!(logs, vec![("stderr".into(), "err\n".into()), ("stdout".into(), "out\n".into()), ("stdout".into(), "partial".into())]);
}

#[test]
fn oom_kill_is_recorded() {
    let env = Env::new("shimoom");
    let mut b = env.bundle("a");
    b.config["linux"]["resources"] = json!({"memory": {"limit": 32 << 20, "swap": 32 << 20}});
    b.config["process"]["args"] = json!(["/bin/berth-probe", "alloc", "256"]);
    b.save();
    let id = env.id("a");
    let s = start_shim(&env, &b, &id, &[]);
    let e = wait_exit(&s);
    assert_eq!((e["exit_code"].as_i64(), e["signal"].as_i64(), e["oom_killed"].as_bool()), (Some(137), Some(9), Some(true)), "{e}");
    wait_gone(&env, &id, &s);
}

#[test]
fn attach_relays_stdin_and_output() {
    let env = Env::new("shimattach");
    let mut b = env.bundle("a");
    b.config["process"]["args"] = json!(["sh", "-c", "echo ready; read x; echo got $x; read y; echo bye"]);
    b.save();
    let id = env.id("a");
    let s = start_shim(&env, &b, &id, &["--stdin"]);
    let mut c = UnixStream::connect(s.state.join("attach.sock")).unwrap();
    // "ready" may have been printed before we attached: it is in the log either way.
    wait_until("ready in the log", || log_entries(&s, &id).iter().any(|v| v["log"] == "ready\n"));
    c.write_all(&frame(0, b"hello\n")).unwrap();
    let out = read_until(&mut c, "got hello");
    assert!(out.contains("got hello\n"), "{out:?}");
    // Closing stdin: `read y` sees EOF, the script goes on.
    c.write_all(&frame(4, b"")).unwrap();
    let out = read_until(&mut c, "bye");
    assert!(out.contains("bye"), "{out:?}");
    assert_eq!(wait_exit(&s)["exit_code"], 0);
    wait_gone(&env, &id, &s);
}

#[test]
fn terminal_and_resize() {
    let env = Env::new("shimtty");
    let mut b = env.bundle("a");
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["args"] = json!(["sh", "-c", "read x; stty size; tty"]);
    b.save();
    let id = env.id("a");
    let s = start_shim(&env, &b, &id, &["--tty", "--stdin"]);
    let mut c = UnixStream::connect(s.state.join("attach.sock")).unwrap();
    c.write_all(&frame(3, &[0, 33, 0, 111])).unwrap();
    c.write_all(&frame(0, b"go\n")).unwrap();
    let out = read_until(&mut c, "/dev/pts/");
    assert!(out.contains("33 111"), "the resize reached the terminal: {out:?}");
    assert!(out.contains("/dev/pts/0"), "{out:?}");
    assert_eq!(wait_exit(&s)["exit_code"], 0);
    wait_gone(&env, &id, &s);
}

#[test]
fn a_failing_create_is_reported_and_leaves_nothing() {
    let env = Env::new("shimfail");
    let mut b = env.bundle("a");
    b.config["process"]["args"] = json!(["/no/such/program"]);
    b.save();
    let id = env.id("a");
    let s = start_shim(&env, &b, &id, &[]);
    let err = s.ready["error"].as_str().unwrap_or_else(|| panic!("expected an error: {}", s.ready));
    assert!(err.contains("/no/such/program"), "{err}");
    env.assert_gone(&id);
}
