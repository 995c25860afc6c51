//! QPACK (RFC 9204): the static table (Appendix A), prefixed integers and string literals
//! (§4.1, Huffman per RFC 7541 Appendix B), the dynamic table fed by the peer's encoder
//! stream (§3.2, §4.3: Set Dynamic Table Capacity, Insert with Name Reference, Insert with
//! Literal Name, Duplicate), and field section decoding (§4.5) with the Required Insert
//! Count (§4.5.1.1) and Base (§4.5.1.2). Every size is bounded.

use super::huffman;
use std::collections::VecDeque;

/// Longest name or value accepted.
pub const MAX_STRING: usize = 64 * 1024;
/// Most fields in one field section.
pub const MAX_FIELDS: usize = 512;
/// Largest dynamic table capacity honoured, whatever the settings say.
pub const MAX_TABLE_CAPACITY: u64 = 1 << 20;

/// RFC 9204 Appendix A: the static table.
pub const STATIC: [(&str, &str); 99] = [
    (":authority", ""),
    (":path", "/"),
    ("age", "0"),
    ("content-disposition", ""),
    ("content-length", "0"),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("referer", ""),
    ("set-cookie", ""),
    (":method", "CONNECT"),
    (":method", "DELETE"),
    (":method", "GET"),
    (":method", "HEAD"),
    (":method", "OPTIONS"),
    (":method", "POST"),
    (":method", "PUT"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "103"),
    (":status", "200"),
    (":status", "304"),
    (":status", "404"),
    (":status", "503"),
    ("accept", "*/*"),
    ("accept", "application/dns-message"),
    ("accept-encoding", "gzip, deflate, br"),
    ("accept-ranges", "bytes"),
    ("access-control-allow-headers", "cache-control"),
    ("access-control-allow-headers", "content-type"),
    ("access-control-allow-origin", "*"),
    ("cache-control", "max-age=0"),
    ("cache-control", "max-age=2592000"),
    ("cache-control", "max-age=604800"),
    ("cache-control", "no-cache"),
    ("cache-control", "no-store"),
    ("cache-control", "public, max-age=31536000"),
    ("content-encoding", "br"),
    ("content-encoding", "gzip"),
    ("content-type", "application/dns-message"),
    ("content-type", "application/javascript"),
    ("content-type", "application/json"),
    ("content-type", "application/x-www-form-urlencoded"),
    ("content-type", "image/gif"),
    ("content-type", "image/jpeg"),
    ("content-type", "image/png"),
    ("content-type", "text/css"),
    ("content-type", "text/html; charset=utf-8"),
    ("content-type", "text/plain"),
    ("content-type", "text/plain;charset=utf-8"),
    ("range", "bytes=0-"),
    ("strict-transport-security", "max-age=31536000"),
    ("strict-transport-security", "max-age=31536000; includesubdomains"),
    ("strict-transport-security", "max-age=31536000; includesubdomains; preload"),
    ("vary", "accept-encoding"),
    ("vary", "origin"),
    ("x-content-type-options", "nosniff"),
    ("x-xss-protection", "1; mode=block"),
    (":status", "100"),
    (":status", "204"),
    (":status", "206"),
    (":status", "302"),
    (":status", "400"),
    (":status", "403"),
    (":status", "421"),
    (":status", "425"),
    (":status", "500"),
    ("accept-language", ""),
    ("access-control-allow-credentials", "FALSE"),
    ("access-control-allow-credentials", "TRUE"),
    ("access-control-allow-headers", "*"),
    ("access-control-allow-methods", "get"),
    ("access-control-allow-methods", "get, post, options"),
    ("access-control-allow-methods", "options"),
    ("access-control-expose-headers", "content-length"),
    ("access-control-request-headers", "content-type"),
    ("access-control-request-method", "get"),
    ("access-control-request-method", "post"),
    ("alt-svc", "clear"),
    ("authorization", ""),
    ("content-security-policy", "script-src 'none'; object-src 'none'; base-uri 'none'"),
    ("early-data", "1"),
    ("expect-ct", ""),
    ("forwarded", ""),
    ("if-range", ""),
    ("origin", ""),
    ("purpose", "prefetch"),
    ("server", ""),
    ("timing-allow-origin", "*"),
    ("upgrade-insecure-requests", "1"),
    ("user-agent", ""),
    ("x-forwarded-for", ""),
    ("x-frame-options", "deny"),
    ("x-frame-options", "sameorigin"),
];

