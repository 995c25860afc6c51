//! DTLS record headers, every kind that can share a datagram (RFC 9147 §4.1 demultiplexing by
//! the first byte):
//! - DTLS 1.0/1.2 records and DTLS 1.3 DTLSPlaintext (RFC 6347 §4.1, RFC 9147 §4): content
//!   type 20–26, version, 16-bit epoch, 48-bit sequence number, 16-bit length;
//! - DTLS 1.2 records with a connection ID (RFC 9146 §4, content type `tls12_cid` = 25): the
//!   CID between the sequence number and the length;
//! - DTLS 1.3 DTLSCiphertext with the unified header (RFC 9147 §4): a first byte `001CSLEE`
//!   (C: a connection ID follows; S: the sequence number has 16 bits, else 8; L: a 16-bit
//!   length follows, else the record runs to the end of the datagram; EE: the epoch's low two
//!   bits), then the CID, the sequence number (encrypted, §4.2.3) and the length.
//!
//! The CID length is not on the wire: it is what the receiver asked for in its hello's
//! connection_id extension. When it is not known, [`records`] takes the shortest length with
//! which the record ends exactly where the datagram or the next record begins.

use crate::dissect::be16;

/// The longest CID tried when its length is unknown (RFC 9146 allows 255; real stacks use a
/// few bytes to ~20).
const MAX_GUESSED_CID: usize = 32;

/// RFC 9146 §4: the content type of DTLS 1.2 records carrying a connection ID.
pub const TLS12_CID: u8 = 25;

/// How a record's header was laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The 13-byte header of DTLS 1.0/1.2 and of DTLS 1.3 DTLSPlaintext.
    Classic,
    /// DTLS 1.2 with a connection ID (content type 25).
    Cid12,
    /// DTLS 1.3 DTLSCiphertext with the unified header.
    Unified,
}

/// One record of a datagram, borrowing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Header layout.
    pub layout: Layout,
    /// The content type on the wire (for [`Layout::Unified`], the header's first byte: the
    /// real type is inside the encryption).
    pub content_type: u8,
    /// The record-layer version (none in the unified header).
    pub version: Option<u16>,
    /// The epoch (unified header: its low two bits only).
    pub epoch: u16,
    /// The sequence number (unified header: its low 8 or 16 bits, as on the wire, which
    /// sequence-number protection has encrypted).
    pub seq: u64,
    /// Bits of `seq` on the wire: 48, 16 or 8.
    pub seq_bits: u8,
    /// The connection ID (empty without one).
    pub cid: &'a [u8],
    /// Whether the CID length was taken from the negotiation (false: guessed, or none).
    pub cid_known: bool,
    /// The header bytes (the AAD of the unified header, RFC 9147 §4).
    pub header: &'a [u8],
    /// The record's body (fragment or ciphertext).
    pub body: &'a [u8],
}

impl Record<'_> {
    /// The header and body length on the wire.
    pub fn wire_len(&self) -> usize {
        self.header.len() + self.body.len()
    }
}

/// Whether a first byte starts a DTLS record: 20–26 a classic header, 32–63 the unified one.
pub fn is_record_start(b: u8) -> bool {
    (20..=26).contains(&b) || (0x20..=0x3F).contains(&b)
}

/// The records of one datagram. `cid_len` is the negotiated CID length for records in this
/// direction, when known. Parsing stops at the first record that does not fit: `rest` is then
/// what was left unread.
pub fn records(d: &[u8], cid_len: Option<usize>) -> Records<'_> {
    Records { d, off: 0, cid_len }
}

/// Iterator over the records of a datagram (see [`records`]).
#[derive(Debug, Clone)]
pub struct Records<'a> {
    d: &'a [u8],
    off: usize,
    cid_len: Option<usize>,
}

