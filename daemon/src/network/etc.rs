//! The files a container gets at /etc/hosts and /etc/resolv.conf, from its
//! networks and the `--dns`, `--dns-search`, `--dns-option` and
//! `--add-host` of its HostConfig.

use std::net::Ipv4Addr;

use serde_json::Value;

use crate::error::{Error, Result};

/// The DNS settings of a HostConfig.
#[derive(Debug, Default, Clone)]
pub struct DnsSettings {
    pub servers: Vec<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

fn strs(v: &Value, what: &str) -> Result<Vec<String>> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_string).ok_or_else(|| Error::BadParameter(format!("HostConfig.{what} must be a list of strings")))).collect(),
        _ => Err(Error::BadParameter(format!("HostConfig.{what} must be a list of strings"))),
    }
}

impl DnsSettings {
    /// HostConfig.Dns/DnsSearch/DnsOptions, checked as docker does.
    pub fn from_host_config(h: &Value) -> Result<DnsSettings> {
        let d = DnsSettings { servers: strs(&h["Dns"], "Dns")?, search: strs(&h["DnsSearch"], "DnsSearch")?, options: strs(&h["DnsOptions"], "DnsOptions")? };
        for s in &d.servers {
            if s.parse::<std::net::IpAddr>().is_err() {
                return Err(Error::BadParameter(format!("{s} is not an ip address (--dns)")));
            }
        }
        for s in &d.search {
            if s.is_empty() || s.contains(char::is_whitespace) || s.len() > 253 {
                return Err(Error::BadParameter(format!("{s:?} is not a valid domain (--dns-search)")));
            }
        }
        for o in &d.options {
            if o.is_empty() || o.contains(char::is_whitespace) {
                return Err(Error::BadParameter(format!("{o:?} is not a valid resolver option (--dns-option)")));
            }
        }
        Ok(d)
    }
}

/// The host's resolv.conf, parsed: nameservers, search domains, options.
pub fn parse_resolv(text: &str) -> DnsSettings {
    let mut d = DnsSettings::default();
    for l in text.lines() {
        let mut w = l.split_whitespace();
        match w.next() {
            Some("nameserver") => d.servers.extend(w.next().map(str::to_string)),
            Some("search") | Some("domain") => d.search = w.map(str::to_string).collect(),
            Some("options") => d.options.extend(w.map(str::to_string)),
            _ => {}
        }
    }
    d
}

