//! Why the RTMP dissector reads AMF0 itself instead of through rml_amf0 (named by the product
//! owner): on the same bytes, rml_amf0 accepts a truncated string as a success padded with NUL
//! characters, and does not understand the Date, long-string and AMF3-switch markers that real
//! encoders send. streamscope's reader reports the truncation and decodes the markers.

use std::io::Cursor;
use streamscope::dissect::rtmp::amf0::{decode_all, Amf0};

fn amf_string(s: &str) -> Vec<u8> {
    let mut b = vec![0x02];
    b.extend_from_slice(&(s.len() as u16).to_be_bytes());
    b.extend_from_slice(s.as_bytes());
    b
}

#[test]
fn truncated_string_is_padded_by_rml_amf0_and_an_error_here() {
    let full = amf_string("NetStream.Publish.Start");
    let cut = &full[..full.len() - 6];
    match rml_amf0::deserialize(&mut Cursor::new(cut)) {
        Ok(values) => {
            // The measured behaviour: success, with the missing bytes as NULs.
            let rml_amf0::Amf0Value::Utf8String(s) = &values[0] else { panic!("{values:?}") };
            assert!(s.contains('\0'), "rml_amf0 changed behaviour: {s:?}");
        }
        Err(e) => panic!("rml_amf0 now rejects truncation ({e:?}): reconsider using it"),
    }
    let (values, err) = decode_all(cut);
    assert!(values.is_empty());
    assert_eq!(err.map(|e| e.what), Some("truncated"));
}

#[test]
fn date_long_string_and_amf3_switch() {
    let mut b = vec![0x0B];
    b.extend_from_slice(&1.7e12f64.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    assert!(rml_amf0::deserialize(&mut Cursor::new(&b)).is_err(), "rml_amf0 now decodes Date");
    b.extend_from_slice(&[0x0C, 0, 0, 0, 3, b'a', b'b', b'c', 0x11, 0x06, 0x03, b'x']);
    let (values, err) = decode_all(&b);
    assert!(err.is_none());
    assert_eq!(values[0], Amf0::Date(1.7e12));
    assert_eq!(values[1].as_str(), Some("abc"));
    assert!(matches!(values[2], Amf0::Avmplus(_)));
}
