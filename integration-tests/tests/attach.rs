//! `run -i`/`-it`, `attach` and `start -a -i` through berthd: input
//! reaches the container, output comes back (raw through a real PTY for
//! `-t`, framed otherwise), Ctrl-P Ctrl-Q detaches and leaves the
//! container running, `exit` in an attached shell stops it, exit codes
//! pass through, and a resize reaches the container's terminal.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use berth_integration_tests::containers::Env;
use berth_integration_tests::pty::Pty;

const T: Duration = Duration::from_secs(10);

/// A bodiless POST to the daemon's API; its status code.
fn post(e: &Env, path: &str) -> u16 {
    use std::io::Read;
    let mut s = std::os::unix::net::UnixStream::connect(&e.socket).unwrap();
    write!(s, "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[test]
fn interactive_runs_detach_keys_and_reattach() {
    let e = Env::new("attach");
    let bb = e.bb();

    // -i without a terminal: stdin in, stdout and stderr apart, the exit code out.
    let mut child = e
        .berth_cmd()
        .args(["run", "-i", "--rm", "--network", "none", &bb, "sh", "-c", "cat; echo to-stderr >&2; exit 3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"line one\nline two\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "line one\nline two\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "to-stderr\n");
    assert_eq!(o.status.code(), Some(3));

    // -it through a real terminal: the shell sees a TTY of our size, answers, and Ctrl-P Ctrl-Q detaches.
    let mut cmd = e.berth_cmd();
    cmd.args(["run", "-it", "--name", "shell", "--network", "none", &bb, "sh"]);
    let mut p = Pty::spawn(cmd);
    assert!(p.expect("# ", T), "no prompt: {}", p.text());
    p.send(b"echo tty=$(tty) cols=$(stty size)\r");
    assert!(p.expect("tty=/dev/pts/0", T), "{}", p.text());
    p.send(b"\x10\x11");
    assert_eq!(p.wait(T), Some(0), "detaching exits 0: {}", p.text());
    assert!(p.text().contains("read escape sequence"), "{}", p.text());
    assert_eq!(e.inspect_c("shell")["State"]["Status"], "running", "detached, it runs on");

    // attach again, with other detach keys; the shell's state is still there; exit stops it.
    let mut cmd = e.berth_cmd();
    cmd.args(["attach", "--detach-keys", "ctrl-a,d", "shell"]);
    let mut p = Pty::spawn(cmd);
    p.send(b"export MARK=kept; echo mark=$MARK\r");
    assert!(p.expect("mark=kept", T), "{}", p.text());
    p.send(b"\x01d");
    assert_eq!(p.wait(T), Some(0), "{}", p.text());
    assert_eq!(e.inspect_c("shell")["State"]["Status"], "running");
    let mut cmd = e.berth_cmd();
    cmd.args(["attach", "shell"]);
    let mut p = Pty::spawn(cmd);
    p.send(b"echo again=$MARK; exit 7\r");
    assert_eq!(p.wait(T), Some(7), "exit in the attached shell ends it, with its code: {}", p.text());
    assert!(p.text().contains("again=kept"), "{}", p.text());
    assert_eq!(e.wait_state("shell", "exited")["State"]["ExitCode"], 7);
    assert!(e.fails(&["attach", "shell"]).contains("cannot attach to a stopped container"));

    // start -a -i: attached from the first byte, stdin in.
    e.ok(&["create", "-i", "--name", "later", "--network", "none", &bb, "sh", "-c", "read x; echo got-$x; exit 5"]);
    e.remember("later");
    let mut child = e.berth_cmd().args(["start", "-a", "-i", "later"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"input\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!((String::from_utf8_lossy(&o.stdout).as_ref(), o.status.code()), ("got-input\n", Some(5)), "{}", String::from_utf8_lossy(&o.stderr));

    let m = e.fails(&["run", "--rm", "-it", "--detach-keys", "ctrl-1", "--network", "none", &bb, "true"]);
    assert!(m.contains("Invalid detach keys"), "{m}");
    // A resize reaches the container's terminal.
    let id = e.run_d(&["-t", &bb, "sleep", "100"]);
    let v = e.inspect_c(&id);
    assert_eq!(v["Config"]["Tty"], true);
    assert_eq!(post(&e, &format!("/containers/{id}/resize?h=33&w=101")), 200);
    assert_eq!(e.ok(&["exec", &id, "stty", "-F", "/dev/pts/0", "size"]).trim(), "33 101");
    assert_eq!(post(&e, &format!("/containers/{id}/resize?h=0&w=101")), 400);
    e.ok(&["rm", "-f", &id]);
    e.ok(&["rm", "shell", "later"]);
}
