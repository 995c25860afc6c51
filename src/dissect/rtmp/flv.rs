//! FLV audio and video tag headers as RTMP carries them (Adobe FLV specification v10.1,
//! E.4.2.1 and E.4.3.1), with the Enhanced RTMP extensions (veovera enhanced-rtmp v1/v2:
//! ExHeader with a FourCC for HEVC, AV1, VP9, Opus…).

/// What a video message holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTag {
    /// 1 key frame, 2 inter frame, 3 disposable, 4 generated key frame, 5 info/command.
    pub frame_type: u8,
    /// Codec name (`avc`, `hevc`, `av01`, `vp09`, `h263`, …).
    pub codec: &'static str,
    /// A decoder configuration (sequence header) rather than a frame.
    pub sequence_header: bool,
    /// End of sequence marker.
    pub end_of_sequence: bool,
    /// Composition time offset in ms (AVC/HEVC), when present.
    pub composition_time: Option<i32>,
    /// Enhanced RTMP ExHeader form.
    pub enhanced: bool,
}

impl VideoTag {
    /// Whether the tag is a coded picture (not configuration, end marker or command).
    pub fn is_frame(&self) -> bool {
        !self.sequence_header && !self.end_of_sequence && self.frame_type != 5
    }

    /// Whether it is a key frame.
    pub fn is_key(&self) -> bool {
        self.is_frame() && (self.frame_type == 1 || self.frame_type == 4)
    }
}

/// What an audio message holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioTag {
    /// Codec name (`aac`, `mp3`, `opus`, …).
    pub codec: &'static str,
    /// An AAC AudioSpecificConfig / Enhanced sequence start rather than audio.
    pub sequence_header: bool,
    /// Sampling rate code (0–3: 5.5, 11, 22, 44 kHz) of the legacy header.
    pub rate_code: u8,
    /// Stereo flag of the legacy header.
    pub stereo: bool,
}

fn fourcc_name(b: &[u8]) -> &'static str {
    match b {
        b"avc1" => "avc",
        b"hvc1" => "hevc",
        b"av01" => "av01",
        b"vp09" => "vp09",
        b"vp08" => "vp08",
        b"Opus" => "opus",
        b"mp4a" => "aac",
        b".mp3" => "mp3",
        b"ac-3" => "ac3",
        b"ec-3" => "eac3",
        b"fLaC" => "flac",
        _ => "unknown",
    }
}

fn si24(b: &[u8]) -> Option<i32> {
    let v = (i32::from(*b.first()?) << 16) | (i32::from(*b.get(1)?) << 8) | i32::from(*b.get(2)?);
    Some((v << 8) >> 8)
}

/// Parses the header of a video message body.
pub fn video(body: &[u8]) -> Option<VideoTag> {
    let b0 = *body.first()?;
    if b0 & 0x80 != 0 {
        // Enhanced RTMP: [IsExHeader:1][FrameType:3][PacketType:4][FourCC:4]…
        let packet_type = b0 & 0x0f;
        let fourcc = body.get(1..5)?;
        let codec = fourcc_name(fourcc);
        let cts =
            if packet_type == 1 && codec != "av01" && codec != "vp09" { body.get(5..8).and_then(si24) } else { None };
        return Some(VideoTag {
            frame_type: (b0 >> 4) & 0x07,
            codec,
            sequence_header: packet_type == 0,
            end_of_sequence: packet_type == 2,
            composition_time: cts,
            enhanced: true,
        });
    }
    let codec = match b0 & 0x0f {
        2 => "h263",
        3 => "screen",
        4 => "vp6",
        5 => "vp6a",
        6 => "screen2",
        7 => "avc",
        12 => "hevc",
        13 => "av1",
        _ => "unknown",
    };
    let avc_like = matches!(b0 & 0x0f, 7 | 12);
    let pt = if avc_like { body.get(1).copied() } else { None };
    Some(VideoTag {
        frame_type: b0 >> 4,
        codec,
        sequence_header: pt == Some(0),
        end_of_sequence: pt == Some(2),
        composition_time: if avc_like { body.get(2..5).and_then(si24) } else { None },
        enhanced: false,
    })
}

/// Parses the header of an audio message body.
pub fn audio(body: &[u8]) -> Option<AudioTag> {
    let b0 = *body.first()?;
    let format = b0 >> 4;
    if format == 9 {
        // Enhanced RTMP v2 audio: [SoundFormat=9:4][AudioPacketType:4][FourCC:4]
        let packet_type = b0 & 0x0f;
        return Some(AudioTag {
            codec: fourcc_name(body.get(1..5)?),
            sequence_header: packet_type == 0,
            rate_code: 0,
            stereo: false,
        });
    }
    let codec = match format {
        0 | 3 => "pcm",
        1 => "adpcm",
        2 => "mp3",
        4..=6 => "nellymoser",
        7 => "g711a",
        8 => "g711u",
        10 => "aac",
        11 => "speex",
        14 => "mp3-8k",
        15 => "device-specific",
        _ => "unknown",
    };
    Some(AudioTag {
        codec,
        sequence_header: format == 10 && body.get(1) == Some(&0),
        rate_code: (b0 >> 2) & 0x03,
        stereo: b0 & 0x01 != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avc_keyframe_with_composition_time() {
        let v = video(&[0x17, 0x01, 0x00, 0x00, 0x42, 0, 0]).unwrap();
        assert!(v.is_key() && v.codec == "avc" && v.composition_time == Some(66));
        let s = video(&[0x17, 0x00, 0, 0, 0]).unwrap();
        assert!(s.sequence_header && !s.is_frame());
        let neg = video(&[0x27, 0x01, 0xff, 0xff, 0xfe]).unwrap();
        assert_eq!(neg.composition_time, Some(-2));
    }

    #[test]
    fn enhanced_hevc_and_aac() {
        let v = video(&[0x91, b'h', b'v', b'c', b'1', 0, 0, 0]).unwrap();
        assert!(v.enhanced && v.is_key() && v.codec == "hevc");
        let a = audio(&[0xaf, 0x00, 0x12, 0x10]).unwrap();
        assert!(a.sequence_header && a.codec == "aac" && a.stereo);
        assert!(audio(&[]).is_none() && video(&[0x80, 1]).is_none());
    }
}