/// One header field: name and value bytes.
pub type Field = (Vec<u8>, Vec<u8>);

/// Why reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The input ends inside an instruction or representation.
    More,
    /// The input is invalid.
    Bad(&'static str),
}

/// Why a field section could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionError {
    /// It refers to dynamic table entries not inserted yet (§2.1.2): retry once the table
    /// holds this many inserts.
    Blocked(u64),
    /// It is invalid.
    Bad(&'static str),
}

/// RFC 7541 §5.1 (RFC 9204 §4.1.1): an integer with an `n`-bit prefix at `*p`.
pub fn int(b: &[u8], p: &mut usize, n: u32) -> Result<u64, Need> {
    let first = *b.get(*p).ok_or(Need::More)?;
    let max = (1u64 << n) - 1;
    let mut i = *p + 1;
    let mut v = u64::from(first) & max;
    if v == max {
        let mut shift = 0u32;
        loop {
            let byte = *b.get(i).ok_or(Need::More)?;
            i += 1;
            if shift > 56 {
                return Err(Need::Bad("integer too large"));
            }
            v = v.checked_add(u64::from(byte & 0x7f) << shift).ok_or(Need::Bad("integer too large"))?;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
    }
    *p = i;
    Ok(v)
}

/// RFC 9204 §4.1.2: a string literal whose length has an `n`-bit prefix and whose Huffman
/// flag is the bit just above it.
pub fn string(b: &[u8], p: &mut usize, n: u32) -> Result<Vec<u8>, Need> {
    let huffman = b.get(*p).ok_or(Need::More)? & (1u8 << n) != 0;
    let mut i = *p;
    let len = int(b, &mut i, n)?;
    if len > MAX_STRING as u64 {
        return Err(Need::Bad("string literal too long"));
    }
    let raw = b.get(i..i + len as usize).ok_or(Need::More)?;
    let s =
        if huffman { huffman::decode(raw, MAX_STRING).ok_or(Need::Bad("bad Huffman string"))? } else { raw.to_vec() };
    *p = i + len as usize;
    Ok(s)
}

fn static_entry(index: u64) -> Result<Field, Need> {
    let (n, v) = usize::try_from(index).ok().and_then(|i| STATIC.get(i)).ok_or(Need::Bad("no such static entry"))?;
    Ok((n.as_bytes().to_vec(), v.as_bytes().to_vec()))
}

/// The dynamic table of one direction (RFC 9204 §3.2): entries addressed by absolute index,
/// the oldest evicted first.
#[derive(Debug, Default)]
pub struct DynamicTable {
    entries: VecDeque<Field>,
    /// Absolute index of the oldest entry kept (= entries evicted so far).
    dropped: u64,
    size: u64,
    capacity: u64,
    /// SETTINGS_QPACK_MAX_TABLE_CAPACITY of the decoder (0 until its SETTINGS are seen).
    max_capacity: u64,
    /// Encoder stream bytes not yet forming a whole instruction.
    pending: Vec<u8>,
    /// The encoder stream was invalid: no more instructions are read.
    broken: Option<&'static str>,
    /// Instructions applied.
    pub instructions: u64,
}

/// §3.2.1: an entry's size.
fn entry_size(f: &Field) -> u64 {
    (f.0.len() + f.1.len() + 32) as u64
}

impl DynamicTable {
    /// Total inserts so far (§3.2.4's Insert Count).
    pub fn insert_count(&self) -> u64 {
        self.dropped + self.entries.len() as u64
    }

    /// The decoder's SETTINGS_QPACK_MAX_TABLE_CAPACITY (bounded by [`MAX_TABLE_CAPACITY`]).
    pub fn set_max_capacity(&mut self, max: u64) {
        self.max_capacity = max.min(MAX_TABLE_CAPACITY);
    }

    /// Why the encoder stream stopped being read, if it did.
    pub fn broken(&self) -> Option<&'static str> {
        self.broken
    }

    /// The entry at an absolute index.
    pub fn get(&self, absolute: u64) -> Option<&Field> {
        let i = absolute.checked_sub(self.dropped)?;
        self.entries.get(usize::try_from(i).ok()?)
    }

    fn evict_to(&mut self, room: u64) {
        while self.size > room {
            let Some(old) = self.entries.pop_front() else { break };
            self.size -= entry_size(&old);
            self.dropped += 1;
        }
    }

    /// §3.2.2 / §4.3.2–4.3.4: adds an entry, evicting as needed.
    fn insert(&mut self, f: Field) -> Result<(), Need> {
        let size = entry_size(&f);
        if size > self.capacity {
            return Err(Need::Bad("entry larger than the table capacity"));
        }
        self.evict_to(self.capacity - size);
        self.size += size;
        self.entries.push_back(f);
        Ok(())
    }

    /// An entry by an index relative to the insert count (encoder instructions, §3.2.5).
    fn relative(&self, index: u64) -> Result<Field, Need> {
        let abs =
            self.insert_count().checked_sub(index.saturating_add(1)).ok_or(Need::Bad("relative index out of range"))?;
        self.get(abs).cloned().ok_or(Need::Bad("entry already evicted"))
    }

    /// One encoder instruction at `*p` (§4.3).
    fn instruction(&mut self, b: &[u8], p: &mut usize) -> Result<(), Need> {
        let first = *b.get(*p).ok_or(Need::More)?;
        if first & 0x80 != 0 {
            // §4.3.2 Insert with Name Reference: 1 T index(6), value.
            let index = int(b, p, 6)?;
            let value = string(b, p, 7)?;
            let (name, _) = if first & 0x40 != 0 { static_entry(index)? } else { self.relative(index)? };
            self.insert((name, value))
        } else if first & 0x40 != 0 {
            // §4.3.3 Insert with Literal Name: 01 H name-length(5), name, value.
            let name = string(b, p, 5)?;
            let value = string(b, p, 7)?;
            self.insert((name, value))
        } else if first & 0x20 != 0 {
            // §4.3.1 Set Dynamic Table Capacity: 001 capacity(5).
            let cap = int(b, p, 5)?;
            if cap > self.max_capacity {
                return Err(Need::Bad("capacity above the decoder's maximum"));
            }
            self.capacity = cap;
            self.evict_to(cap);
            Ok(())
        } else {
            // §4.3.4 Duplicate: 000 index(5).
            let index = int(b, p, 5)?;
            let f = self.relative(index)?;
            self.insert(f)
        }
    }

    /// Feeds encoder stream bytes (after the stream type); applies every complete
    /// instruction. Returns false once the stream is found invalid.
    pub fn feed_encoder_stream(&mut self, data: &[u8]) -> bool {
        if self.broken.is_some() {
            return false;
        }
        self.pending.extend_from_slice(data);
        let buf = std::mem::take(&mut self.pending);
        let mut p = 0usize;
        loop {
            if p >= buf.len() {
                break;
            }
            let mut q = p;
            match self.instruction(&buf, &mut q) {
                Ok(()) => {
                    self.instructions += 1;
                    p = q;
                }
                Err(Need::More) => break,
                Err(Need::Bad(why)) => {
                    self.broken = Some(why);
                    return false;
                }
            }
        }
        self.pending = buf.get(p..).unwrap_or(&[]).to_vec();
        if self.pending.len() > 2 * MAX_STRING + 64 {
            self.broken = Some("encoder instruction too long");
            self.pending = Vec::new();
            return false;
        }
        true
    }

    /// RFC 9204 §4.5: decodes an encoded field section against this table.
    pub fn decode_section(&self, block: &[u8]) -> Result<Vec<Field>, SectionError> {
        let bad = |n: Need| match n {
            Need::More => SectionError::Bad("field section cut short"),
            Need::Bad(w) => SectionError::Bad(w),
        };
        let mut p = 0usize;
        // §4.5.1.1: Required Insert Count.
        let encoded = int(block, &mut p, 8).map_err(bad)?;
        let max_entries = self.max_capacity / 32;
        let ric = if encoded == 0 {
            0
        } else {
            let full = 2 * max_entries;
            if encoded > full {
                return Err(SectionError::Bad("required insert count out of range"));
            }
            let max_value = self.insert_count() + max_entries;
            let max_wrapped = (max_value / full) * full;
            let mut ric = max_wrapped + encoded - 1;
            if ric > max_value {
                if ric <= full {
                    return Err(SectionError::Bad("required insert count out of range"));
                }
                ric -= full;
            }
            if ric == 0 {
                return Err(SectionError::Bad("required insert count zero"));
            }
            ric
        };
        if ric > self.insert_count() {
            return Err(SectionError::Blocked(ric));
        }
        // §4.5.1.2: Base, from the sign bit and Delta Base.
        let sign = block.get(p).ok_or(SectionError::Bad("field section cut short"))? & 0x80 != 0;
        let delta = int(block, &mut p, 7).map_err(bad)?;
        let base = if sign {
            ric.checked_sub(delta.saturating_add(1)).ok_or(SectionError::Bad("negative base"))?
        } else {
            ric.checked_add(delta).ok_or(SectionError::Bad("base too large"))?
        };
        let dynamic = |abs: Option<u64>| -> Result<Field, SectionError> {
            let abs = abs.filter(|a| *a < ric).ok_or(SectionError::Bad("dynamic reference beyond the insert count"))?;
            self.get(abs).cloned().ok_or(SectionError::Bad("dynamic entry evicted"))
        };
        let mut out = Vec::new();
        while p < block.len() {
            if out.len() >= MAX_FIELDS {
                return Err(SectionError::Bad("too many fields"));
            }
            let first = *block.get(p).ok_or(SectionError::Bad("field section cut short"))?;
            let field = if first & 0x80 != 0 {
                // §4.5.2 Indexed Field Line: 1 T index(6).
                let index = int(block, &mut p, 6).map_err(bad)?;
                if first & 0x40 != 0 {
                    static_entry(index).map_err(bad)?
                } else {
                    dynamic(base.checked_sub(index.saturating_add(1)))?
                }
            } else if first & 0x40 != 0 {
                // §4.5.4 Literal Field Line with Name Reference: 01 N T index(4), value.
                let index = int(block, &mut p, 4).map_err(bad)?;
                let (name, _) = if first & 0x10 != 0 {
                    static_entry(index).map_err(bad)?
                } else {
                    dynamic(base.checked_sub(index.saturating_add(1)))?
                };
                (name, string(block, &mut p, 7).map_err(bad)?)
            } else if first & 0x20 != 0 {
                // §4.5.6 Literal Field Line with Literal Name: 001 N H length(3), name, value.
                let name = string(block, &mut p, 3).map_err(bad)?;
                (name, string(block, &mut p, 7).map_err(bad)?)
            } else if first & 0x10 != 0 {
                // §4.5.3 Indexed Field Line with Post-Base Index: 0001 index(4).
                let index = int(block, &mut p, 4).map_err(bad)?;
                dynamic(base.checked_add(index))?
            } else {
                // §4.5.5 Literal Field Line with Post-Base Name Reference: 0000 N index(3).
                let index = int(block, &mut p, 3).map_err(bad)?;
                let (name, _) = dynamic(base.checked_add(index))?;
                (name, string(block, &mut p, 7).map_err(bad)?)
            };
            out.push(field);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(fields: &[Field]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    #[test]
    fn static_table_spot_checks() {
        assert_eq!(STATIC[0], (":authority", ""));
        assert_eq!(STATIC[17], (":method", "GET"));
        assert_eq!(STATIC[25], (":status", "200"));
        assert_eq!(STATIC[31], ("accept-encoding", "gzip, deflate, br"));
        assert_eq!(STATIC[63], (":status", "100"));
        assert_eq!(STATIC[98], ("x-frame-options", "sameorigin"));
    }

    #[test]
    fn prefixed_integers() {
        // RFC 7541 C.1: 10 in a 5-bit prefix, 1337 in a 5-bit prefix, 42 in 8 bits.
        let mut p = 0;
        assert_eq!(int(&[0x0a], &mut p, 5), Ok(10));
        p = 0;
        assert_eq!(int(&[0x1f, 0x9a, 0x0a], &mut p, 5), Ok(1337));
        assert_eq!(p, 3);
        p = 0;
        assert_eq!(int(&[0x2a], &mut p, 8), Ok(42));
        p = 0;
        assert_eq!(int(&[0x1f, 0x9a], &mut p, 5), Err(Need::More));
        p = 0;
        assert!(int(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], &mut p, 5).is_err());
    }

    #[test]
    fn static_only_section_from_the_sample() {
        // aioquic's (pylsqpack's) first request of the sample capture.
        let block = hex::decode(
            "0000d1d7508f426c28e9410f595749509b8d34cb3f518b627a10c1aa90be57a59b5e5f5092426c28e9410f595640e9ae82ac331fb5a627dd",
        )
        .unwrap();
        let t = DynamicTable::default();
        let f = text(&t.decode_section(&block).unwrap());
        assert_eq!(f[0], (":method".into(), "GET".into()));
        assert_eq!(f[1], (":scheme".into(), "https".into()));
        assert_eq!(f[2], (":authority".into(), "streamscope.test:4433".into()));
        assert_eq!(f[3], (":path".into(), "/hls/index.m3u8".into()));
        assert_eq!(f[4].0, "user-agent");
        assert_eq!(f[5], ("accept".into(), "*/*".into()));
    }

    /// RFC 9204 Appendix B.2: a dynamic table insert, a blocked section, then its decoding.
    #[test]
    fn rfc9204_b2_dynamic_table() {
        let mut t = DynamicTable::default();
        t.set_max_capacity(220);
        // Encoder stream: Set Dynamic Table Capacity 220, Insert With Name Reference
        // static 0 ":authority" = "www.example.com", static 1 ":path" = "/sample/path".
        let enc = hex::decode("3fbd01c00f7777772e6578616d706c652e636f6dc10c2f73616d706c652f70617468").unwrap();
        let block = hex::decode("03811011").unwrap();
        assert_eq!(t.decode_section(&block), Err(SectionError::Blocked(2)));
        assert!(t.feed_encoder_stream(&enc[..7]));
        assert!(t.feed_encoder_stream(&enc[7..]));
        assert_eq!(t.insert_count(), 2);
        let f = text(&t.decode_section(&block).unwrap());
        assert_eq!(f, vec![(":authority".into(), "www.example.com".into()), (":path".into(), "/sample/path".into())]);
        // B.3: Insert With Literal Name "custom-key" = "custom-value", Duplicate of relative 2
        // (":authority"); then a section using the post-base and relative forms.
        assert!(t.feed_encoder_stream(&hex::decode("4a637573746f6d2d6b65790c637573746f6d2d76616c7565").unwrap()));
        assert!(t.feed_encoder_stream(&hex::decode("02").unwrap()));
        assert_eq!(t.insert_count(), 4);
        let f = text(&t.decode_section(&hex::decode("050080c181").unwrap()).unwrap());
        assert_eq!(
            f,
            vec![
                (":authority".into(), "www.example.com".into()),
                (":path".into(), "/".into()),
                ("custom-key".into(), "custom-value".into()),
            ]
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut t = DynamicTable::default();
        t.set_max_capacity(100);
        // Duplicate with an empty table.
        assert!(!t.feed_encoder_stream(&[0x00]));
        assert!(t.broken().is_some());
        let t = DynamicTable::default();
        assert!(t.decode_section(&[0x00, 0x00, 0xff]).is_err());
        assert!(t.decode_section(&[0x00, 0x00, 0x80]).is_err(), "dynamic reference with an empty table");
        assert!(t.decode_section(&[0x05]).is_err(), "insert count with no table");
    }
}