fn is_loopback(a: &str) -> bool {
    a.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// resolv.conf for a container in its own network namespace. With the
/// embedded DNS server (user-defined networks) it points at 127.0.0.11,
/// which forwards the rest to `upstreams`; otherwise it lists the
/// nameservers, minus the host's loopback ones (systemd-resolved, dnsmasq:
/// unreachable from another netns), with docker's fallback when none is left.
pub fn resolv_conf(host: &DnsSettings, mine: &DnsSettings, embedded: bool) -> String {
    let search = if mine.search.is_empty() { &host.search } else { &mine.search };
    let mut options = if mine.options.is_empty() { host.options.clone() } else { mine.options.clone() };
    let mut out = String::new();
    if embedded {
        out.push_str(&format!("nameserver {}\n", super::DNS_ADDR));
        // Names are tried as given first, so container names never go
        // through the search domains to the host's resolvers.
        if !options.iter().any(|o| o.starts_with("ndots:")) {
            options.push("ndots:0".into());
        }
    } else {
        let servers: Vec<&String> = if mine.servers.is_empty() { host.servers.iter().filter(|a| !is_loopback(a)).collect() } else { mine.servers.iter().collect() };
        if servers.is_empty() {
            out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        }
        for s in servers {
            out.push_str(&format!("nameserver {s}\n"));
        }
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    if embedded {
        let ext = upstreams(host, mine);
        out.push_str(&format!("\n# berth's embedded DNS forwards other names to: [{}]\n", ext.join(" ")));
    }
    out
}

/// Where the embedded DNS server sends names it does not know: the
/// container's --dns, else the host's nameservers (loopback ones too: the
/// server forwards from the host's namespace).
pub fn upstreams(host: &DnsSettings, mine: &DnsSettings) -> Vec<String> {
    if mine.servers.is_empty() {
        host.servers.clone()
    } else {
        mine.servers.clone()
    }
}

/// HostConfig.ExtraHosts (`name:ip`, docker's CLI also takes `name=ip`;
/// `host-gateway` is the host's address on the container's network).
pub fn extra_hosts(v: &Value, host_gateway: Option<Ipv4Addr>) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for e in strs(v, "ExtraHosts")? {
        let (name, ip) = e.split_once('=').or_else(|| e.split_once(':')).ok_or_else(|| Error::BadParameter(format!("bad format for add-host: {e:?} (want name:ip)")))?;
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        let ip = if ip == "host-gateway" {
            host_gateway.map(|g| g.to_string()).ok_or_else(|| Error::BadParameter("host-gateway: this container has no network with a gateway".into()))?
        } else {
            ip.parse::<std::net::IpAddr>().map_err(|_| Error::BadParameter(format!("invalid IP address in add-host: {ip:?}")))?;
            ip.to_string()
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(Error::BadParameter(format!("invalid host name in add-host: {name:?}")));
        }
        out.push((name.to_string(), ip));
    }
    Ok(out)
}

/// /etc/hosts: localhost, the --add-host entries, and the container's own
/// name (its first address, or 127.0.1.1 without one).
pub fn hosts_file(hostname: &str, ip: Option<Ipv4Addr>, extra: &[(String, String)]) -> String {
    let mut out = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for (n, a) in extra {
        out.push_str(&format!("{a}\t{n}\n"));
    }
    match ip {
        Some(ip) => out.push_str(&format!("{ip}\t{hostname}\n")),
        None => out.push_str(&format!("127.0.1.1\t{hostname}\n")),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolv_conf_variants() {
        let host = parse_resolv("search x.test\nnameserver 127.0.0.53\nnameserver 192.0.2.1\noptions edns0\n");
        assert_eq!(host.servers, vec!["127.0.0.53", "192.0.2.1"]);
        let none = DnsSettings::default();
        assert_eq!(resolv_conf(&host, &none, false), "nameserver 192.0.2.1\nsearch x.test\noptions edns0\n");
        assert_eq!(resolv_conf(&parse_resolv("nameserver ::1\n"), &none, false), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        let mine = DnsSettings { servers: vec!["198.51.100.1".into()], search: vec!["a.test".into(), "b.test".into()], options: vec!["timeout:1".into()] };
        assert_eq!(resolv_conf(&host, &mine, false), "nameserver 198.51.100.1\nsearch a.test b.test\noptions timeout:1\n");
        let e = resolv_conf(&host, &none, true);
        assert!(e.starts_with("nameserver 127.0.0.11\nsearch x.test\noptions edns0 ndots:0\n"), "{e}");
        assert!(e.contains("[127.0.0.53 192.0.2.1]"));
        assert_eq!(upstreams(&host, &mine), vec!["198.51.100.1"]);
        assert!(DnsSettings::from_host_config(&json!({"Dns": ["nope"]})).is_err());
        assert_eq!(DnsSettings::from_host_config(&json!({"DnsSearch": ["a.test"]})).unwrap().search, vec!["a.test"]);
    }

    #[test]
    fn hosts_and_extra_hosts() {
        let gw = Some(Ipv4Addr::new(10, 89, 0, 1));
        let x = extra_hosts(&json!(["db:192.0.2.7", "gw:host-gateway", "v6=[::1]"]), gw).unwrap();
        assert_eq!(x, vec![("db".to_string(), "192.0.2.7".to_string()), ("gw".into(), "10.89.0.1".into()), ("v6".into(), "::1".into())]);
        assert!(extra_hosts(&json!(["nocolon"]), gw).is_err());
        assert!(extra_hosts(&json!(["a:999.1.1.1"]), gw).is_err());
        assert!(extra_hosts(&json!(["a:host-gateway"]), None).is_err());
        let h = hosts_file("web", Some(Ipv4Addr::new(10, 89, 0, 2)), &x[..1]);
        assert!(h.ends_with("192.0.2.7\tdb\n10.89.0.2\tweb\n"), "{h}");
        assert!(hosts_file("web", None, &[]).ends_with("127.0.1.1\tweb\n"));
    }
}
