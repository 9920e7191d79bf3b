//! berthd's embedded DNS server, docker's 127.0.0.11: a container asks it for
//! the names of the containers it shares a network with, which no resolver
//! outside berthd knows, and everything else is passed on to the upstream
//! resolvers berthd chose for that container.
//!
//! One server per container, listening on 127.0.0.11:53 (UDP and TCP) inside
//! the container's own network namespace, so that address is private to it
//! and needs no routing or NAT. The sockets are made on a short-lived thread
//! that joins the namespace: a socket stays in the namespace it was created
//! in, so the tokio workers serving it (and the sockets they forward from)
//! stay in berthd's namespace, where the upstreams are reachable.
//!
//! The wire format is written out here (RFC 1035) rather than taken from a
//! crate: the server only reads one question and writes A records, and it
//! relays everything else byte for byte. Every length and pointer in a packet
//! is checked before use; anything that does not parse is dropped (UDP) or
//! ends the connection (TCP).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{sleep, sleep_until, timeout, timeout_at, Instant};

/// What the server asks berthd: the names a container can see, and where other names go.
pub trait Names: Send + Sync + 'static {
    /// Addresses of `name` (lowercase, no trailing dot) as seen from container `from`
    /// (its networks' container names, aliases, short ids), or None if it is not a container name.
    fn lookup(&self, from: &str, name: &str) -> Option<Vec<Ipv4Addr>>;
    /// Upstream resolvers for `from` (port 53 normally); empty means answer SERVFAIL for other names.
    fn upstreams(&self, from: &str) -> Vec<SocketAddr>;
}

/// The listen address, inside each container's network namespace.
pub const LISTEN: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

const PORT: u16 = 53;
/// docker's TTL for container names: they change only when containers come and go.
const TTL: u32 = 600;
/// Per upstream, and for all of them together: a resolver gives up on us after
/// ~5 s (glibc's default timeout), so waiting longer would answer no one.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
const FORWARD_BUDGET: Duration = Duration::from_secs(5);
const TCP_IDLE: Duration = Duration::from_secs(10);
const MAX_TCP_CONNS: usize = 64;
/// Queries of one TCP connection being answered at once; reading stops beyond it.
const MAX_PIPELINED: usize = 16;
/// UDP queries of one container in flight; more are dropped (the client retries)
/// rather than letting a flood towards a slow upstream grow without bound.
const MAX_UDP_INFLIGHT: usize = 256;
/// After a failed accept or recv (EMFILE and the like): don't spin on it.
const ERROR_PAUSE: Duration = Duration::from_millis(50);

const HEADER: usize = 12;
const MAX_NAME: usize = 255;
const TYPE_A: u16 = 1;
const TYPE_OPT: u16 = 41;
const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;
const RCODE_SERVFAIL: u16 = 2;
const QR: u16 = 0x8000;
const AA: u16 = 0x0400;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const RA: u16 = 0x0080;
/// An A record with its owner a pointer to the question's name at offset 12.
const A_RECORD: usize = 2 + 2 + 2 + 4 + 2 + 4;
/// An OPT record: root owner, type, class (payload size), TTL (flags), rdlength 0.
const OPT_RECORD: usize = 1 + 2 + 2 + 4 + 2;
/// Without EDNS a UDP message is at most 512 bytes (RFC 1035 4.2.1).
const UDP_PLAIN: usize = 512;
/// The payload we advertise and the most we send over UDP ourselves, whatever
/// a client offers: more only invites fragmentation.
const UDP_OURS: u16 = 4096;
const TCP_MAX: usize = u16::MAX as usize;

/// Why a packet was not answered (for the debug log).
#[derive(Debug, PartialEq, Eq)]
struct Malformed(&'static str);

/// The one question of a query, and what the answer must echo or respect.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Question {
    id: u16,
    rd: bool,
    /// The name as sent, uncompressed: echoed with its case kept, because
    /// resolvers randomise the case (draft-vixie-dnsext-dns0x20) and check it.
    wire_name: Vec<u8>,
    /// Lowercase and dotted, no trailing dot; bytes that cannot be in a
    /// container name written `\DDD`, so that they never match one.
    name: String,
    qtype: u16,
    qclass: u16,
    /// The UDP payload size of the client's OPT record, if it sent one.
    edns: Option<u16>,
}

impl Question {
    /// The largest UDP reply the client takes.
    fn udp_accepts(&self) -> usize {
        self.edns.map_or(UDP_PLAIN, |s| (s as usize).max(UDP_PLAIN))
    }
}

fn be16(p: &[u8], at: usize) -> Result<u16, Malformed> {
    match p.get(at..at + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
        None => Err(Malformed("truncated")),
    }
}

/// Reads the name at `at`: its uncompressed wire form and where the packet
/// continues after it.
fn read_name(p: &[u8], mut at: usize) -> Result<(Vec<u8>, usize), Malformed> {
    let mut wire = Vec::new();
    let mut next = None;
    // A pointer must go strictly before the run of labels it ends, as every
    // compressor writes them: the runs then move towards the start of the
    // packet and a loop cannot be made.
    let mut floor = at;
    loop {
        let len = *p.get(at).ok_or(Malformed("truncated name"))? as usize;
        match len & 0xC0 {
            0x00 => {
                wire.push(len as u8);
                if len == 0 {
                    return Ok((wire, next.unwrap_or(at + 1)));
                }
                wire.extend_from_slice(p.get(at + 1..at + 1 + len).ok_or(Malformed("truncated label"))?);
                // Room must be left for the root label.
                if wire.len() + 1 > MAX_NAME {
                    return Err(Malformed("name longer than 255 bytes"));
                }
                at += 1 + len;
            }
            0xC0 => {
                let target = (be16(p, at)? & 0x3FFF) as usize;
                if target >= floor {
                    return Err(Malformed("compression pointer not backwards"));
                }
                next.get_or_insert(at + 2);
                floor = target;
                at = target;
            }
            // 0x40 and 0x80: a label of 64 or more, or the obsolete extended label types.
            _ => return Err(Malformed("label longer than 63 bytes")),
        }
    }
}