impl<'a> Records<'a> {
    /// The bytes not parsed as records (empty when the datagram was all records).
    pub fn rest(&self) -> &'a [u8] {
        self.d.get(self.off..).unwrap_or(&[])
    }

    /// Changes the CID length for the records that follow (a hello earlier in the datagram
    /// negotiated it).
    pub fn set_cid_len(&mut self, cid_len: Option<usize>) {
        self.cid_len = cid_len;
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        let d = self.d.get(self.off..)?;
        let rec = match *d.first()? {
            TLS12_CID => cid12(d, self.cid_len)?,
            20..=26 => classic(d)?,
            0x20..=0x3F => unified(d, self.cid_len)?,
            _ => return None,
        };
        self.off += rec.wire_len();
        Some(rec)
    }
}

/// RFC 6347 §4.1: type, version, epoch, sequence_number (48 bits), length, fragment.
fn classic(d: &[u8]) -> Option<Record<'_>> {
    let (ct, version, epoch, len) = (*d.first()?, be16(d, 1)?, be16(d, 3)?, usize::from(be16(d, 11)?));
    let seq = be48(d, 5)?;
    Some(Record {
        layout: Layout::Classic,
        content_type: ct,
        version: Some(version),
        epoch,
        seq,
        seq_bits: 48,
        cid: &[],
        cid_known: true,
        header: d.get(..13)?,
        body: d.get(13..13 + len)?,
    })
}

/// RFC 9146 §4: type (25), version, epoch, sequence_number, cid, length, encrypted_record.
fn cid12(d: &[u8], cid_len: Option<usize>) -> Option<Record<'_>> {
    let build = |n: usize| -> Option<Record<'_>> {
        let len = usize::from(be16(d, 11 + n)?);
        Some(Record {
            layout: Layout::Cid12,
            content_type: TLS12_CID,
            version: Some(be16(d, 1)?),
            epoch: be16(d, 3)?,
            seq: be48(d, 5)?,
            seq_bits: 48,
            cid: d.get(11..11 + n)?,
            cid_known: cid_len.is_some(),
            header: d.get(..13 + n)?,
            body: d.get(13 + n..13 + n + len)?,
        })
    };
    match cid_len {
        Some(n) => build(n),
        None => (0..=MAX_GUESSED_CID).filter_map(build).find(|r| ends_well(d, r.wire_len())),
    }
}

/// RFC 9147 §4: the unified header `001CSLEE`, connection_id, sequence number (8 or 16 bits),
/// length (if L), encrypted_record.
fn unified(d: &[u8], cid_len: Option<usize>) -> Option<Record<'_>> {
    let first = *d.first()?;
    let (c, s, l) = (first & 0x10 != 0, first & 0x08 != 0, first & 0x04 != 0);
    let seq_len = if s { 2 } else { 1 };
    let build = |n: usize| -> Option<Record<'_>> {
        let at = 1 + n;
        let seq = if s { u64::from(be16(d, at)?) } else { u64::from(*d.get(at)?) };
        let hdr = at + seq_len + if l { 2 } else { 0 };
        let len = if l { usize::from(be16(d, at + seq_len)?) } else { d.len().checked_sub(hdr)? };
        Some(Record {
            layout: Layout::Unified,
            content_type: first,
            version: None,
            epoch: u16::from(first & 0x03),
            seq,
            seq_bits: if s { 16 } else { 8 },
            cid: d.get(1..1 + n)?,
            cid_known: !c || cid_len.is_some(),
            header: d.get(..hdr)?,
            body: d.get(hdr..hdr + len)?,
        })
    };
    match (c, cid_len) {
        (false, _) => build(0),
        (true, Some(n)) => build(n),
        // Without a length field every guess fits: take no CID rather than invent one.
        (true, None) if !l => build(0),
        (true, None) => (0..=MAX_GUESSED_CID).filter_map(build).find(|r| ends_well(d, r.wire_len())),
    }
}

/// Whether a record of `len` bytes at the start of `d` ends the datagram or is followed by
/// something that starts another record.
fn ends_well(d: &[u8], len: usize) -> bool {
    match d.get(len..) {
        Some([]) => true,
        Some([b, ..]) => is_record_start(*b),
        None => false,
    }
}

