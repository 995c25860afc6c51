//! A zero-copy AMF0 reader (Adobe AMF0 specification, 2006). Strings borrow the message;
//! truncation is an error (never padding), property order is kept, and every type of the
//! specification is understood, including Date, long string, typed object and the switch to
//! AMF3 (AVM+), which ends AMF0 decoding with the AMF3 bytes kept raw.

use serde_json::{Map, Value};
use std::borrow::Cow;

/// Nesting beyond this is rejected (hostile input).
const MAX_DEPTH: usize = 32;

/// An AMF0 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0<'a> {
    /// 0x00: IEEE-754 double.
    Number(f64),
    /// 0x01.
    Boolean(bool),
    /// 0x02 (and 0x0C long string).
    String(Cow<'a, str>),
    /// 0x03 anonymous object, 0x08 ECMA array, 0x10 typed object: ordered properties.
    Object(Vec<(Cow<'a, str>, Amf0<'a>)>),
    /// 0x05.
    Null,
    /// 0x06.
    Undefined,
    /// 0x07: reference to an earlier complex object, by index.
    Reference(u16),
    /// 0x0A strict array.
    Array(Vec<Amf0<'a>>),
    /// 0x0B: milliseconds since the epoch and a time-zone offset.
    Date(f64),
    /// 0x0D unsupported.
    Unsupported,
    /// 0x0F XML document.
    Xml(Cow<'a, str>),
    /// 0x11: switch to AMF3; the rest of the message, undecoded.
    Avmplus(&'a [u8]),
}

/// Why decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmfError {
    /// Offset in the message.
    pub offset: usize,
    /// What was wrong.
    pub what: &'static str,
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, what: &'static str) -> AmfError {
        AmfError { offset: self.pos, what }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], AmfError> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.err("length overflow"))?;
        let s = self.b.get(self.pos..end).ok_or_else(|| self.err("truncated"))?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, AmfError> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    fn u16(&mut self) -> Result<u16, AmfError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s.first().copied().unwrap_or(0), s.get(1).copied().unwrap_or(0)]))
    }

    fn u32(&mut self) -> Result<u32, AmfError> {
        let s = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(s);
        Ok(u32::from_be_bytes(a))
    }

    fn f64(&mut self) -> Result<f64, AmfError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(f64::from_be_bytes(a))
    }

    fn utf8(&mut self, long: bool) -> Result<Cow<'a, str>, AmfError> {
        let n = if long { self.u32()? as usize } else { usize::from(self.u16()?) };
        Ok(String::from_utf8_lossy(self.take(n)?))
    }

    /// Object properties up to the empty-name end marker (0x00 0x00 0x09).
    fn properties(&mut self, depth: usize) -> Result<Vec<(Cow<'a, str>, Amf0<'a>)>, AmfError> {
        let mut props = Vec::new();
        loop {
            let key = self.utf8(false)?;
            if key.is_empty() && self.b.get(self.pos) == Some(&0x09) {
                self.pos += 1;
                return Ok(props);
            }
            let v = self.value(depth + 1)?;
            props.push((key, v));
        }
    }

    fn value(&mut self, depth: usize) -> Result<Amf0<'a>, AmfError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let marker = self.u8()?;
        Ok(match marker {
            0x00 => Amf0::Number(self.f64()?),
            0x01 => Amf0::Boolean(self.u8()? != 0),
            0x02 => Amf0::String(self.utf8(false)?),
            0x03 => Amf0::Object(self.properties(depth)?),
            0x05 => Amf0::Null,
            0x06 => Amf0::Undefined,
            0x07 => Amf0::Reference(self.u16()?),
            0x08 => {
                let _approx_count = self.u32()?;
                Amf0::Object(self.properties(depth)?)
            }
            0x0A => {
                let n = self.u32()? as usize;
                // Each element takes at least one byte: a count beyond the bytes left is a lie.
                if n > self.b.len().saturating_sub(self.pos) {
                    return Err(self.err("strict array longer than the message"));
                }
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.value(depth + 1)?);
                }
                Amf0::Array(v)
            }
            0x0B => {
                let ms = self.f64()?;
                let _tz = self.u16()?;
                Amf0::Date(ms)
            }
            0x0C => Amf0::String(self.utf8(true)?),
            0x0D => Amf0::Unsupported,
            0x0F => Amf0::Xml(self.utf8(true)?),
            0x10 => {
                let _class = self.utf8(false)?;
                Amf0::Object(self.properties(depth)?)
            }
            0x11 => {
                let rest = self.b.get(self.pos..).unwrap_or(&[]);
                self.pos = self.b.len();
                Amf0::Avmplus(rest)
            }
            0x04 | 0x09 | 0x0E => return Err(AmfError { offset: self.pos - 1, what: "reserved or misplaced marker" }),
            _ => return Err(AmfError { offset: self.pos - 1, what: "unknown marker" }),
        })
    }
}

