//! Restart policies, decided as docker's restart manager decides them:
//! `no`, `always`, `unless-stopped`, `on-failure[:N]`, with a delay that
//! starts at 100 ms, doubles with each restart up to a minute, and goes
//! back to 100 ms once a run lasted 10 s.

use std::time::Duration;

use serde_json::{json, Value};

use crate::error::{Error, Result};

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
const STABLE_RUN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq)]
pub enum Policy {
    No,
    Always,
    UnlessStopped,
    OnFailure(u32),
}

impl Policy {
    /// HostConfig.RestartPolicy, checked.
    pub fn parse(v: &Value) -> Result<Policy> {
        let name = v["Name"].as_str().unwrap_or("");
        let max = match &v["MaximumRetryCount"] {
            Value::Null => 0,
            m => m.as_u64().and_then(|m| u32::try_from(m).ok()).ok_or_else(|| Error::BadParameter("invalid restart policy: MaximumRetryCount must be a positive integer".into()))?,
        };
        let p = match name {
            "" | "no" => Policy::No,
            "always" => Policy::Always,
            "unless-stopped" => Policy::UnlessStopped,
            "on-failure" => Policy::OnFailure(max),
            other => return Err(Error::BadParameter(format!("invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure' or 'unless-stopped'"))),
        };
        if max > 0 && !matches!(p, Policy::OnFailure(_)) {
            return Err(Error::BadParameter(format!("invalid restart policy: maximum retry count can only be used with 'on-failure', not '{name}'")));
        }
        Ok(p)
    }

    pub fn to_json(&self) -> Value {
        match self {
            Policy::No => json!({"Name": "no", "MaximumRetryCount": 0}),
            Policy::Always => json!({"Name": "always", "MaximumRetryCount": 0}),
            Policy::UnlessStopped => json!({"Name": "unless-stopped", "MaximumRetryCount": 0}),
            Policy::OnFailure(n) => json!({"Name": "on-failure", "MaximumRetryCount": n}),
        }
    }

    /// Whether a container that exited with `code` after `restarts`
    /// restarts. `stopped`: a user stopped or killed it.
    pub fn should_restart(&self, code: i64, restarts: u32, stopped: bool) -> bool {
        match self {
            Policy::No => false,
            Policy::Always => !stopped,
            Policy::UnlessStopped => !stopped,
            Policy::OnFailure(max) => !stopped && code != 0 && (*max == 0 || restarts < *max),
        }
    }

    /// At berthd's start (as after a reboot): `always` also brings back a
    /// container a user stopped, as docker's daemon does.
    pub fn restart_on_boot(&self, code: i64, restarts: u32, stopped: bool) -> bool {
        match self {
            Policy::Always => true,
            p => p.should_restart(code, restarts, stopped),
        }
    }
}

/// The delay before the next restart, given the last one and how long the run lasted.
pub fn next_delay(last: Option<Duration>, ran: Duration) -> Duration {
    match last {
        _ if ran >= STABLE_RUN => FIRST_DELAY,
        None => FIRST_DELAY,
        Some(d) => (d * 2).min(MAX_DELAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_like_docker() {
        assert_eq!(Policy::parse(&json!({"Name": "on-failure", "MaximumRetryCount": 3})).unwrap(), Policy::OnFailure(3));
        assert_eq!(Policy::parse(&json!({})).unwrap(), Policy::No);
        assert!(Policy::parse(&json!({"Name": "always", "MaximumRetryCount": 2})).unwrap_err().to_string().contains("only be used with 'on-failure'"));
        assert!(Policy::parse(&json!({"Name": "sometimes"})).is_err());
        let f = Policy::OnFailure(2);
        assert!(f.should_restart(1, 0, false) && f.should_restart(1, 1, false) && !f.should_restart(1, 2, false));
        assert!(!f.should_restart(0, 0, false), "on-failure does not restart a success");
        assert!(Policy::OnFailure(0).should_restart(1, 1000, false), "0: no limit");
        assert!(Policy::Always.should_restart(0, 9, false) && !Policy::Always.should_restart(0, 0, true));
        assert!(Policy::Always.restart_on_boot(0, 0, true) && !Policy::UnlessStopped.restart_on_boot(0, 0, true));
        assert!(Policy::UnlessStopped.restart_on_boot(255, 0, false));
    }

    #[test]
    fn backoff_doubles_to_a_minute_and_resets_after_a_stable_run() {
        let quick = Duration::from_millis(5);
        let mut d = next_delay(None, quick);
        assert_eq!(d, Duration::from_millis(100));
        for _ in 0..20 {
            d = next_delay(Some(d), quick);
        }
        assert_eq!(d, Duration::from_secs(60));
        assert_eq!(next_delay(Some(d), Duration::from_secs(11)), Duration::from_millis(100));
    }
}
