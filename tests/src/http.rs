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
        return Err(std::io::Error::other("chunked bodies are not supported by the test harness"));
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
    text.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    out.write_all(text.as_bytes())?;
    out.write_all(body)?;
    out.flush()
}

/// Writes a keep-alive response: `status`, `headers`, `body`.
pub fn write_response(out: &mut impl Write, status: u16, headers: &[(&str, String)], body: &[u8]) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(body)?;
    out.flush()
}
