//! A forward HTTP proxy of the tests' own, on 127.0.0.1, configured as squid is by default:
//! `CONNECT` only to the allowed ports (443 unless told otherwise), plain `http://` only in
//! absolute form (`GET http://host:port/path HTTP/1.1`, RFC 9112 §3.2.2). It records every
//! request it reads ([`ProxyRequest`]) and reaches only 127.0.0.1 and `localhost`.
//!
//! One request per client connection: a forwarded request goes to the origin with
//! `Connection: close`, its answer comes back with `Connection: close`, and both connections
//! end after it. A `CONNECT` that is allowed becomes a tunnel (bytes copied both ways).

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::hostile::{lock, read_request};

/// One request the proxy read.
#[derive(Clone, Debug)]
pub struct ProxyRequest {
    /// `GET`, `CONNECT`, ….
    pub method: String,
    /// The request target as sent: an absolute URI, `host:port` for `CONNECT`, or a path.
    pub target: String,
    /// The `Proxy-Authorization` header, if any.
    pub proxy_authorization: Option<String>,
    /// What the proxy did: `forwarded`, `tunnelled`, or the status it refused with.
    pub outcome: String,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<ProxyRequest>>,
    stop: AtomicBool,
}

/// The proxy; stops when dropped.
pub struct ForwardProxy {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl ForwardProxy {
    /// Starts a proxy allowing `CONNECT` to `connect_ports` only.
    pub fn start(connect_ports: &[u16]) -> ForwardProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy on 127.0.0.1");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared::default());
        let allowed = connect_ports.to_vec();
        let acceptor = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (shared, allowed) = (shared.clone(), allowed.clone());
                    std::thread::spawn(move || serve(stream, &shared, &allowed));
                }
            })
        };
        ForwardProxy { port, shared, acceptor: Some(acceptor) }
    }

    /// The proxy's URL, `http://127.0.0.1:PORT`, with `user:password@` when given.
    pub fn url(&self, credentials: Option<(&str, &str)>) -> String {
        match credentials {
            Some((user, password)) => format!("http://{user}:{password}@127.0.0.1:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// The requests read so far, in order.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        lock(&self.shared.requests).clone()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which then sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Serves one client connection: one request. The request is recorded as soon as the
/// proxy knows what it does with it (a tunnel or a forwarded answer may last).
fn serve(client: TcpStream, shared: &Shared, allowed: &[u16]) {
    let Ok(read_half) = client.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let Some(req) = read_request(&mut reader, 0) else { return };
    let record = |outcome: &str| {
        lock(&shared.requests).push(ProxyRequest {
            method: req.method.clone(),
            target: req.target.clone(),
            proxy_authorization: req.header("proxy-authorization").map(str::to_string),
            outcome: outcome.to_string(),
        })
    };
    let origin_port = if req.method == "CONNECT" {
        loopback_port(&req.target).filter(|p| allowed.contains(p)).ok_or(403)
    } else {
        // Absolute form to this machine's loopback only.
        req.target
            .strip_prefix("http://")
            .and_then(|rest| rest.split_once('/'))
            .and_then(|(a, _)| loopback_port(a))
            .ok_or(400)
    };
    let origin = origin_port.and_then(|port| TcpStream::connect(("127.0.0.1", port)).map_err(|_| 502));
    match origin {
        Err(status) => {
            record(&status.to_string());
            let _ = write!(
                &client,
                "HTTP/1.1 {status} Refused by the test proxy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
        Ok(origin) if req.method == "CONNECT" => {
            record("tunnelled");
            if (&client).write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").is_ok() {
                tunnel(reader, &client, origin);
            }
        }
        Ok(origin) => {
            record("forwarded");
            let path = req.target.strip_prefix("http://").and_then(|rest| rest.split_once('/')).map_or("", |(_, p)| p);
            // A failure here ends the client's connection early, as the origin's did.
            let _ = relay(&forwarded_head(&req.method, path, &req.headers), origin, &client);
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// The port of `host:port` when the host is 127.0.0.1 or `localhost` (80 when absent).
fn loopback_port(authority: &str) -> Option<u16> {
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "80"));
    matches!(host, "127.0.0.1" | "localhost").then(|| port.parse().ok()).flatten()
}

/// The request for the origin: origin-form target, the client's headers without the proxy's
/// own and without `Connection`, then `Connection: close`.
fn forwarded_head(method: &str, path: &str, headers: &[(String, String)]) -> String {
    let mut head = format!("{method} /{path} HTTP/1.1\r\n");
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if !matches!(lower.as_str(), "proxy-authorization" | "proxy-connection" | "connection") {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    head
}

/// Sends `head` to `origin` and copies its answer to `out`, with its `Connection` header
/// replaced by `Connection: close`, until the origin closes.
fn relay(head: &str, mut origin: TcpStream, mut out: &TcpStream) -> std::io::Result<()> {
    origin.write_all(head.as_bytes())?;
    let mut answer = BufReader::new(origin);
    let mut line = String::new();
    loop {
        line.clear();
        if answer.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            break;
        }
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.write_all(line.as_bytes())?;
        }
    }
    out.write_all(b"Connection: close\r\n\r\n")?;
    std::io::copy(&mut answer, &mut out)?;
    Ok(())
}

/// Copies bytes both ways between the client (what `reader` holds first) and the origin until
/// either side closes.
fn tunnel(mut reader: BufReader<TcpStream>, client: &TcpStream, origin: TcpStream) {
    let (Ok(mut origin_in), Ok(mut client_out)) = (origin.try_clone(), client.try_clone()) else { return };
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut origin_in, &mut client_out);
        let _ = client_out.shutdown(Shutdown::Both);
    });
    let _ = std::io::copy(&mut reader, &mut &origin);
    let _ = origin.shutdown(Shutdown::Both);
    let _ = back.join();
}