/// A 48-bit big-endian number.
fn be48(b: &[u8], at: usize) -> Option<u64> {
    let hi = u64::from(be16(b, at)?);
    let lo = u64::from(crate::dissect::be32(b, at + 2)?);
    Some(hi << 32 | lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classic_rec(ct: u8, epoch: u16, seq: u64, body: &[u8]) -> Vec<u8> {
        let mut r = vec![ct, 0xfe, 0xfd];
        r.extend_from_slice(&epoch.to_be_bytes());
        r.extend_from_slice(&seq.to_be_bytes()[2..]);
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn classic_records_in_one_datagram() {
        let mut d = classic_rec(22, 0, 7, &[1, 2, 3]);
        d.extend(classic_rec(23, 1, 0x0102_0304_0506, &[9; 40]));
        let v: Vec<Record<'_>> = records(&d, None).collect();
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].content_type, v[0].epoch, v[0].seq, v[0].body), (22, 0, 7, &[1u8, 2, 3][..]));
        assert_eq!((v[1].layout, v[1].epoch, v[1].seq, v[1].body.len()), (Layout::Classic, 1, 0x0102_0304_0506, 40));
        assert_eq!(v[1].version, Some(0xfefd));
        // Cut anywhere: whole records only, never a panic.
        for cut in 0..d.len() {
            let n = records(&d[..cut], None).count();
            assert!(n <= 2);
        }
    }

    #[test]
    fn unified_header_rfc9147() {
        // zeek-dtls13-cid frame 8: 0x3e = 001 1 1 1 10: CID, 16-bit sequence, length, epoch 2;
        // the 17-byte CID "I am a client CID", sequence 0x18fd, length 31.
        let mut d = vec![0x3e];
        d.extend_from_slice(b"I am a client CID");
        d.extend_from_slice(&[0x18, 0xfd, 0x00, 0x1f]);
        d.extend_from_slice(&[0xAA; 31]);
        for known in [Some(17), None] {
            let v: Vec<Record<'_>> = records(&d, known).collect();
            assert_eq!(v.len(), 1, "{known:?}");
            let r = v[0];
            assert_eq!((r.layout, r.epoch, r.seq, r.seq_bits), (Layout::Unified, 2, 0x18fd, 16));
            assert_eq!((r.cid, r.body.len(), r.header.len()), (&b"I am a client CID"[..], 31, 22));
            assert_eq!(r.cid_known, known.is_some());
        }
        // 0x2f: no CID, 16-bit sequence, length, epoch 3; two records back to back.
        let mut two = vec![0x2f, 0x9d, 0x4a, 0x00, 0x03, 1, 2, 3];
        two.extend_from_slice(&[0x23, 0x05, 0xAB, 4, 5]);
        let v: Vec<Record<'_>> = records(&two, None).collect();
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].epoch, v[0].seq, v[0].body), (3, 0x9d4a, &[1u8, 2, 3][..]));
        // 0x23: 8-bit sequence, no length: the rest of the datagram.
        assert_eq!((v[1].epoch, v[1].seq, v[1].seq_bits, v[1].body), (3, 5, 8, &[0xABu8, 4, 5][..]));
        for cut in 0..d.len() {
            let _ = records(&d[..cut], None).count();
            let _ = records(&d[..cut], Some(17)).count();
            let _ = records(&d[..cut], Some(200)).count();
        }
    }

    #[test]
    fn dtls12_connection_id_rfc9146() {
        let mut d = vec![TLS12_CID, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9];
        d.extend_from_slice(&[0xC1, 0xC2, 0xC3, 0xC4]);
        d.extend_from_slice(&[0, 5, 1, 2, 3, 4, 5]);
        for known in [Some(4), None] {
            let r = records(&d, known).next().unwrap();
            assert_eq!(
                (r.layout, r.epoch, r.seq, r.cid, r.body.len()),
                (Layout::Cid12, 1, 9, &[0xC1u8, 0xC2, 0xC3, 0xC4][..], 5)
            );
        }
        assert!(records(&d, Some(3)).next().is_none(), "a wrong CID length does not fit");
        assert!(!is_record_start(0x40) && !is_record_start(19) && is_record_start(0x3F) && is_record_start(26));
    }
}
