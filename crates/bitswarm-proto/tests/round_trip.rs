//! Every control message type and data parts survive encode -> decode unchanged.

mod common;

use std::collections::BTreeSet;

use bitswarm_proto::{
    split_into_parts, ChunkAssignment, ChunkAttempt, ChunkDone, Control, DataKind, DataPart, JobId,
    PartWriter, Reassembler, ServerId, Telemetry,
};
use common::{job, samples};
use proptest::prelude::*;

#[test]
fn every_message_type_round_trips() {
    let mut seen = BTreeSet::new();
    for message in samples() {
        let bytes = message.encode();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["v"], 1, "{json}");
        assert_eq!(json["type"], message.type_name(), "{json}");
        assert!(bytes.len() < 1024, "{} bytes: {json}", bytes.len());
        assert_eq!(Control::decode(&bytes).unwrap(), message, "{json}");
        seen.insert(message.type_name());
    }
    assert_eq!(seen, Control::TYPES.into_iter().collect());
}

fn id_text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,64}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn telemetry_round_trips(
        server in id_text(),
        seq: u64,
        cpu_load in 0.0..=1.0_f64,
        free_resources in 0.0..=1.0_f64,
        queue_depth: u32,
        fps in 0.0..1e6_f64,
        encoders_busy: u32,
        timestamp_ms: Option<u64>,
    ) {
        let message = Control::Telemetry(Telemetry {
            server: ServerId::new(server).unwrap(),
            seq, cpu_load, free_resources, queue_depth, fps, encoders_busy, timestamp_ms,
        });
        prop_assert_eq!(Control::decode(&message.encode()).unwrap(), message);
    }

    #[test]
    fn assignment_and_completion_round_trip(
        job in id_text(),
        server in id_text(),
        numbers in proptest::array::uniform8(any::<u32>()),
        wide: [u64; 3],
    ) {
        let job = JobId::new(job).unwrap();
        let assignment = Control::ChunkAssignment(ChunkAssignment {
            job: job.clone(),
            chunk: numbers[0],
            attempt: numbers[1],
            profile_id: numbers[2],
            first_frame: wide[0],
            frame_count: numbers[3].max(1),
            frame_size: numbers[4].max(1),
            scene: numbers[5],
            source_crc32: numbers[6],
        });
        prop_assert_eq!(Control::decode(&assignment.encode()).unwrap(), assignment);
        let done = Control::ChunkDone(ChunkDone {
            job,
            chunk: numbers[0],
            attempt: numbers[1],
            server: ServerId::new(server).unwrap(),
            parts: numbers[2].max(1),
            bytes: wide[1],
            crc32: numbers[7],
            encode_ms: wide[2],
            frames: numbers[3].max(1),
        });
        prop_assert_eq!(Control::decode(&done.encode()).unwrap(), done);
    }

    #[test]
    fn data_parts_round_trip(
        source: bool,
        job in id_text(),
        chunk: u32,
        attempt: u32,
        seq: u32,
        last: bool,
        part_size in 1usize..4096,
        fill: u8,
        short in 0usize..4096,
    ) {
        let kind = if source { DataKind::Source } else { DataKind::Encoded };
        let len = if last { short.min(part_size) } else { part_size };
        let payload: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
        let stream = ChunkAttempt { job: JobId::new(job).unwrap(), chunk, attempt };
        let part = DataPart::new(kind, stream, seq, last, part_size, payload).unwrap();
        let bytes = part.encode();
        prop_assert_eq!(DataPart::decode(&bytes).unwrap(), part);
    }

    #[test]
    fn a_flipped_payload_byte_is_a_crc_error(len in 1usize..2000, at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let stream = ChunkAttempt { job: job(), chunk: 1, attempt: 0 };
        let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let part = DataPart::new(DataKind::Encoded, stream, 0, true, 4096, data).unwrap();
        let mut bytes = part.encode();
        let at = bitswarm_proto::HEADER_LEN + at.index(len);
        bytes[at] ^= 1 << bit;
        let is_crc_error = matches!(DataPart::decode(&bytes), Err(bitswarm_proto::Error::PartCrc { .. }));
        prop_assert!(is_crc_error);
    }

    #[test]
    fn split_parts_reassemble_in_any_order(
        len in 0usize..5000,
        part_size in 1usize..700,
        seed: u64,
        order in Just((0..64usize).collect::<Vec<_>>()).prop_shuffle(),
        duplicates in proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
    ) {
        let data: Vec<u8> = (0..len as u64).map(|i| (i.wrapping_mul(seed | 1) >> 7) as u8).collect();
        let stream = ChunkAttempt { job: job(), chunk: 2, attempt: 3 };
        let parts: Vec<_> = split_into_parts(DataKind::Source, &stream, &data, part_size).unwrap().collect();
        let mut sequence: Vec<&DataPart> = order.iter().filter(|&&i| i < parts.len()).map(|&i| &parts[i]).collect();
        sequence.extend(parts.iter().skip(64));
        sequence.extend(duplicates.iter().map(|d| &parts[d.index(parts.len())]));
        let mut r = Reassembler::new(DataKind::Source, stream, len as u64);
        for part in sequence {
            r.push(&DataPart::decode(&part.encode()).unwrap()).unwrap();
        }
        prop_assert!(r.is_complete());
        let expected = bitswarm_proto::Expected {
            parts: Some(parts.len() as u32),
            bytes: len as u64,
            crc32: bitswarm_proto::checksum(&data),
        };
        prop_assert_eq!(r.finish(&expected).unwrap(), data);
    }

    #[test]
    fn written_parts_reassemble(pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20), part_size in 1usize..500) {
        let stream = ChunkAttempt { job: job(), chunk: 0, attempt: 0 };
        let mut writer = PartWriter::new(DataKind::Encoded, stream.clone(), part_size).unwrap();
        let mut r = Reassembler::new(DataKind::Encoded, stream, 1 << 20);
        for piece in &pieces {
            for part in writer.write(piece).unwrap() {
                r.push(&part).unwrap();
            }
        }
        let (last, summary) = writer.finish().unwrap();
        r.push(&last).unwrap();
        let expected = bitswarm_proto::Expected { parts: Some(summary.parts), bytes: summary.bytes, crc32: summary.crc32 };
        prop_assert_eq!(r.finish(&expected).unwrap(), pieces.concat());
    }
}
