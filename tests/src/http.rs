//! The HTTP/1.1 the harness's own servers and proxy speak: a message head and its
//! `Content-Length` body (what the SDK, hyper and the Lambda runtime send), no chunked bodies.

use std::io::{BufRead, Write};

/// One message: the start line, then `name: value` header lines, as received.
#[derive(Debug, Clone)]
pub struct Message {
    pub head: Vec<String>,
    pub body: Vec<u8>,
}

impl Message {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.head, name)
    }

    /// `GET` of a request line.
    pub fn method(&self) -> &str {
        self.head[0].split_whitespace().next().unwrap_or_default()
    }

    /// `/path?query` of a request line.
    pub fn path(&self) -> &str {
        self.head[0].split_whitespace().nth(1).unwrap_or_default()
    }
}

/// The value of header `name` among head lines (the first line, the start line, is skipped).
pub fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Reads a message head (through the blank line) and its `Content-Length` body; `None` at a clean
/// end of stream (a keep-alive connection the peer closed).
pub fn read_message(reader: &mut impl BufRead) -> std::io::Result<Option<Message>> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    if header(&head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return Err(std::io::Error::other(
            "chunked bodies are not supported by the test harness",
        ));
    }
    let mut body = Vec::new();
    match header(&head, "content-length") {
        Some(n) => {
            let n: usize = n.parse().map_err(std::io::Error::other)?;
            body.resize(n, 0);
            reader.read_exact(&mut body)?;
        }
        // A response without length ends at EOF; a request without length has no body.
        None if !head[0].starts_with("HTTP/") => {}
        None => {
            reader.read_to_end(&mut body)?;
        }
    }
    Ok(Some(Message { head, body }))
}

/// Writes `head` (its own `Content-Length` and `Connection` lines replaced) and `body`, then
/// `Connection: close`: one message per connection.
pub fn write_message(out: &mut impl Write, head: &[String], body: &[u8]) -> std::io::Result<()> {
    let mut text = String::new();
    text.push_str(&head[0]);
    text.push_str("\r\n");
    for line in &head[1..] {
        let name = line.split(':').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("connection") {
            continue;
        }
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    out.write_all(text.as_bytes())?;
    out.write_all(body)?;
    out.flush()
}

/// Writes a keep-alive response: `status`, `headers`, `body`.
pub fn write_response(
    out: &mut impl Write,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(body)?;
    out.flush()
}

/// What a local server answers one request with: status, headers, body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: body.into(),
        }
    }

    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

type Handler = dyn Fn(&Message) -> Reply + Send + Sync;

/// A SaaS stand-in's HTTP/1.1 server on 127.0.0.1: a thread per connection, each request
/// answered by the handler (which may sleep, to be slow). [`Server::set_down`] closes the port,
/// so that connections are refused, until it is opened again on the same port. Stops on drop.
pub struct Server {
    port: u16,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stopped: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Server {
    pub fn start(handler: impl Fn(&Message) -> Reply + Send + Sync + 'static) -> Server {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind a local server");
        let port = listener.local_addr().unwrap().port();
        let (down, stopped) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let handler: Arc<Handler> = Arc::new(handler);
        let (d, s) = (down.clone(), stopped.clone());
        std::thread::spawn(move || {
            let mut listener = Some(listener);
            while !s.load(Ordering::SeqCst) {
                if d.load(Ordering::SeqCst) {
                    listener = None;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    continue;
                }
                let l = listener.get_or_insert_with(|| {
                    std::net::TcpListener::bind(("127.0.0.1", port))
                        .expect("bind the same port again")
                });
                l.set_nonblocking(true).expect("non-blocking accept");
                match l.accept() {
                    Ok((stream, _)) => {
                        let (handler, down) = (handler.clone(), d.clone());
                        std::thread::spawn(move || serve(stream, &*handler, &down));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        Server {
            port,
            down,
            stopped,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `true`: refuse connections (the port is closed); `false`: answer again.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
        // Let the accept loop close or reopen the port before the caller goes on.
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Answers a connection's requests; a kept-alive connection is closed unanswered once the
/// server is down (as a crashed server's would be).
fn serve(stream: std::net::TcpStream, handler: &Handler, down: &std::sync::atomic::AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = std::io::BufReader::new(stream);
    while let Ok(Some(request)) = read_message(&mut reader) {
        if down.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let reply = handler(&request);
        if write_response(&mut writer, reply.status, &reply.headers, &reply.body).is_err() {
            return;
        }
    }
}
