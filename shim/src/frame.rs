//! The attach socket's framing. Output to clients uses Docker's
//! multiplexed-stream header (the daemon can pass frames straight through
//! for a non-TTY attach): `[stream, 0, 0, 0, len (u32 big-endian)]` then
//! `len` bytes, stream 1 = stdout, 2 = stderr (a TTY's output is stdout).
//! Clients send the same header with a kind instead of a stream.

pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

/// Client → shim.
pub const IN_STDIN: u8 = 0;
/// Payload: rows and columns, u16 big-endian each.
pub const IN_RESIZE: u8 = 3;
/// Closes the container's stdin (EOF), as `docker attach` does at the end of its input.
pub const IN_CLOSE_STDIN: u8 = 4;

pub fn encode(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + data.len());
    v.extend_from_slice(&[kind, 0, 0, 0]);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

/// Takes complete frames from the front of `buf`.
pub fn decode(buf: &mut Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        if buf.len() < 8 {
            return out;
        }
        let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        if buf.len() < 8 + len {
            return out;
        }
        let kind = buf[0];
        let data = buf[8..8 + len].to_vec();
        buf.drain(..8 + len);
        out.push((kind, data));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_partial_frames() {
        let mut b = encode(STDOUT, b"hello");
        b.extend(encode(IN_RESIZE, &[0, 24, 0, 80]));
        let tail = b.split_off(b.len() - 3);
        let mut buf = b;
        assert_eq!(decode(&mut buf), vec![(STDOUT, b"hello".to_vec())]);
        buf.extend(tail);
        assert_eq!(decode(&mut buf), vec![(IN_RESIZE, vec![0, 24, 0, 80])]);
        assert!(buf.is_empty());
    }
}
