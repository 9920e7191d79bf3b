//! Content digests (`sha256:<64 hex>`), and a reader that hashes what passes
//! through it so a download or a decompressed layer is verified while it
//! streams, never by reading it a second time.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// A sha256 digest. Other algorithms (sha512) are refused: every registry
/// and image in use today addresses content by sha256.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    pub fn parse(s: &str) -> Result<Digest> {
        let bad = |reason| Error::InvalidDigest { digest: s.to_string(), reason };
        let (algo, hex) = s.split_once(':').ok_or_else(|| bad("missing algorithm prefix"))?;
        if algo != "sha256" {
            return Err(bad("only sha256 is supported"));
        }
        Digest::from_hex(hex).map_err(|_| bad("expected 64 lowercase hex digits"))
    }

    pub fn from_hex(hex: &str) -> Result<Digest> {
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(Error::InvalidDigest { digest: hex.to_string(), reason: "expected 64 lowercase hex digits" });
        }
        Ok(Digest { hex: hex.to_string() })
    }

    pub fn of(data: &[u8]) -> Digest {
        Digest { hex: to_hex(&Sha256::digest(data)) }
    }

    /// The 64 hex digits, which is also the file name in `blobs/sha256/`.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The 12-digit form docker prints for layer ids and image ids.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }

    pub fn verify(&self, data: &[u8]) -> Result<()> {
        let got = Digest::of(data);
        if &got != self {
            return Err(Error::DigestMismatch { expected: self.to_string(), actual: got.to_string() });
        }
        Ok(())
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Digest> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An incremental sha256 with a byte count, for data that arrives in pieces.
#[derive(Clone, Default)]
pub struct Hasher {
    inner: Sha256,
    count: u64,
}

impl Hasher {
    pub fn new() -> Hasher {
        Hasher::default()
    }
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
        self.count += data.len() as u64;
    }
    pub fn count(&self) -> u64 {
        self.count
    }
    pub fn finish(self) -> (Digest, u64) {
        (Digest { hex: to_hex(&self.inner.finalize()) }, self.count)
    }
}

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> HashingReader<R> {
        HashingReader { inner, hasher: Hasher::new() }
    }

    pub fn count(&self) -> u64 {
        self.hasher.count()
    }

    /// Reads what is left (a tar's end padding, a gzip trailer), so the digest
    /// covers the whole stream, then returns it with the byte count.
    pub fn finish(mut self) -> io::Result<(Digest, u64, R)> {
        io::copy(&mut self, &mut io::sink())?;
        let (d, n) = self.hasher.finish();
        Ok((d, n, self.inner))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_verify() {
        let d = Digest::of(b"hello");
        assert_eq!(d.to_string(), "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        assert!(d.verify(b"hello").is_ok());
        assert!(matches!(d.verify(b"hellO"), Err(Error::DigestMismatch { .. })));
        assert!(Digest::parse("sha512:abcd").is_err());
        assert!(Digest::parse("sha256:ABCD").is_err());
        assert!(Digest::parse("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824").is_err());
    }

    #[test]
    fn hashing_reader_covers_unread_tail() {
        let data = vec![7u8; 100_000];
        let mut r = HashingReader::new(&data[..]);
        let mut head = [0u8; 10];
        r.read_exact(&mut head).unwrap();
        let (d, n, _) = r.finish().unwrap();
        assert_eq!(n, 100_000);
        assert_eq!(d, Digest::of(&data));
    }
}
