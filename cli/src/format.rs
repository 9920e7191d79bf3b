//! Docker's output formats: tabwriter tables (min width 10, padding 3),
//! human sizes and durations, and the part of Go templates people use
//! (`{{.Field}}`, `{{.A.B}}`, `{{json .}}`, `table` prefix, `\t`).

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("template parsing error: {0}")]
    Parse(String),
    #[error("template: can't evaluate field {0}")]
    Field(String),
}

enum Part {
    Lit(String),
    Field(Vec<String>, bool),
}

pub struct Template {
    parts: Vec<Part>,
    pub table: bool,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, Error> {
        let (table, body) = match src.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => (true, rest.trim_start()),
            _ => (false, src),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut parts = Vec::new();
        let mut rest = body.as_str();
        while let Some(i) = rest.find("{{") {
            parts.push(Part::Lit(rest[..i].to_string()));
            let end = rest[i..].find("}}").ok_or_else(|| Error::Parse(format!("unclosed action in {src:?}")))? + i;
            let action = rest[i + 2..end].trim();
            let (json, expr) = match action.strip_prefix("json ") {
                Some(e) => (true, e.trim()),
                None => (false, action),
            };
            if expr == "." {
                parts.push(Part::Field(vec![], json));
            } else if let Some(path) = expr.strip_prefix('.') {
                parts.push(Part::Field(path.split('.').map(str::to_string).collect(), json));
            } else {
                return Err(Error::Parse(format!("unsupported action {{{{{action}}}}} (fields like {{{{.ID}}}} and {{{{json .}}}} are)")));
            }
            rest = &rest[end + 2..];
        }
        parts.push(Part::Lit(rest.to_string()));
        Ok(Template { parts, table })
    }

    pub fn render(&self, v: &Value) -> Result<String, Error> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Field(path, json) => {
                    let mut cur = v;
                    for f in path {
                        cur = cur.get(f).ok_or_else(|| Error::Field(f.clone()))?;
                    }
                    if *json {
                        out.push_str(&cur.to_string());
                    } else {
                        out.push_str(&go_print(cur));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The header row of a `table` template: the field names, upper-cased
    /// as docker's headers are.
    pub fn header(&self, names: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Field(path, _) => out.push_str(&names(&path.join("."))),
            }
        }
        out
    }
}

/// How Go's text/template prints a value.
fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => format!("map[{}]", o.iter().map(|(k, v)| format!("{k}:{}", go_print(v))).collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    }
}

/// text/tabwriter as docker configures it: cells split on `\t`, each column
/// as wide as its widest cell plus 3, at least 10.
pub fn tabwrite(rows: &[String]) -> String {
    let cells: Vec<Vec<&str>> = rows.iter().map(|r| r.split('\t').collect()).collect();
    let ncol = cells.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; ncol];
    for r in &cells {
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                widths[i] = widths[i].max(c.chars().count() + 3).max(10);
            }
        }
    }
    let mut out = String::new();
    for r in &cells {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                out.push_str(&" ".repeat(widths[i] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// docker's `units.HumanSizeWithPrecision(n, 3)`: decimal units, 3
/// significant digits.
pub fn human_size(n: u64) -> String {
    human_size_digits(n, 3)
}

/// `units.HumanSizeWithPrecision(n, digits)` (`%.{digits}g` of the scaled
/// value): `system df` shows 4 digits, `images` 3.
pub fn human_size_digits(n: u64, digits: usize) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    let int_digits = if v >= 100.0 { 3 } else if v >= 10.0 { 2 } else { 1 };
    let s = format!("{v:.*}", digits.saturating_sub(int_digits));
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    format!("{s}{}", units[i])
}

/// Seconds since the epoch, for "… ago" columns.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// docker's "2 hours ago" for a time in seconds since the epoch.
pub fn ago(secs: i64) -> String {
    format!("{} ago", human_duration(now() - secs))
}

/// docker's `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h) = (s / 60, s / 3600);
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{} days", h / 24),
        _ if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", h / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(human_size(1_982_579), "1.98MB");
        assert_eq!(human_size(43_930_638), "43.9MB");
        assert_eq!(human_size(143_930_638), "144MB");
        assert_eq!(human_size(2_000_000), "2MB");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size_digits(4_261_376, 4), "4.261MB");
        assert_eq!(human_size_digits(43_930_638, 4), "43.93MB");
        assert_eq!(human_size_digits(0, 4), "0B");
        assert_eq!(human_duration(3 * 365 * 86400), "3 years");
        assert_eq!(human_duration(90), "About a minute");
    }

    #[test]
    fn templates() {
        let v = json!({"Repository": "busybox", "Tag": "latest", "Config": {"Env": ["A=1", "B=2"]}});
        assert_eq!(Template::parse("{{.Repository}}:{{.Tag}}").unwrap().render(&v).unwrap(), "busybox:latest");
        assert_eq!(Template::parse("{{.Config.Env}}").unwrap().render(&v).unwrap(), "[A=1 B=2]");
        assert_eq!(Template::parse("{{json .Config.Env}}").unwrap().render(&v).unwrap(), r#"["A=1","B=2"]"#);
        assert!(Template::parse("{{.Nope}}").unwrap().render(&v).is_err());
        assert!(Template::parse("{{range .}}").is_err());
        let t = Template::parse("table {{.Repository}}\\t{{.Tag}}").unwrap();
        assert!(t.table);
        assert_eq!(tabwrite(&["REPOSITORY\tTAG".into(), "busybox\tlatest".into()]), "REPOSITORY   TAG\nbusybox      latest\n");
    }
}