/// The lookup form of a wire name.
fn name_text(wire: &[u8]) -> String {
    let mut s = String::new();
    let mut at = 0;
    while let Some(&len) = wire.get(at).filter(|&&l| l != 0) {
        if at > 0 {
            s.push('.');
        }
        for &b in wire.get(at + 1..at + 1 + len as usize).unwrap_or_default() {
            match b {
                b'.' | b'\\' => s.push_str(&format!("\\{b:03}")),
                0x21..=0x7E => s.push(b.to_ascii_lowercase() as char),
                _ => s.push_str(&format!("\\{b:03}")),
            }
        }
        at += 1 + len as usize;
    }
    s
}

/// Parses a query: a header that is a standard query with exactly one
/// question, and every record it counts (to find an OPT record).
fn parse_query(p: &[u8]) -> Result<Question, Malformed> {
    if p.len() < HEADER {
        return Err(Malformed("shorter than a header"));
    }
    let flags = be16(p, 2)?;
    if flags & QR != 0 {
        // Answering a response could make two servers bounce packets forever.
        return Err(Malformed("a response, not a query"));
    }
    if (flags >> 11) & 0xF != 0 {
        return Err(Malformed("opcode is not QUERY"));
    }
    if be16(p, 4)? != 1 {
        return Err(Malformed("question count is not 1"));
    }
    let (an, ns, ar) = (be16(p, 6)? as usize, be16(p, 8)? as usize, be16(p, 10)? as usize);
    let (wire_name, at) = read_name(p, HEADER)?;
    let (qtype, qclass) = (be16(p, at)?, be16(p, at + 2)?);
    let mut at = at + 4;
    let mut edns = None;
    for i in 0..an + ns + ar {
        let (_, rr) = read_name(p, at)?;
        let rtype = be16(p, rr)?;
        let class = be16(p, rr + 2)?;
        let end = rr + 10 + be16(p, rr + 8)? as usize;
        if end > p.len() {
            return Err(Malformed("truncated record"));
        }
        if i >= an + ns && rtype == TYPE_OPT {
            edns = Some(class);
        }
        at = end;
    }
    let name = name_text(&wire_name);
    Ok(Question { id: be16(p, 0)?, rd: flags & RD != 0, wire_name, name, qtype, qclass, edns })
}

/// A reply's header and echoed question.
fn reply_head(q: &Question, flags: u16, answers: u16) -> Vec<u8> {
    let flags = QR | (if q.rd { RD } else { 0 }) | RA | flags;
    let additional = u16::from(q.edns.is_some());
    let mut m = Vec::with_capacity(UDP_PLAIN);
    for v in [q.id, flags, 1, answers, 0, additional] {
        m.extend_from_slice(&v.to_be_bytes());
    }
    m.extend_from_slice(&q.wire_name);
    m.extend_from_slice(&q.qtype.to_be_bytes());
    m.extend_from_slice(&q.qclass.to_be_bytes());
    m
}

/// Ours back when the client sent one (RFC 6891 7): version 0, no flags.
fn push_opt(q: &Question, m: &mut Vec<u8>) {
    if q.edns.is_some() {
        m.push(0);
        m.extend_from_slice(&TYPE_OPT.to_be_bytes());
        m.extend_from_slice(&UDP_OURS.to_be_bytes());
        m.extend_from_slice(&[0; 6]);
    }
}

/// The authoritative answer for a container name: its addresses for A and
/// ANY, nothing (but no error: the name exists) for other types. As many
/// records as fit in `limit`, with TC set if that is not all of them.
fn local_reply(q: &Question, addrs: &[Ipv4Addr], limit: usize) -> Vec<u8> {
    let fixed = HEADER + q.wire_name.len() + 4 + (if q.edns.is_some() { OPT_RECORD } else { 0 });
    let want = if q.qtype == TYPE_A || q.qtype == TYPE_ANY { addrs.len() } else { 0 };
    let n = want.min(limit.saturating_sub(fixed) / A_RECORD).min(u16::MAX as usize);
    let mut m = reply_head(q, AA | (if n < want { TC } else { 0 }), n as u16);
    for a in &addrs[..n] {
        m.extend_from_slice(&[0xC0, HEADER as u8]);
        m.extend_from_slice(&TYPE_A.to_be_bytes());
        m.extend_from_slice(&CLASS_IN.to_be_bytes());
        m.extend_from_slice(&TTL.to_be_bytes());
        m.extend_from_slice(&4u16.to_be_bytes());
        m.extend_from_slice(&a.octets());
    }
    push_opt(q, &mut m);
    m
}

fn servfail(q: &Question) -> Vec<u8> {
    let mut m = reply_head(q, RCODE_SERVFAIL, 0);
    push_opt(q, &mut m);
    m
}

/// An upstream's message is the reply to `query` if it is a response with its ID.
fn is_reply_to(query: &[u8], reply: &[u8]) -> bool {
    reply.len() >= HEADER && reply[..2] == query[..2] && reply[2] & 0x80 != 0
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "no reply")
}

async fn via_tcp(query: &[u8], up: SocketAddr, until: Instant) -> io::Result<Vec<u8>> {
    let exchange = async {
        let mut s = TcpStream::connect(up).await?;
        let mut msg = Vec::with_capacity(2 + query.len());
        msg.extend_from_slice(&(query.len() as u16).to_be_bytes());
        msg.extend_from_slice(query);
        s.write_all(&msg).await?;
        let mut len = [0; 2];
        s.read_exact(&mut len).await?;
        let mut reply = vec![0; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut reply).await?;
        Ok::<_, io::Error>(reply)
    };
    let reply = timeout_at(until, exchange).await.map_err(|_| timed_out())??;
    if !is_reply_to(query, &reply) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "reply with another ID"));
    }
    Ok(reply)
}

async fn via_udp(q: &Question, query: &[u8], up: SocketAddr, until: Instant) -> io::Result<Vec<u8>> {
    // A fresh socket per query: a random source port, and connect() so that
    // only the upstream's own datagrams (and its ICMP errors) come back.
    let s = UdpSocket::bind(if up.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).await?;
    s.connect(up).await?;
    s.send(query).await?;
    let mut buf = vec![0; TCP_MAX];
    let reply = loop {
        let n = timeout_at(until, s.recv(&mut buf)).await.map_err(|_| timed_out())??;
        // Another ID is a late reply to someone else's query or a spoof: keep waiting.
        if is_reply_to(query, &buf[..n]) {
            break buf[..n].to_vec();
        }
    };
    if be16(&reply, 2).unwrap_or(0) & TC == 0 {
        return Ok(reply);
    }
    // Truncated: the whole answer over TCP, unless the client could not take
    // it over UDP either; then it gets TC and asks us over TCP itself.
    match via_tcp(query, up, until).await {
        Ok(full) if full.len() <= q.udp_accepts() => Ok(full),
        _ => Ok(reply),
    }
}

