//! Framing shared by the text protocols built on RFC 822 style headers (RTSP, RFC 7826 §8;
//! SIP, RFC 3261 §7): a start line, header fields, an empty line, and a body of
//! Content-Length bytes.

/// Most bytes a start line plus headers may take.
pub const MAX_HEAD: usize = 64 * 1024;
/// Most body bytes accepted.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// A whole message, borrowing the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMessage<'a> {
    /// The start line.
    pub start: &'a str,
    /// Header fields in order (names as sent).
    pub headers: Vec<(&'a str, &'a str)>,
    /// The body.
    pub body: &'a [u8],
    /// Bytes the message took.
    pub len: usize,
}

impl<'a> TextMessage<'a> {
    /// The first header of this name (case-insensitive; `short` is SIP's compact form).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }
}

/// What [`parse`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole message.
    Message(TextMessage<'a>),
    /// More bytes needed: at least this many in all.
    Need(usize),
    /// Not a message (binary, or limits exceeded).
    Bad(&'static str),
}

/// Parses one message at the start of `d`.
pub fn parse(d: &[u8]) -> Parsed<'_> {
    let Some(end) = memchr::memmem::find(d, b"\r\n\r\n") else {
        return if d.len() > MAX_HEAD { Parsed::Bad("header section too long") } else { Parsed::Need(d.len() + 1) };
    };
    let Ok(head) = std::str::from_utf8(d.get(..end).unwrap_or(&[])) else {
        return Parsed::Bad("header section is not text");
    };
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or("");
    let mut headers = Vec::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim(), v.trim()));
        }
    }
    let clen = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length") || *k == "l")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    if clen > MAX_BODY {
        return Parsed::Bad("body too large");
    }
    let total = end + 4 + clen;
    match d.get(end + 4..total) {
        Some(body) => Parsed::Message(TextMessage { start, headers, body, len: total }),
        None => Parsed::Need(total),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_with_body_at_any_cut() {
        let m = b"ANNOUNCE rtsp://h/x RTSP/1.0\r\nCSeq: 3\r\nContent-Length: 4\r\n\r\nv=0\n";
        let Parsed::Message(msg) = parse(m) else { panic!() };
        assert_eq!(msg.header("cseq"), Some("3"));
        assert_eq!(msg.body, b"v=0\n");
        assert_eq!(msg.len, m.len());
        for cut in 0..m.len() {
            assert!(matches!(parse(&m[..cut]), Parsed::Need(_)), "{cut}");
        }
    }
}
