//! Parsers of untrusted bytes return errors, never panic: random and mutated inputs.

mod common;

use std::io::Cursor;

use bitswarm_media::mp4::Mp4Demuxer;
use bitswarm_media::y4m::Y4mReader;
use proptest::prelude::*;

fn demux_everything(bytes: Vec<u8>) {
    if let Ok(mut demuxer) = Mp4Demuxer::new(Cursor::new(bytes)) {
        let _ = demuxer.track().frame_rate();
        while let Ok(Some(_)) = demuxer.next_access_unit() {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn mutated_mp4_never_panics(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = common::small_mp4();
        // Mostly hit the moov box (after the sample data), where the tables are.
        let moov = bytes.windows(4).position(|w| w == b"moov").unwrap() - 4;
        for (at, value) in edits {
            let i = moov + at.index(bytes.len() - moov);
            bytes[i] = value;
        }
        let keep = bytes.len() - cut.index(bytes.len() / 8);
        bytes.truncate(keep);
        demux_everything(bytes);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        demux_everything(bytes.clone());
        let mut with_magic = b"YUV4MPEG2 ".to_vec();
        with_magic.extend_from_slice(&bytes);
        for input in [bytes, with_magic] {
            if let Ok(mut reader) = Y4mReader::new(&input[..]) {
                while let Ok(Some(_)) = reader.next_frame() {}
            }
        }
    }

    #[test]
    fn y4m_header_tags_never_panic(tags in proptest::collection::vec("[WHFCIAX\\u{e9}]?[0-9:a-z\\u{e9}]{0,6}", 0..6)) {
        let header = format!("YUV4MPEG2 {}\nFRAME\n", tags.join(" "));
        let _ = Y4mReader::new(header.as_bytes());
    }
}