/// The upstreams in order, each for at most UPSTREAM_TIMEOUT and all of them
/// within FORWARD_BUDGET: the first reply, relayed unchanged.
async fn forward(q: &Question, query: &[u8], ups: &[SocketAddr], tcp: bool, from: &str) -> Option<(Vec<u8>, SocketAddr)> {
    let deadline = Instant::now() + FORWARD_BUDGET;
    for &up in ups {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let until = deadline.min(now + UPSTREAM_TIMEOUT);
        let r = if tcp { via_tcp(query, up, until).await } else { via_udp(q, query, up, until).await };
        match r {
            Ok(reply) => return Some((reply, up)),
            Err(e) => tracing::debug!(container = %from, upstream = %up, error = %e, "dns upstream failed"),
        }
    }
    None
}

struct Ctx {
    from: String,
    names: Arc<dyn Names>,
}

/// The reply to one parsed query.
async fn answer(ctx: &Ctx, q: &Question, query: &[u8], tcp: bool) -> Vec<u8> {
    let from = ctx.from.as_str();
    if q.qclass == CLASS_IN {
        if let Some(addrs) = ctx.names.lookup(from, &q.name) {
            tracing::debug!(container = %from, name = %q.name, qtype = q.qtype, addresses = addrs.len(), "dns query: local");
            let limit = if tcp { TCP_MAX } else { q.udp_accepts().min(UDP_OURS as usize) };
            return local_reply(q, &addrs, limit);
        }
    }
    let ups = ctx.names.upstreams(from);
    if let Some((reply, up)) = forward(q, query, &ups, tcp, from).await {
        tracing::debug!(container = %from, name = %q.name, qtype = q.qtype, upstream = %up, "dns query: forwarded");
        return reply;
    }
    tracing::debug!(container = %from, name = %q.name, qtype = q.qtype, upstreams = ups.len(), "dns query: servfail");
    servfail(q)
}

async fn serve_udp(ctx: Arc<Ctx>, sock: UdpSocket) {
    let sock = Arc::new(sock);
    // Owned by this task: aborting it (stop) drops the queries in flight too.
    let mut inflight = JoinSet::new();
    let mut buf = vec![0; TCP_MAX];
    loop {
        tokio::select! {
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
            r = sock.recv_from(&mut buf) => {
                let (n, peer) = match r {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!(container = %ctx.from, error = %e, "dns: udp receive failed");
                        sleep(ERROR_PAUSE).await;
                        continue;
                    }
                };
                let query = buf[..n].to_vec();
                let q = match parse_query(&query) {
                    Ok(q) => q,
                    Err(Malformed(why)) => {
                        tracing::debug!(container = %ctx.from, %peer, why, "dns: dropped a malformed packet");
                        continue;
                    }
                };
                if inflight.len() >= MAX_UDP_INFLIGHT {
                    tracing::debug!(container = %ctx.from, name = %q.name, "dns: dropped, too many queries in flight");
                    continue;
                }
                let (ctx, sock) = (ctx.clone(), sock.clone());
                inflight.spawn(async move {
                    let reply = answer(&ctx, &q, &query, false).await;
                    let _ = sock.send_to(&reply, peer).await;
                });
            }
        }
    }
}

async fn serve_tcp(ctx: Arc<Ctx>, listener: TcpListener) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            r = listener.accept() => match r {
                Ok((s, peer)) if conns.len() >= MAX_TCP_CONNS => {
                    tracing::debug!(container = %ctx.from, %peer, "dns: refused a tcp connection, too many open");
                    drop(s);
                }
                Ok((s, _)) => {
                    conns.spawn(tcp_conn(ctx.clone(), s));
                }
                Err(e) => {
                    tracing::debug!(container = %ctx.from, error = %e, "dns: tcp accept failed");
                    sleep(ERROR_PAUSE).await;
                }
            }
        }
    }
}

/// The next whole length-prefixed message in `buf`, taken out of it.
fn take_frame(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, Malformed> {
    let Ok(len) = be16(buf, 0) else { return Ok(None) };
    if (len as usize) < HEADER {
        return Err(Malformed("tcp message shorter than a header"));
    }
    if buf.len() < 2 + len as usize {
        return Ok(None);
    }
    let frame = buf[2..2 + len as usize].to_vec();
    buf.drain(..2 + len as usize);
    Ok(Some(frame))
}

/// One TCP connection: queries answered concurrently, each reply written
/// when ready (RFC 7766 allows any order), closed after TCP_IDLE with
/// nothing asked or pending, or at the first message that does not parse.
async fn tcp_conn(ctx: Arc<Ctx>, mut s: TcpStream) {
    let (mut rd, mut wr) = s.split();
    let mut buf = Vec::new();
    let mut chunk = [0; 4096];
    let mut queries = JoinSet::new();
    let mut idle = Instant::now() + TCP_IDLE;
    let mut eof = false;
    loop {
        while queries.len() < MAX_PIPELINED {
            let query = match take_frame(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(Malformed(why)) => {
                    tracing::debug!(container = %ctx.from, why, "dns: closed a tcp connection");
                    return;
                }
            };
            let q = match parse_query(&query) {
                Ok(q) => q,
                Err(Malformed(why)) => {
                    tracing::debug!(container = %ctx.from, why, "dns: closed a tcp connection");
                    return;
                }
            };
            let ctx = ctx.clone();
            queries.spawn(async move { answer(&ctx, &q, &query, true).await });
        }
        if eof && queries.is_empty() {
            return;
        }
        tokio::select! {
            Some(r) = queries.join_next(), if !queries.is_empty() => {
                let Ok(reply) = r else { return };
                let mut msg = Vec::with_capacity(2 + reply.len());
                msg.extend_from_slice(&(reply.len() as u16).to_be_bytes());
                msg.extend_from_slice(&reply);
                // A client that stops reading must not hold the task forever.
                if !matches!(timeout(TCP_IDLE, wr.write_all(&msg)).await, Ok(Ok(()))) {
                    return;
                }
                idle = Instant::now() + TCP_IDLE;
            }
            r = rd.read(&mut chunk), if !eof && queries.len() < MAX_PIPELINED => match r {
                // Half-closed: what was asked is still answered.
                Ok(0) => eof = true,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    idle = Instant::now() + TCP_IDLE;
                }
                Err(_) => return,
            },
            _ = sleep_until(idle), if queries.is_empty() => return,
        }
    }
}

