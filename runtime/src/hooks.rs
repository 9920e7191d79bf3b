//! Lifecycle hooks: programs run with the container's state on stdin.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::explain;
use crate::spec::Hook;
use crate::state::OciState;

/// Runs each hook in order; stops at the first failure.
pub fn run_all(kind: &str, hooks: &[Hook], state: &OciState, who: &str) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(kind, i, h, state, who)?;
    }
    Ok(())
}

/// Runs every hook; failures become warnings (poststart, poststop).
pub fn run_all_warn(kind: &str, hooks: &[Hook], state: &OciState, who: &str) {
    for (i, h) in hooks.iter().enumerate() {
        if let Err(e) = run_one(kind, i, h, state, who) {
            tracing::warn!("{}", crate::error::chain(&e));
            eprintln!("berth-runtime: warning: {}", crate::error::chain(&e));
        }
    }
}

fn run_one(kind: &str, i: usize, h: &Hook, state: &OciState, who: &str) -> Result<()> {
    let what = format!("{kind} hook #{i} ({})", h.path.display());
    explain::step(who, format!("run {what} with the state on stdin"), match kind {
        "prestart" | "createRuntime" => "hooks in the runtime's namespaces, after the container's namespaces exist (e.g. to set up networking)",
        "createContainer" => "hooks in the container's mount namespace, before pivot_root",
        "startContainer" => "hooks inside the container, just before the user program runs",
        "poststart" => "hooks after the user program started",
        _ => "hooks after the container is deleted",
    });
    let json = serde_json::to_vec(state).expect("state serialises");
    let mut cmd = Command::new(&h.path);
    if let Some(arg0) = h.args.first() {
        cmd.arg0(arg0);
    }
    if h.args.len() > 1 {
        cmd.args(&h.args[1..]);
    }
    cmd.env_clear();
    for kv in &h.env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    // The hook's output goes to our stderr: stdout may be the container's.
    let err_out = || -> Stdio { std::io::stderr().as_fd_dup().map(Stdio::from).unwrap_or_else(|_| Stdio::null()) };
    cmd.stdin(Stdio::piped()).stdout(err_out()).stderr(err_out());
    let mut child = cmd.spawn().map_err(|e| Error::Hook { what: what.clone(), msg: format!("cannot start: {e}") })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine: ignore EPIPE.
        let _ = stdin.write_all(&json);
    }
    let deadline = h.timeout.map(|t| Instant::now() + Duration::from_secs(t.into()));
    let mut delay = Duration::from_micros(100);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => return Err(Error::Hook { what, msg: format!("waiting: {e}") }),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Hook { what, msg: format!("timed out after {} s and was killed", h.timeout.unwrap_or(0)) });
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(10));
    };
    if !status.success() {
        return Err(Error::Hook { what, msg: format!("failed: {status}") });
    }
    Ok(())
}

trait DupFd {
    fn as_fd_dup(&self) -> std::io::Result<std::os::fd::OwnedFd>;
}
impl DupFd for std::io::Stderr {
    fn as_fd_dup(&self) -> std::io::Result<std::os::fd::OwnedFd> {
        use std::os::fd::AsFd;
        self.as_fd().try_clone_to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Status;

    fn state() -> OciState {
        OciState { oci_version: "1.0.2".into(), id: "t".into(), status: Status::Creating, pid: Some(1), bundle: "/b".into(), annotations: Default::default() }
    }

    #[test]
    fn hook_gets_state_and_env() {
        let dir = std::env::temp_dir().join(format!("berth-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let h = Hook {
            path: "/bin/sh".into(),
            args: vec!["sh".into(), "-c".into(), format!("cat > {}; echo \"$FOO\" >> {}", out.display(), out.display())],
            env: vec!["FOO=bar".into()],
            timeout: None,
        };
        run_all("prestart", &[h], &state(), "runtime").unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        assert!(got.contains("\"id\":\"t\"") && got.contains("\"status\":\"creating\"") && got.ends_with("bar\n"), "{got}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failing_and_slow_hooks() {
        let fail = Hook { path: "/bin/false".into(), args: vec!["false".into()], ..Default::default() };
        assert!(run_all("prestart", &[fail], &state(), "runtime").is_err());
        let slow = Hook { path: "/bin/sleep".into(), args: vec!["sleep".into(), "5".into()], timeout: Some(1), ..Default::default() };
        let t = Instant::now();
        let e = run_all("prestart", &[slow], &state(), "runtime").unwrap_err().to_string();
        assert!(e.contains("timed out"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(3));
    }
}
