//! The container's log in Docker's json-file format: one JSON object per
//! line, `{"log":"...","stream":"stdout","time":"RFC 3339 with ns"}`, so
//! `docker logs`-style readers (and berthd) can parse it, with Docker's
//! `max-size`/`max-file` rotation.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Docker cuts lines longer than this into several entries.
const MAX_LINE: usize = 16 * 1024;

pub struct JsonLog {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
    /// Partial lines, per stream (1 stdout, 2 stderr).
    pending: [Vec<u8>; 3],
}

impl JsonLog {
    pub fn open(path: &Path, max_size: Option<u64>, max_file: u32) -> std::io::Result<JsonLog> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(JsonLog { path: path.to_path_buf(), file, size, max_size, max_file: max_file.max(1), pending: Default::default() })
    }

    /// Takes output of `stream` and writes every complete line.
    pub fn write(&mut self, stream: usize, data: &[u8]) -> std::io::Result<()> {
        self.pending[stream].extend_from_slice(data);
        loop {
            let buf = &self.pending[stream];
            let cut = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => i + 1,
                None if buf.len() >= MAX_LINE => MAX_LINE,
                None => return Ok(()),
            };
            let line: Vec<u8> = self.pending[stream].drain(..cut).collect();
            self.entry(stream, &line)?;
        }
    }

    /// Writes what is left of a stream that ended without a newline.
    pub fn flush_stream(&mut self, stream: usize) -> std::io::Result<()> {
        if !self.pending[stream].is_empty() {
            let line = std::mem::take(&mut self.pending[stream]);
            self.entry(stream, &line)?;
        }
        Ok(())
    }

    fn entry(&mut self, stream: usize, line: &[u8]) -> std::io::Result<()> {
        let name = if stream == 2 { "stderr" } else { "stdout" };
        let mut rec = serde_json::json!({"log": String::from_utf8_lossy(line), "stream": name, "time": berth_runtime::state::now_rfc3339()}).to_string();
        rec.push('\n');
        if self.max_size.is_some_and(|m| self.size > 0 && self.size + rec.len() as u64 > m) {
            self.rotate()?;
        }
        self.file.write_all(rec.as_bytes())?;
        self.size += rec.len() as u64;
        Ok(())
    }

    /// log → log.1 → log.2 ...; the oldest beyond max-file is dropped.
    fn rotate(&mut self) -> std::io::Result<()> {
        let name = |n: u32| if n == 0 { self.path.clone() } else { PathBuf::from(format!("{}.{n}", self.path.display())) };
        if self.max_file <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        let _ = std::fs::remove_file(name(self.max_file - 1));
        for n in (0..self.max_file - 1).rev() {
            let _ = std::fs::rename(name(n), name(n + 1));
        }
        self.file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-shim-log-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn lines_become_entries() {
        let d = tmp("lines");
        let p = d.join("c-json.log");
        let mut l = JsonLog::open(&p, None, 1).unwrap();
        l.write(1, b"hello\nwor").unwrap();
        l.write(2, b"oops\n").unwrap();
        l.write(1, b"ld\n").unwrap();
        l.write(1, b"tail").unwrap();
        l.flush_stream(1).unwrap();
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&p).unwrap().lines().map(|x| serde_json::from_str(x).unwrap()).collect();
        let got: Vec<(&str, &str)> = lines.iter().map(|v| (v["stream"].as_str().unwrap(), v["log"].as_str().unwrap())).collect();
        assert_eq!(got, vec![("stdout", "hello\n"), ("stderr", "oops\n"), ("stdout", "world\n"), ("stdout", "tail")]);
        assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn rotation_keeps_max_file() {
        let d = tmp("rot");
        let p = d.join("c-json.log");
        let mut l = JsonLog::open(&p, Some(200), 3).unwrap();
        for i in 0..40 {
            l.write(1, format!("line {i}\n").as_bytes()).unwrap();
        }
        assert!(p.exists() && d.join("c-json.log.1").exists() && d.join("c-json.log.2").exists());
        assert!(!d.join("c-json.log.3").exists(), "max-file 3: the current file and two old ones");
        for f in ["c-json.log", "c-json.log.1", "c-json.log.2"] {
            assert!(std::fs::metadata(d.join(f)).unwrap().len() <= 200, "{f} stays under max-size");
        }
        let last = std::fs::read_to_string(&p).unwrap();
        assert!(last.contains("line 39"));
        std::fs::remove_dir_all(d).unwrap();
    }
}