/// Decodes every value of a message body. On an error, the values before it are returned
/// with the error.
pub fn decode_all(b: &[u8]) -> (Vec<Amf0<'_>>, Option<AmfError>) {
    let mut r = Reader { b, pos: 0 };
    let mut out = Vec::new();
    while r.pos < b.len() {
        match r.value(0) {
            Ok(v) => {
                let end = matches!(v, Amf0::Avmplus(_));
                out.push(v);
                if end {
                    break;
                }
            }
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

impl<'a> Amf0<'a> {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Amf0::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Amf0::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// A property of an object.
    pub fn get(&self, key: &str) -> Option<&Amf0<'a>> {
        match self {
            Amf0::Object(props) => props.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as JSON (objects keep their property order).
    pub fn to_json(&self) -> Value {
        match self {
            Amf0::Number(n) => serde_json::Number::from_f64(*n).map(Value::Number).unwrap_or(Value::Null),
            Amf0::Boolean(b) => Value::Bool(*b),
            Amf0::String(s) | Amf0::Xml(s) => Value::String(s.to_string()),
            Amf0::Object(props) => {
                let mut m = Map::new();
                for (k, v) in props {
                    m.insert(k.to_string(), v.to_json());
                }
                Value::Object(m)
            }
            Amf0::Null | Amf0::Undefined | Amf0::Unsupported => Value::Null,
            Amf0::Reference(i) => serde_json::json!({ "reference": i }),
            Amf0::Array(v) => Value::Array(v.iter().map(Amf0::to_json).collect()),
            Amf0::Date(ms) => serde_json::json!({ "date_ms": ms }),
            Amf0::Avmplus(b) => serde_json::json!({ "amf3_bytes": b.len() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(out: &mut Vec<u8>, v: &str) {
        out.push(0x02);
        out.extend_from_slice(&(v.len() as u16).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }

    fn key(out: &mut Vec<u8>, k: &str) {
        out.extend_from_slice(&(k.len() as u16).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
    }

    fn connect() -> Vec<u8> {
        let mut b = Vec::new();
        s(&mut b, "connect");
        b.push(0x00);
        b.extend_from_slice(&1.0f64.to_be_bytes());
        b.push(0x03);
        key(&mut b, "app");
        s(&mut b, "live");
        key(&mut b, "tcUrl");
        s(&mut b, "rtmp://127.0.0.1/live");
        b.extend_from_slice(&[0, 0, 9]);
        b
    }

    #[test]
    fn decodes_connect_in_order() {
        let b = connect();
        let (v, err) = decode_all(&b);
        assert!(err.is_none());
        assert_eq!(v[0].as_str(), Some("connect"));
        assert_eq!(v[1].as_f64(), Some(1.0));
        assert_eq!(v[2].get("app").and_then(Amf0::as_str), Some("live"));
        let Amf0::Object(props) = &v[2] else { panic!() };
        assert_eq!(props.iter().map(|(k, _)| k.as_ref()).collect::<Vec<_>>(), ["app", "tcUrl"]);
    }

    #[test]
    fn truncation_never_pads() {
        // rml_amf0 pads a cut string with NULs and calls it success; here a cut inside a
        // value is an error, and a cut between values yields exactly the values before it.
        let b = connect();
        let (full, _) = decode_all(&b);
        for cut in 1..b.len() {
            let (v, err) = decode_all(&b[..cut]);
            assert!(v.len() <= full.len());
            assert_eq!(v[..], full[..v.len()], "cut at {cut}");
            let boundary = [10usize, 19].contains(&cut);
            assert_eq!(err.is_none(), boundary, "cut at {cut}");
        }
    }

    #[test]
    fn date_long_string_and_amf3_switch() {
        let mut b = vec![0x0B];
        b.extend_from_slice(&1.5e12f64.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&[0x0C, 0, 0, 0, 2, b'h', b'i']);
        b.extend_from_slice(&[0x11, 0x06, 0x05, b'a', b'b']);
        let (v, err) = decode_all(&b);
        assert!(err.is_none());
        assert_eq!(v, vec![Amf0::Date(1.5e12), Amf0::String("hi".into()), Amf0::Avmplus(&[0x06, 0x05, b'a', b'b'])]);
    }

    #[test]
    fn hostile_nesting_and_counts_are_rejected() {
        let deep = [0x0A, 0, 0, 0, 1].repeat(100);
        assert!(decode_all(&deep).1.is_some());
        assert!(decode_all(&[0x0A, 0xff, 0xff, 0xff, 0xff]).1.is_some());
    }
}