/// Moves the calling thread into the network namespace `f` refers to.
fn setns_net(f: &File) -> io::Result<()> {
    // SAFETY: f is an open nsfs descriptor for the duration of the call;
    // setns with CLONE_NEWNET changes only this thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Retries while the address is in use: a server just stopped for the same
/// namespace lets go of it once the runtime drops its aborted tasks.
fn bind_retrying<T>(bind: impl Fn() -> io::Result<T>) -> io::Result<T> {
    for _ in 0..20 {
        match bind() {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => std::thread::sleep(Duration::from_millis(10)),
            r => return r,
        }
    }
    bind()
}

/// The server's sockets, made inside the namespace `ns` on a thread of their
/// own that ends with this call.
fn bind_in(ns: File) -> io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    std::thread::Builder::new()
        .name("berthd-dns-bind".into())
        .spawn(move || {
            setns_net(&ns)?;
            let addr = SocketAddr::from((LISTEN, PORT));
            let udp = bind_retrying(|| std::net::UdpSocket::bind(addr))?;
            let tcp = bind_retrying(|| std::net::TcpListener::bind(addr))?;
            Ok((udp, tcp))
        })?
        .join()
        .map_err(|_| io::Error::other("the DNS bind thread panicked"))?
}

struct Served {
    /// The namespace (nsfs device and inode) the sockets are in; None for serve_on.
    netns: Option<(u64, u64)>,
    tasks: Vec<AbortHandle>,
}

impl Served {
    fn abort(&self) {
        self.tasks.iter().for_each(AbortHandle::abort);
    }
}

pub struct Dns {
    names: Arc<dyn Names>,
    served: Mutex<HashMap<String, Served>>,
}

impl Dns {
    pub fn new(names: Arc<dyn Names>) -> Dns {
        Dns { names, served: Mutex::new(HashMap::new()) }
    }

    fn served(&self) -> MutexGuard<'_, HashMap<String, Served>> {
        self.served.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Binds UDP and TCP 127.0.0.11:53 inside the network namespace pinned at `netns`
    /// (a bind-mounted nsfs file, e.g. /run/berth/netns/<id>) and serves queries from container `from`
    /// on the current tokio runtime until `stop(from)`. Idempotent per container (a second call for the
    /// same container replaces the first). Must be called from inside a tokio runtime.
    pub fn serve(&self, from: &str, netns: &Path) -> io::Result<()> {
        in_runtime()?;
        let ns = File::open(netns)?;
        let meta = ns.metadata()?;
        let id = Some((meta.dev(), meta.ino()));
        // Held across the bind so that two calls for one container cannot race for the port.
        let mut served = self.served();
        if let Some(s) = served.get(from) {
            // The same namespace (its sockets keep it alive, so its inode is
            // not reused) with the server still running: nothing to replace,
            // and binding again would find the port taken.
            if s.netns == id && s.tasks.iter().all(|t| !t.is_finished()) {
                return Ok(());
            }
        }
        if let Some(old) = served.remove(from) {
            old.abort();
        }
        let (udp, tcp) = bind_in(ns)?;
        let tasks = self.start(from, udp, tcp)?;
        tracing::debug!(container = %from, netns = %netns.display(), "dns: serving on {LISTEN}:{PORT}");
        served.insert(from.to_string(), Served { netns: id, tasks });
        Ok(())
    }

    /// As serve, on sockets the caller bound (tests bind 127.0.0.1:0 in the
    /// host's namespace); always replaces what served `from` before.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn serve_on(&self, from: &str, udp: std::net::UdpSocket, tcp: std::net::TcpListener) -> io::Result<()> {
        in_runtime()?;
        let mut served = self.served();
        if let Some(old) = served.remove(from) {
            old.abort();
        }
        let tasks = self.start(from, udp, tcp)?;
        served.insert(from.to_string(), Served { netns: None, tasks });
        Ok(())
    }

    fn start(&self, from: &str, udp: std::net::UdpSocket, tcp: std::net::TcpListener) -> io::Result<Vec<AbortHandle>> {
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        let udp = UdpSocket::from_std(udp)?;
        let tcp = TcpListener::from_std(tcp)?;
        let ctx = Arc::new(Ctx { from: from.to_string(), names: self.names.clone() });
        Ok(vec![tokio::spawn(serve_udp(ctx.clone(), udp)).abort_handle(), tokio::spawn(serve_tcp(ctx, tcp)).abort_handle()])
    }

    /// Stops serving `from`: its sockets are closed (tasks aborted).
    pub fn stop(&self, from: &str) {
        if let Some(s) = self.served().remove(from) {
            s.abort();
            tracing::debug!(container = %from, "dns: stopped");
        }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.served().values().for_each(Served::abort);
    }
}

