//! The bitswarm wire protocol, version 1: the MQTT topic tree, JSON control messages and binary
//! data parts that a job's controller and its encoding servers exchange through an MQTT 5 broker.
//!
//! This crate opens no socket and knows no codec bitstream: it builds and parses topic names,
//! encodes and decodes payload bytes, and reassembles chunk data from parts. An encoding profile
//! is data it carries ([`bitswarm_core::Profile`]). The runtime on top (MQTT client, broker,
//! scheduling) lives elsewhere. `docs/PROTOCOL.md` is the specification; this crate implements it.
//!
//! ```
//! use bitswarm_proto::{
//!     split_into_parts, checksum, ChunkAttempt, Control, DataKind, DataPart, Expected, JobId,
//!     Reassembler, ServerId, SwarmJoin, TopicRef, Topics, JobTopic, MAX_PART_PAYLOAD,
//! };
//!
//! let topics = Topics::default(); // root "bitswarm/v1"
//! let job = JobId::new("job-42")?;
//! let server = ServerId::new("enc-01")?;
//!
//! // A server tells the controller of job-42 that it entered the job's swarm.
//! let join = Control::SwarmJoin(SwarmJoin { job: job.clone(), server, slots: 2 });
//! let topic = topics.job_events(&job);
//! assert_eq!(topic, "bitswarm/v1/jobs/job-42/events");
//! assert_eq!(topics.parse(&topic), Some(TopicRef::Job(job.clone(), JobTopic::Events)));
//! assert_eq!(Control::decode(&join.encode())?, join);
//!
//! // It streams encoded data as parts; the controller reassembles and verifies them.
//! let stream = ChunkAttempt { job, chunk: 7, attempt: 0 };
//! let encoded = vec![0x42_u8; 600_000];
//! let mut reassembler = Reassembler::new(DataKind::Encoded, stream.clone(), 64 << 20);
//! for part in split_into_parts(DataKind::Encoded, &stream, &encoded, MAX_PART_PAYLOAD)? {
//!     let wire = part.encode();
//!     reassembler.push(&DataPart::decode(&wire)?)?;
//! }
//! assert!(reassembler.is_complete());
//! let expected = Expected { parts: Some(3), bytes: 600_000, crc32: checksum(&encoded) };
//! assert_eq!(reassembler.finish(&expected)?, encoded);
//! # Ok::<(), bitswarm_proto::Error>(())
//! ```

mod control;
mod data;
mod id;
mod reassembly;
mod topic;

pub use control::{
    Cancel, Capabilities, ChunkAssignment, ChunkDone, Control, ErrorCode, ErrorReport, JobEnd,
    JobEndReason, OfflineReason, ProfileAssignment, ServerState, ServerStatus, SwarmJoin,
    SwarmLeave, SwarmLeaveReason, Telemetry, MAX_CONTROL_SIZE,
};
pub use data::{
    checksum, split_into_parts, ChunkAttempt, DataKind, DataPart, PartWriter, StreamSummary,
    HEADER_LEN, MAGIC, MAX_PART_PAYLOAD,
};
pub use id::{Id, IdKind, JobId, JobKind, ServerId, ServerKind, MAX_ID_LEN};
pub use reassembly::{Expected, Push, Reassembler};
pub use topic::{JobTopic, ServerTopic, TopicRef, Topics, DEFAULT_ROOT};

/// The protocol version this crate speaks: the `"v"` of every control message and the version
/// byte of every data part.
pub const PROTOCOL_VERSION: u8 = 1;

/// Everything that can be wrong with a topic, an id, a control message, a data part or a
/// reassembled chunk. A receiver logs the error and drops the message; none is fatal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "invalid {what} id {value:?}: {reason} (expected 1..=64 characters from A-Z a-z 0-9 _ . -)"
    )]
    InvalidId {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("invalid topic root {root:?}: {reason}")]
    InvalidRoot { root: String, reason: &'static str },
    #[error("{what} of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        what: &'static str,
        size: usize,
        max: usize,
    },
    #[error("unsupported protocol version {got} (this build speaks version 1)")]
    Version { got: u64 },
    #[error(
        "empty control message (an empty payload clears a retained topic; it is not a message)"
    )]
    Empty,
    #[error("malformed control message: {0}")]
    Json(#[source] serde_json::Error),
    #[error("malformed control message: {0}")]
    Envelope(&'static str),
    #[error("unknown control message type {0:?} (known: {known})", known = Control::TYPES.join(", "))]
    UnknownType(String),
    #[error("malformed {kind} message: {source}")]
    Message {
        kind: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid {field} {value} (expected {expected})")]
    Invalid {
        field: &'static str,
        value: String,
        expected: String,
    },
    #[error("data part of {got} bytes is shorter than {need} bytes")]
    Truncated { got: usize, need: usize },
    #[error("not a bitswarm data part: magic {got:02x?} (expected \"BSWP\")")]
    BadMagic { got: [u8; 4] },
    #[error("unknown data part kind {0} (known: 1 = source frames, 2 = encoded data)")]
    UnknownDataKind(u8),
    #[error(
        "data part payload CRC-32 mismatch: header says {expected:08x}, payload has {actual:08x}"
    )]
    PartCrc { expected: u32, actual: u32 },
    #[error("{got} pushed into the reassembler of {expected}")]
    ForeignPart { expected: String, got: String },
    #[error("part {seq} would end at byte {end}, beyond the limit of {max} bytes for one chunk")]
    ExceedsLimit { seq: u32, end: u64, max: u64 },
    #[error("part {seq} conflicts with the stream: {reason}")]
    ConflictingPart { seq: u32, reason: String },
    #[error("chunk data incomplete: {0}")]
    Incomplete(String),
    #[error("{what} mismatch: expected {expected}, got {got}")]
    Mismatch {
        what: &'static str,
        expected: u64,
        got: u64,
    },
    #[error("chunk checksum mismatch: expected CRC-32 {expected:08x}, data has {actual:08x}")]
    ChunkCrc { expected: u32, actual: u32 },
}

pub type Result<T> = std::result::Result<T, Error>;
