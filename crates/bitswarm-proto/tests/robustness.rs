//! Untrusted bytes never panic a decoder or the reassembler. A data part the decoder accepts
//! is byte for byte the encoder's output for it; a control message it accepts round-trips.

mod common;

use bitswarm_proto::{
    ChunkAttempt, Control, DataKind, DataPart, JobId, Reassembler, HEADER_LEN, MAGIC,
    MAX_PART_PAYLOAD,
};
use proptest::prelude::*;
use serde_json::{json, Value};

/// A valid message as a JSON object, then up to four edits: remove a field, or set a field
/// (known or not) to a value from a pool of plausible and implausible ones. This reaches the
/// message decoders and the validation, which random text almost never does.
fn mutated_message() -> impl Strategy<Value = Vec<u8>> {
    let keys = [
        "v",
        "type",
        "job",
        "server",
        "chunk",
        "attempt",
        "state",
        "reason",
        "capabilities",
        "profile",
        "source",
        "cpu_load",
        "fps",
        "parts",
        "slots",
        "code",
        "frame_count",
        "seq",
        "extra",
    ];
    let values = vec![
        json!(1),
        json!(0),
        json!(2),
        json!(-1),
        json!(1.5),
        json!(1e300),
        json!(u64::MAX),
        json!(null),
        json!(true),
        json!("j-1"),
        json!("a/b"),
        json!(""),
        json!("online"),
        json!("offline"),
        json!("leaving"),
        json!("lost"),
        json!([]),
        json!({}),
        json!({"encoders": ["openh264"], "cores": 0, "version": "x", "hostname": "h"}),
        json!({"width": 15, "height": 8, "fps": {"num": 0, "den": 0}}),
        json!({"name": "", "encoder": "x266"}),
    ];
    let edit = (
        any::<bool>(),
        proptest::sample::select(keys.to_vec()),
        proptest::sample::select(values),
    );
    let bases: Vec<Value> = common::samples()
        .iter()
        .map(|m| serde_json::from_slice(&m.encode()).unwrap())
        .collect();
    (
        proptest::sample::select(bases),
        proptest::collection::vec(edit, 0..4),
    )
        .prop_map(|(mut message, edits)| {
            let object = message.as_object_mut().unwrap();
            for (remove, key, value) in edits {
                if remove {
                    object.remove(key);
                } else {
                    object.insert(key.to_owned(), value);
                }
            }
            serde_json::to_vec(&message).unwrap()
        })
}

fn valid_part_bytes() -> impl Strategy<Value = Vec<u8>> {
    (any::<bool>(), 0u32..4, 1usize..64, 0usize..64).prop_map(|(last, seq, size, short)| {
        let len = if last { short.min(size) } else { size };
        let stream = ChunkAttempt {
            job: JobId::new("job-1").unwrap(),
            chunk: 3,
            attempt: 1,
        };
        DataPart::new(DataKind::Encoded, stream, seq, last, size, vec![0xa5; len])
            .unwrap()
            .encode()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn control_decode_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Control::decode(&bytes);
    }

    #[test]
    fn edited_messages_are_rejected_or_round_trip(bytes in mutated_message()) {
        if let Ok(message) = Control::decode(&bytes) {
            prop_assert_eq!(Control::decode(&message.encode()).unwrap(), message.clone());
            prop_assert!(message.validate().is_ok());
        }
    }

    #[test]
    fn data_decode_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = DataPart::decode(&bytes);
    }

    #[test]
    fn data_decode_never_panics_behind_a_valid_magic(
        header in proptest::collection::vec(any::<u8>(), 0..HEADER_LEN),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = MAGIC.to_vec();
        bytes.push(1);
        bytes.extend(header);
        bytes.extend(payload);
        if let Ok(part) = DataPart::decode(&bytes) {
            prop_assert_eq!(part.encode(), bytes);
        }
    }

    #[test]
    fn mutated_parts_are_rejected_or_re_encode_identically(
        bytes in valid_part_bytes(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate: bool,
    ) {
        let mut bytes = bytes;
        for (at, value) in edits {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(part) = DataPart::decode(&bytes) {
            prop_assert_eq!(part.encode(), bytes);
        }
    }

    #[test]
    fn reassembler_survives_any_part_sequence(
        parts in proptest::collection::vec((0u32..40, any::<bool>(), 1usize..16, 0usize..16, any::<u8>()), 0..60),
        max_bytes in 0u64..300,
    ) {
        let stream = ChunkAttempt { job: JobId::new("j").unwrap(), chunk: 0, attempt: 0 };
        let mut r = Reassembler::new(DataKind::Source, stream.clone(), max_bytes);
        for (seq, last, size, short, fill) in parts {
            let len = if last { short.min(size) } else { size };
            let part = DataPart::new(DataKind::Source, stream.clone(), seq, last, size, vec![fill; len]).unwrap();
            let _ = r.push(&part);
            prop_assert!(r.received_bytes() <= max_bytes);
            prop_assert!(r.gaps().iter().all(|g| g.end <= r.last_seq().map_or(u32::MAX, |l| l + 1)));
        }
    }
}

#[test]
fn the_largest_part_round_trips_and_one_byte_more_is_refused() {
    let stream = ChunkAttempt {
        job: JobId::new("job-1").unwrap(),
        chunk: 0,
        attempt: 0,
    };
    let full = DataPart::new(
        DataKind::Source,
        stream.clone(),
        0,
        false,
        MAX_PART_PAYLOAD,
        vec![7; MAX_PART_PAYLOAD],
    )
    .unwrap();
    assert_eq!(DataPart::decode(&full.encode()).unwrap(), full);
    let err = DataPart::new(
        DataKind::Source,
        stream,
        0,
        true,
        MAX_PART_PAYLOAD + 1,
        vec![7; 10],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid part size 262145 (expected 1..=262144)"
    );
}