/// tokio's from_std and spawn panic outside a runtime; the caller gets an error instead.
fn in_runtime() -> io::Result<()> {
    tokio::runtime::Handle::try_current().map(|_| ()).map_err(|_| io::Error::other("the DNS server needs a tokio runtime"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as a stub resolver sends it: RD set, an OPT record with `edns`.
    fn query(id: u16, name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
        let mut m = Vec::new();
        for v in [id, RD, 1, 0, 0, u16::from(edns.is_some())] {
            m.extend_from_slice(&v.to_be_bytes());
        }
        for l in name.split('.').filter(|l| !l.is_empty()) {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&CLASS_IN.to_be_bytes());
        if let Some(size) = edns {
            m.push(0);
            m.extend_from_slice(&TYPE_OPT.to_be_bytes());
            m.extend_from_slice(&size.to_be_bytes());
            m.extend_from_slice(&[0; 6]);
        }
        m
    }

    #[derive(Debug)]
    struct Reply {
        id: u16,
        flags: u16,
        /// The question's name as sent (case kept), type, class.
        question: (Vec<u8>, u16, u16),
        /// Answer records: owner, type, TTL, rdata.
        answers: Vec<(Vec<u8>, u16, u32, Vec<u8>)>,
        /// Types of the additional records.
        additional: Vec<u16>,
    }

    impl Reply {
        fn rcode(&self) -> u16 {
            self.flags & 0xF
        }
        fn addrs(&self) -> Vec<Ipv4Addr> {
            self.answers.iter().filter(|a| a.1 == TYPE_A).map(|a| Ipv4Addr::new(a.3[0], a.3[1], a.3[2], a.3[3])).collect()
        }
    }

    fn rr(p: &[u8], at: usize) -> ((Vec<u8>, u16, u32, Vec<u8>), usize) {
        let (owner, at) = read_name(p, at).unwrap();
        let (t, ttl) = (be16(p, at).unwrap(), u32::from_be_bytes(p[at + 4..at + 8].try_into().unwrap()));
        let len = be16(p, at + 8).unwrap() as usize;
        ((owner, t, ttl, p[at + 10..at + 10 + len].to_vec()), at + 10 + len)
    }

    fn decode(p: &[u8]) -> Reply {
        assert_eq!(be16(p, 4).unwrap(), 1, "question count");
        let (name, at) = read_name(p, HEADER).unwrap();
        let question = (name, be16(p, at).unwrap(), be16(p, at + 2).unwrap());
        let mut at = at + 4;
        let mut answers = Vec::new();
        for _ in 0..be16(p, 6).unwrap() {
            let (r, next) = rr(p, at);
            answers.push(r);
            at = next;
        }
        let mut additional = Vec::new();
        for _ in 0..be16(p, 10).unwrap() {
            let (r, next) = rr(p, at);
            additional.push(r.1);
            at = next;
        }
        assert_eq!(at, p.len(), "trailing bytes");
        Reply { id: be16(p, 0).unwrap(), flags: be16(p, 2).unwrap(), question, answers, additional }
    }

    fn wire(name: &str) -> Vec<u8> {
        query(0, name, TYPE_A, None)[HEADER..].split_at(name.len() + 2).0.to_vec()
    }

    #[test]
    fn query_round_trip() {
        let q = parse_query(&query(0x1234, "Web.Example.", TYPE_A, Some(1232))).unwrap();
        assert_eq!(q, Question { id: 0x1234, rd: true, wire_name: wire("Web.Example"), name: "web.example".into(), qtype: TYPE_A, qclass: CLASS_IN, edns: Some(1232) });
        let q = parse_query(&query(7, "web", 28, None)).unwrap();
        assert_eq!((q.name.as_str(), q.qtype, q.edns, q.udp_accepts()), ("web", 28, None, 512));
        assert_eq!(parse_query(&query(7, ".", TYPE_A, None)).unwrap().name, "");
    }

    #[test]
    fn local_reply_round_trip() {
        let q = parse_query(&query(0xBEEF, "WeB", TYPE_A, None)).unwrap();
        let addrs = [Ipv4Addr::new(10, 89, 0, 2), Ipv4Addr::new(10, 89, 0, 3)];
        let m = local_reply(&q, &addrs, 512);
        let r = decode(&m);
        assert_eq!((r.id, r.flags), (0xBEEF, QR | AA | RD | RA));
        assert_eq!(r.question, (wire("WeB"), TYPE_A, CLASS_IN));
        assert_eq!(r.addrs(), addrs);
        assert!(r.answers.iter().all(|a| a.0 == wire("WeB") && a.2 == TTL));
        // The owner is a pointer to the question's name.
        assert_eq!(m[HEADER + 5 + 4..][..2], [0xC0, 0x0C]);
        assert!(r.additional.is_empty());

        let r = decode(&local_reply(&parse_query(&query(1, "web", 28, Some(4096))).unwrap(), &addrs, 4096));
        assert_eq!((r.rcode(), r.answers.len(), r.flags & AA, r.additional), (0, 0, AA, vec![TYPE_OPT]));
        assert_eq!(decode(&local_reply(&parse_query(&query(1, "web", TYPE_ANY, None)).unwrap(), &addrs, 512)).addrs(), addrs);
    }

    #[test]
    fn local_reply_truncates() {
        let addrs: Vec<_> = (0..100).map(|i| Ipv4Addr::new(10, 89, 1, i)).collect();
        let q = parse_query(&query(1, "many", TYPE_A, None)).unwrap();
        let m = local_reply(&q, &addrs, 512);
        let r = decode(&m);
        assert!(m.len() <= 512);
        assert_eq!((r.flags & TC, r.addrs()), (TC, addrs[..30].to_vec()));
        let q = parse_query(&query(1, "many", TYPE_A, Some(4096))).unwrap();
        let r = decode(&local_reply(&q, &addrs, 4096));
        assert_eq!((r.flags & TC, r.addrs().len(), r.additional), (0, 100, vec![TYPE_OPT]));
    }

    #[test]
    fn servfail_echoes_the_question() {
        let r = decode(&servfail(&parse_query(&query(9, "eXample.org", 28, None)).unwrap()));
        assert_eq!((r.id, r.rcode(), r.flags & (QR | AA), r.answers.len()), (9, RCODE_SERVFAIL, QR, 0));
        assert_eq!(r.question, (wire("eXample.org"), 28, CLASS_IN));
    }

    #[test]
    fn compression_pointers_backwards_only() {
        // "com" at 0, "www" + pointer to it at 5.
        let p = [3, b'c', b'o', b'm', 0, 3, b'w', b'w', b'w', 0xC0, 0, 0xFF];
        assert_eq!(read_name(&p, 5), Ok((wire("www.com"), 11)));
        assert_eq!(name_text(&read_name(&p, 5).unwrap().0), "www.com");
        // To itself, forwards, and two pointers at each other.
        assert!(read_name(&[0xC0, 0], 0).is_err());
        assert!(read_name(&[0xC0, 2, 0], 0).is_err());
        assert!(read_name(&[1, b'a', 0xC0, 4, 0xC0, 0], 4).is_err());
        let mut p = query(1, "x", TYPE_A, None);
        p.truncate(HEADER);
        p.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
        assert_eq!(parse_query(&p), Err(Malformed("compression pointer not backwards")));
    }

    #[test]
    fn hostile_queries_rejected() {
        let good = query(1, "web.example", TYPE_A, Some(1232));
        for n in 0..good.len() {
            assert!(parse_query(&good[..n]).is_err(), "prefix of {n} bytes");
        }
        let mut p = good.clone();
        p[HEADER] = 64;
        assert_eq!(parse_query(&p), Err(Malformed("label longer than 63 bytes")));
        p[HEADER] = 0x80;
        assert!(parse_query(&p).is_err());
        for (count, ok) in [(0u8, false), (2, false), (1, true)] {
            let mut p = good.clone();
            p[5] = count;
            assert_eq!(parse_query(&p).is_ok(), ok, "qdcount {count}");
        }
        let mut p = good.clone();
        p[2] |= 0x80;
        assert_eq!(parse_query(&p), Err(Malformed("a response, not a query")));
        let mut p = good.clone();
        p[2] |= 2 << 3;
        assert!(parse_query(&p).is_err(), "opcode STATUS");
        let mut p = good.clone();
        p[11] = 2;
        assert!(parse_query(&p).is_err(), "a counted record missing");
    }

    #[test]
    fn name_length_bounded() {
        let l63 = "a".repeat(63);
        // 3×64 + 62 + the root: 255 bytes.
        let max = format!("{l63}.{l63}.{l63}.{}", "b".repeat(61));
        assert_eq!(parse_query(&query(1, &max, TYPE_A, None)).unwrap().wire_name.len(), 255);
        let over = format!("{l63}.{l63}.{l63}.{}", "b".repeat(62));
        assert_eq!(parse_query(&query(1, &over, TYPE_A, None)), Err(Malformed("name longer than 255 bytes")));
        let mut p = query(1, "a", TYPE_A, None);
        p.truncate(HEADER);
        for _ in 0..300 {
            p.extend_from_slice(&[1, b'a']);
        }
        p.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert!(parse_query(&p).is_err());
    }

    #[test]
    fn odd_bytes_never_match_a_name() {
        let mut p = query(1, "a.b", TYPE_A, None);
        // One label "a.b" rather than two labels.
        p.splice(HEADER..HEADER + 4, [3, b'a', b'.', b'b']);
        assert_eq!(parse_query(&p).unwrap().name, "a\\046b");
        p[HEADER + 2] = b' ';
        assert_eq!(parse_query(&p).unwrap().name, "a\\032b");
    }

    #[test]
    fn random_packets_do_not_panic() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let good = query(1, "web.example", TYPE_A, Some(1232));
        for _ in 0..20_000 {
            let mut p = good.clone();
            for _ in 0..1 + next() % 4 {
                let i = next() as usize % p.len();
                p[i] = next() as u8;
            }
            p.truncate(next() as usize % (p.len() + 1));
            let _ = parse_query(&p);
            let mut b = vec![0; next() as usize % 64];
            b.iter_mut().for_each(|v| *v = next() as u8);
            let _ = parse_query(&b);
            let _ = take_frame(&mut b);
        }
    }

    struct Fake {
        upstreams: Vec<SocketAddr>,
    }

    impl Names for Fake {
        fn lookup(&self, from: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
            if from != "c1" {
                return None;
            }
            match name {
                "web" => Some(vec![Ipv4Addr::new(10, 89, 0, 2)]),
                "db" => Some(vec![Ipv4Addr::new(10, 89, 0, 3), Ipv4Addr::new(10, 89, 0, 4)]),
                "many" => Some((0..100).map(|i| Ipv4Addr::new(10, 89, 1, i)).collect()),
                _ => None,
            }
        }
        fn upstreams(&self, _: &str) -> Vec<SocketAddr> {
            self.upstreams.clone()
        }
    }

    const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;
    /// What the fake upstream answers over UDP, over TCP, and as a decoy with the wrong ID.
    const UP_UDP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
    const UP_TCP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 54);
    const DECOY: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 66);

    fn server(dns: &Dns, from: &str) -> (SocketAddr, SocketAddr) {
        let udp = std::net::UdpSocket::bind((LOCALHOST, 0)).unwrap();
        let tcp = std::net::TcpListener::bind((LOCALHOST, 0)).unwrap();
        let addrs = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
        dns.serve_on(from, udp, tcp).unwrap();
        addrs
    }

    fn dns(upstreams: Vec<SocketAddr>) -> Dns {
        Dns::new(Arc::new(Fake { upstreams }))
    }

    /// An upstream's answer to `query`: one A record of `ip`, or none and TC.
    fn upstream_reply(query: &[u8], id: u16, ip: Ipv4Addr, truncated: bool) -> Vec<u8> {
        let mut q = parse_query(query).unwrap();
        q.id = id;
        q.edns = None;
        if truncated {
            return reply_head(&q, TC, 0);
        }
        let mut m = reply_head(&q, 0, 1);
        m.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4]);
        m.extend_from_slice(&ip.octets());
        m
    }

    /// A fake resolver on one port for UDP and TCP. Over UDP it first sends a
    /// reply with the wrong ID, then UP_UDP (or TC with `truncates`); over TCP, UP_TCP.
    async fn upstream(truncates: bool) -> SocketAddr {
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
            if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0; 1500];
            loop {
                let (n, peer) = udp.recv_from(&mut buf).await.unwrap();
                let id = be16(&buf, 0).unwrap();
                udp.send_to(&upstream_reply(&buf[..n], id ^ 1, DECOY, false), peer).await.unwrap();
                udp.send_to(&upstream_reply(&buf[..n], id, UP_UDP, truncates), peer).await.unwrap();
            }
        });
        tokio::spawn(async move {
            loop {
                let (mut s, _) = tcp.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut len = [0; 2];
                    s.read_exact(&mut len).await.unwrap();
                    let mut q = vec![0; u16::from_be_bytes(len) as usize];
                    s.read_exact(&mut q).await.unwrap();
                    let r = upstream_reply(&q, be16(&q, 0).unwrap(), UP_TCP, false);
                    s.write_all(&(r.len() as u16).to_be_bytes()).await.unwrap();
                    s.write_all(&r).await.unwrap();
                });
            }
        });
        addr
    }

    async fn client(server: SocketAddr) -> UdpSocket {
        let c = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
        c.connect(server).await.unwrap();
        c
    }

    /// The next reply on `c` within `wait`, if any.
    async fn recv(c: &UdpSocket, wait: Duration) -> Option<Reply> {
        let mut buf = vec![0; TCP_MAX];
        let n = timeout(wait, c.recv(&mut buf)).await.ok()?.ok()?;
        Some(decode(&buf[..n]))
    }

    async fn ask(server: SocketAddr, q: &[u8]) -> Option<Reply> {
        let c = client(server).await;
        c.send(q).await.unwrap();
        recv(&c, Duration::from_secs(3)).await
    }

    async fn tcp_send(s: &mut TcpStream, q: &[u8]) {
        s.write_all(&(q.len() as u16).to_be_bytes()).await.unwrap();
        s.write_all(q).await.unwrap();
    }

    async fn tcp_recv(s: &mut TcpStream) -> Reply {
        let mut len = [0; 2];
        timeout(Duration::from_secs(3), s.read_exact(&mut len)).await.unwrap().unwrap();
        let mut r = vec![0; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut r).await.unwrap();
        decode(&r)
    }

    #[tokio::test]
    async fn answers_container_names() {
        let d = dns(vec![]);
        let (udp, _) = server(&d, "c1");
        let r = ask(udp, &query(0x4242, "db", TYPE_A, None)).await.unwrap();
        assert_eq!((r.id, r.rcode(), r.flags & (AA | RA)), (0x4242, 0, AA | RA));
        assert_eq!(r.addrs(), [Ipv4Addr::new(10, 89, 0, 3), Ipv4Addr::new(10, 89, 0, 4)]);
        assert_eq!(r.answers[0].2, 600);
        let r = ask(udp, &query(2, "WEB.", TYPE_A, None)).await.unwrap();
        assert_eq!((r.addrs(), r.question.0), (vec![Ipv4Addr::new(10, 89, 0, 2)], wire("WEB")));
        let r = ask(udp, &query(3, "web", 28, None)).await.unwrap();
        assert_eq!((r.rcode(), r.answers.len(), r.flags & AA), (0, 0, AA));
        // Another container does not see c1's names.
        let (other, _) = server(&d, "c2");
        assert_eq!(ask(other, &query(4, "web", TYPE_A, None)).await.unwrap().rcode(), RCODE_SERVFAIL);
    }

    #[tokio::test]
    async fn truncates_over_udp_not_tcp() {
        let d = dns(vec![]);
        let (udp, tcp) = server(&d, "c1");
        let r = ask(udp, &query(1, "many", TYPE_A, None)).await.unwrap();
        assert_eq!((r.flags & TC, r.addrs().len()), (TC, 30));
        let r = ask(udp, &query(1, "many", TYPE_A, Some(4096))).await.unwrap();
        assert_eq!((r.flags & TC, r.addrs().len()), (0, 100));
        let mut s = TcpStream::connect(tcp).await.unwrap();
        tcp_send(&mut s, &query(1, "many", TYPE_A, None)).await;
        let r = tcp_recv(&mut s).await;
        assert_eq!((r.flags & TC, r.addrs().len()), (0, 100));
    }

    #[tokio::test]
    async fn forwards_other_names() {
        let up = upstream(false).await;
        let d = dns(vec![up]);
        let (udp, tcp) = server(&d, "c1");
        let q = query(0x0A0B, "example.org", TYPE_A, None);
        let r = ask(udp, &q).await.unwrap();
        assert_eq!((r.id, r.addrs()), (0x0A0B, vec![UP_UDP]));
        // Relayed unchanged: the fake upstream's TTL and no AA.
        assert_eq!((r.answers[0].2, r.flags & AA), (30, 0));
        // Over TCP, forwarded over TCP.
        let mut s = TcpStream::connect(tcp).await.unwrap();
        tcp_send(&mut s, &q).await;
        assert_eq!(tcp_recv(&mut s).await.addrs(), [UP_TCP]);
    }

    #[tokio::test]
    async fn truncated_upstream_reply_retried_over_tcp() {
        let d = dns(vec![upstream(true).await]);
        let (udp, _) = server(&d, "c1");
        let r = ask(udp, &query(5, "big.example", TYPE_A, Some(1232))).await.unwrap();
        assert_eq!((r.flags & TC, r.addrs()), (0, vec![UP_TCP]));
    }

    #[tokio::test]
    async fn no_upstream_is_servfail() {
        let d = dns(vec![]);
        let (udp, tcp) = server(&d, "c1");
        let r = ask(udp, &query(6, "Example.org", TYPE_A, None)).await.unwrap();
        assert_eq!((r.id, r.rcode(), r.question.0), (6, RCODE_SERVFAIL, wire("Example.org")));
        let mut s = TcpStream::connect(tcp).await.unwrap();
        tcp_send(&mut s, &query(7, "example.org", TYPE_A, None)).await;
        assert_eq!(tcp_recv(&mut s).await.rcode(), RCODE_SERVFAIL);
    }

    #[tokio::test]
    async fn silent_upstream_is_servfail_and_blocks_nothing() {
        let silent = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
        let d = dns(vec![silent.local_addr().unwrap()]);
        let (udp, _) = server(&d, "c1");
        let c = client(udp).await;
        let t0 = Instant::now();
        c.send(&query(1, "example.org", TYPE_A, None)).await.unwrap();
        c.send(&query(2, "web", TYPE_A, None)).await.unwrap();
        let r = recv(&c, Duration::from_secs(1)).await.unwrap();
        assert_eq!((r.id, r.addrs()), (2, vec![Ipv4Addr::new(10, 89, 0, 2)]));
        assert!(t0.elapsed() < Duration::from_secs(1));
        let r = recv(&c, Duration::from_secs(4)).await.unwrap();
        assert_eq!((r.id, r.rcode()), (1, RCODE_SERVFAIL));
        let took = t0.elapsed();
        assert!(took >= UPSTREAM_TIMEOUT && took < UPSTREAM_TIMEOUT + Duration::from_secs(1), "{took:?}");
    }

    #[tokio::test]
    async fn next_upstream_after_a_failed_one() {
        // A closed port is refused at once; a silent one costs UPSTREAM_TIMEOUT.
        let closed = UdpSocket::bind((LOCALHOST, 0)).await.unwrap().local_addr().unwrap();
        let silent = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
        let d = dns(vec![closed, silent.local_addr().unwrap(), upstream(false).await]);
        let (udp, _) = server(&d, "c1");
        let t0 = Instant::now();
        let r = ask(udp, &query(1, "example.org", TYPE_A, None)).await.unwrap();
        assert_eq!(r.addrs(), [UP_UDP]);
        let took = t0.elapsed();
        assert!(took >= UPSTREAM_TIMEOUT && took < UPSTREAM_TIMEOUT + Duration::from_secs(1), "{took:?}");
    }

    #[tokio::test]
    async fn tcp_pipelined_queries() {
        let d = dns(vec![]);
        let (_, tcp) = server(&d, "c1");
        let mut s = TcpStream::connect(tcp).await.unwrap();
        // Both in one write, the second split across the length prefix.
        let (a, b) = (query(1, "web", TYPE_A, None), query(2, "db", TYPE_A, None));
        let mut msg = (a.len() as u16).to_be_bytes().to_vec();
        msg.extend_from_slice(&a);
        msg.push(0);
        s.write_all(&msg).await.unwrap();
        sleep(Duration::from_millis(50)).await;
        s.write_all(&[b.len() as u8]).await.unwrap();
        s.write_all(&b).await.unwrap();
        let mut got: Vec<_> = [tcp_recv(&mut s).await, tcp_recv(&mut s).await].into_iter().map(|r| (r.id, r.addrs().len())).collect();
        got.sort();
        assert_eq!(got, [(1, 1), (2, 2)]);
    }

    #[tokio::test]
    async fn malformed_packets_ignored() {
        let d = dns(vec![]);
        let (udp, tcp) = server(&d, "c1");
        let c = client(udp).await;
        let mut loop_ = query(1, "web", TYPE_A, None);
        loop_.splice(HEADER..HEADER + 5, [0xC0, 0x0C]);
        for junk in [&b"\x01\x02"[..], &[0u8; 12][..], &loop_[..]] {
            c.send(junk).await.unwrap();
        }
        assert!(recv(&c, Duration::from_millis(300)).await.is_none());
        c.send(&query(2, "web", TYPE_A, None)).await.unwrap();
        assert_eq!(recv(&c, Duration::from_secs(1)).await.unwrap().id, 2);

        let mut s = TcpStream::connect(tcp).await.unwrap();
        tcp_send(&mut s, &loop_).await;
        let mut b = [0; 1];
        assert!(matches!(timeout(Duration::from_secs(1), s.read(&mut b)).await, Ok(Ok(0) | Err(_))), "connection closed");
        let mut s = TcpStream::connect(tcp).await.unwrap();
        tcp_send(&mut s, &query(3, "web", TYPE_A, None)).await;
        assert_eq!(tcp_recv(&mut s).await.id, 3);
    }

    #[tokio::test]
    async fn stop_closes_the_sockets() {
        let d = dns(vec![]);
        let (udp, tcp) = server(&d, "c1");
        assert!(ask(udp, &query(1, "web", TYPE_A, None)).await.is_some());
        let mut open = TcpStream::connect(tcp).await.unwrap();
        d.stop("c1");
        sleep(Duration::from_millis(50)).await;
        let c = client(udp).await;
        c.send(&query(2, "web", TYPE_A, None)).await.unwrap();
        assert!(recv(&c, Duration::from_millis(500)).await.is_none());
        assert!(TcpStream::connect(tcp).await.is_err());
        let mut b = [0; 1];
        assert!(matches!(timeout(Duration::from_secs(1), open.read(&mut b)).await, Ok(Ok(0) | Err(_))), "open connection closed");
        // Serving again on new sockets works, and replacing does too.
        let (udp, _) = server(&d, "c1");
        let (udp2, _) = server(&d, "c1");
        assert!(ask(udp2, &query(3, "web", TYPE_A, None)).await.is_some());
        sleep(Duration::from_millis(50)).await;
        let c = client(udp).await;
        c.send(&query(4, "web", TYPE_A, None)).await.unwrap();
        assert!(recv(&c, Duration::from_millis(300)).await.is_none(), "replaced server still answers");
    }

    /// A query to 127.0.0.11:53 from inside the namespace at `ns`, as a container makes it.
    async fn ask_in(ns: &Path, q: Vec<u8>) -> io::Result<Reply> {
        let ns = ns.to_path_buf();
        let r = tokio::task::spawn_blocking(move || {
            crate::network::netns::run_in(&ns, move || {
                let c = std::net::UdpSocket::bind((LOCALHOST, 0))?;
                c.set_read_timeout(Some(Duration::from_secs(3)))?;
                c.connect((LISTEN, PORT))?;
                c.send(&q)?;
                let mut buf = vec![0; TCP_MAX];
                let n = c.recv(&mut buf)?;
                Ok(buf[..n].to_vec())
            })
        });
        Ok(decode(&r.await.unwrap()?))
    }

    /// serve itself: the sockets are in the container's namespace, not the
    /// host's. Needs root (to make a namespace); skipped without.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_inside_the_namespace() {
        let ns = std::env::temp_dir().join(format!("berth-dns-test-{}", std::process::id()));
        if let Err(e) = crate::network::netns::create(&ns) {
            eprintln!("skipped: cannot make a network namespace: {e}");
            return;
        }
        let d = dns(vec![]);
        let r = async {
            d.serve("c1", &ns)?;
            assert_eq!(ask_in(&ns, query(1, "web", TYPE_A, None)).await?.addrs(), [Ipv4Addr::new(10, 89, 0, 2)]);
            // Again for the same namespace: kept, not a second bind.
            d.serve("c1", &ns)?;
            assert_eq!(ask_in(&ns, query(2, "web", TYPE_A, None)).await?.id, 2);
            // Stopped and served again at once: the port is bound again once free.
            d.stop("c1");
            d.serve("c1", &ns)?;
            assert_eq!(ask_in(&ns, query(3, "web", TYPE_A, None)).await?.id, 3);
            d.stop("c1");
            sleep(Duration::from_millis(50)).await;
            assert!(ask_in(&ns, query(4, "web", TYPE_A, None)).await.is_err(), "stopped");
            Ok::<_, io::Error>(())
        }
        .await;
        crate::network::netns::remove(&ns).unwrap();
        r.unwrap();
    }

    #[test]
    fn serve_needs_a_runtime() {
        let udp = std::net::UdpSocket::bind((LOCALHOST, 0)).unwrap();
        let tcp = std::net::TcpListener::bind((LOCALHOST, 0)).unwrap();
        assert!(dns(vec![]).serve_on("c1", udp, tcp).is_err());
    }
}
