//! Docker's display of a pull's or push's JSON progress messages. On a
//! terminal each layer owns one line, rewritten in place as its bar moves
//! (cursor up to it, clear it, print, cursor back down), the way docker's
//! jsonmessage does. Without a terminal there are no bars: progress ticks
//! are dropped and each status change is one plain line, so logs stay
//! readable.

use std::io::{self, Write};

use serde_json::Value;

pub struct Display<'a> {
    out: &'a mut dyn Write,
    tty: bool,
    /// Layer ids in the order their lines were opened; the last one is the
    /// line just above the cursor.
    lines: Vec<String>,
}

impl<'a> Display<'a> {
    pub fn new(out: &'a mut dyn Write, tty: bool) -> Display<'a> {
        Display { out, tty, lines: Vec::new() }
    }

    pub fn message(&mut self, m: &Value) -> io::Result<()> {
        let status = m.get("status").and_then(Value::as_str).unwrap_or("");
        let id = m.get("id").and_then(Value::as_str).filter(|i| !i.is_empty());
        let bar = m.get("progress").and_then(Value::as_str).filter(|p| !p.is_empty());
        if !self.tty {
            if bar.is_some() {
                return Ok(());
            }
            return match id {
                Some(id) => writeln!(self.out, "{id}: {status}"),
                None => writeln!(self.out, "{status}"),
            };
        }
        // A layer message (it carries progressDetail, even an empty one)
        // updates that layer's line; anything else is printed below and
        // starts a new group, as docker does between the tags of `pull -a`.
        let layer = id.filter(|_| m.get("progressDetail").is_some() || bar.is_some());
        let Some(id) = layer else {
            self.lines.clear();
            return match id {
                Some(id) => writeln!(self.out, "\x1b[2K\r{id}: {status}"),
                None => writeln!(self.out, "\x1b[2K\r{status}"),
            };
        };
        let pos = match self.lines.iter().position(|l| l == id) {
            Some(p) => p,
            None => {
                self.lines.push(id.to_string());
                writeln!(self.out)?;
                self.lines.len() - 1
            }
        };
        let up = self.lines.len() - pos;
        let text = match bar {
            Some(b) => format!("{id}: {status} {b}"),
            None => format!("{id}: {status}"),
        };
        write!(self.out, "\x1b[{up}A\x1b[2K\r{text}\r\x1b[{up}B")?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Plays the escape sequences back onto a grid of lines, as a terminal would.
    fn screen(bytes: &[u8]) -> Vec<String> {
        let s = String::from_utf8_lossy(bytes);
        let mut rows: Vec<String> = vec![String::new()];
        let (mut row, mut chars) = (0usize, s.chars().peekable());
        while let Some(c) = chars.next() {
            match c {
                '\n' => {
                    row += 1;
                    if rows.len() <= row {
                        rows.push(String::new());
                    }
                }
                '\r' => {}
                '\x1b' => {
                    assert_eq!(chars.next(), Some('['));
                    let mut n = String::new();
                    let cmd = loop {
                        let c = chars.next().unwrap();
                        if c.is_ascii_digit() {
                            n.push(c);
                        } else {
                            break c;
                        }
                    };
                    let n: usize = n.parse().unwrap_or(1);
                    match cmd {
                        'A' => row -= n,
                        'B' => row += n,
                        'K' => rows[row].clear(),
                        other => panic!("unexpected escape {other}"),
                    }
                }
                c => rows[row].push(c),
            }
        }
        rows
    }

    #[test]
    fn each_layer_keeps_one_line_on_a_terminal() {
        let mut out = Vec::new();
        let mut d = Display::new(&mut out, true);
        for m in [
            json!({"status": "Pulling from library/busybox", "id": "latest"}),
            json!({"status": "Pulling fs layer", "progressDetail": {}, "id": "aaa"}),
            json!({"status": "Pulling fs layer", "progressDetail": {}, "id": "bbb"}),
            json!({"status": "Downloading", "progressDetail": {"current": 1, "total": 2}, "progress": "[==>  ] 1B/2B", "id": "aaa"}),
            json!({"status": "Pull complete", "progressDetail": {}, "id": "bbb"}),
            json!({"status": "Pull complete", "progressDetail": {}, "id": "aaa"}),
            json!({"status": "Digest: sha256:x"}),
        ] {
            d.message(&m).unwrap();
        }
        assert_eq!(screen(&out), ["latest: Pulling from library/busybox", "aaa: Pull complete", "bbb: Pull complete", "Digest: sha256:x", ""]);
    }

    #[test]
    fn a_bar_is_drawn_in_place_and_plain_output_has_none() {
        let tick = json!({"status": "Downloading", "progressDetail": {"current": 1, "total": 2}, "progress": "[==>  ] 1B/2B", "id": "aaa"});
        let mut out = Vec::new();
        Display::new(&mut out, true).message(&tick).unwrap();
        assert_eq!(screen(&out), ["aaa: Downloading [==>  ] 1B/2B", ""]);
        let mut plain = Vec::new();
        let mut d = Display::new(&mut plain, false);
        d.message(&tick).unwrap();
        d.message(&json!({"status": "Pull complete", "progressDetail": {}, "id": "aaa"})).unwrap();
        assert_eq!(String::from_utf8(plain).unwrap(), "aaa: Pull complete\n");
    }
}
