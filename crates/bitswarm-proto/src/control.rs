//! Control messages: small JSON objects in an envelope `{"v":1,"type":"...",...}`, readable
//! with `mosquitto_sub`. Unknown fields are ignored (a v1 peer may add optional fields);
//! anything incompatible raises `"v"`.

use bitswarm_core::{Profile, VideoInfo};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ChunkAttempt, Error, Expected, JobId, Result, ServerId, PROTOCOL_VERSION};

/// Largest control message a receiver accepts, in bytes. The largest real message (a profile
/// assignment) is well under 1 KiB; the limit bounds what a broken peer can make us parse.
pub const MAX_CONTROL_SIZE: usize = 64 * 1024;

/// One control message; the variant is the `"type"` of the JSON envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    /// Server -> `servers/{server}/status` (retained; also the server's Last Will).
    ServerStatus(ServerStatus),
    /// Server -> `servers/{server}/telemetry`.
    Telemetry(Telemetry),
    /// Server -> `jobs/{job}/events`: the server entered the job's swarm.
    SwarmJoin(SwarmJoin),
    /// Server -> `jobs/{job}/events`: the server left the job's swarm.
    SwarmLeave(SwarmLeave),
    /// Controller -> `servers/{server}/inbox`: a profile of the job, to be referenced by id.
    ProfileAssignment(ProfileAssignment),
    /// Controller -> `servers/{server}/inbox`: encode one chunk.
    ChunkAssignment(ChunkAssignment),
    /// Controller -> `servers/{server}/inbox`: stop work on a chunk (attempt) or a whole job.
    Cancel(Cancel),
    /// Server -> `jobs/{job}/events`: all encoded parts of a chunk attempt are published.
    ChunkDone(ChunkDone),
    /// Server -> `jobs/{job}/events`: something failed.
    Error(ErrorReport),
    /// Controller -> `jobs/{job}/status` (retained; also the controller's Last Will).
    JobEnd(JobEnd),
}

/// A server's presence, published retained on its status topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    pub server: ServerId,
    #[serde(flatten)]
    pub state: ServerState,
}

/// Lifecycle of a server on the broker: `online` (published when it joins) -> `leaving`
/// (draining: finishes or hands back its chunks, takes no new ones) -> `offline`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ServerState {
    Online { capabilities: Capabilities },
    Leaving,
    Offline { reason: OfflineReason },
}

/// What a server can do; sent with its `online` status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Encoder names (`bitswarm_core::EncoderKind::name`, e.g. `"openh264"`); names this
    /// controller does not know are kept as text so that newer servers stay readable.
    pub encoders: Vec<String>,
    /// CPU cores the server may use (at least 1).
    pub cores: u32,
    /// Software version of the server.
    pub version: String,
    pub hostname: String,
}

/// Why a server went offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfflineReason {
    /// Graceful: the server published this itself before disconnecting.
    Leave,
    /// The broker published the server's Last Will: connection lost or process died.
    Lost,
}

/// Load figures of one server, published every second or so with QoS 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    pub server: ServerId,
    /// Increases by one per telemetry message of this server process; restarts at 0 when the
    /// process (re)publishes its `online` status.
    pub seq: u64,
    /// CPU load, 0 (idle) ..= 1 (all cores busy).
    pub cpu_load: f64,
    /// Share of resources still free for more work, 0 ..= 1.
    pub free_resources: f64,
    /// Chunks assigned to this server and not finished yet (including the ones encoding).
    pub queue_depth: u32,
    /// Frames encoded per second over the last interval.
    pub fps: f64,
    /// Encoder instances busy right now.
    pub encoders_busy: u32,
    /// Wall-clock time of the sample in Unix milliseconds, if the server knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<u64>,
}

/// A server entered the swarm of a job (after accepting its first profile assignment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmJoin {
    pub job: JobId,
    pub server: ServerId,
    /// Chunks of this job the server is willing to encode at the same time (at least 1).
    pub slots: u32,
}

/// A server left the swarm of a job; the controller reassigns its unfinished chunks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmLeave {
    pub job: JobId,
    pub server: ServerId,
    pub reason: SwarmLeaveReason,
}

/// Why a server left a job's swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwarmLeaveReason {
    /// The server is going offline.
    Shutdown,
    /// The server withdraws to free resources.
    Overloaded,
    /// The server cannot encode for this job any more (see its `error` messages).
    Failed,
}

/// One profile of a job, referenced by `profile_id` in chunk assignments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileAssignment {
    pub job: JobId,
    pub profile_id: u32,
    pub profile: Profile,
    /// Geometry of the source frames the server will receive.
    pub source: VideoInfo,
}

/// Encode one chunk. The source frames follow as data parts of kind `source` on the server's
/// frames topic, with the same job, chunk and attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkAssignment {
    pub job: JobId,
    pub chunk: u32,
    /// Unique per (job, chunk) across all servers: every redundant copy and every retry gets a
    /// new attempt number, so two streams of data parts never share (job, chunk, attempt).
    pub attempt: u32,
    pub profile_id: u32,
    /// Index of the chunk's first frame in the source.
    pub first_frame: u64,
    /// Frames in the chunk (at least 1).
    pub frame_count: u32,
    /// Bytes of one raw 4:2:0 source frame (`VideoInfo::frame_len`, at least 1).
    pub frame_size: u32,
    /// Index of the scene the chunk belongs to.
    pub scene: u32,
    /// CRC-32 of the chunk's source bytes (all frames, packed, in order).
    pub source_crc32: u32,
}

/// Stop work. `chunk` absent: everything of `job` on this server (the server drops the job's
/// state but stays available). `attempt` absent: every attempt of `chunk` on this server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancel {
    pub job: JobId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

/// All encoded parts of one chunk attempt have been published on the job's data topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkDone {
    pub job: JobId,
    pub chunk: u32,
    pub attempt: u32,
    pub server: ServerId,
    /// Data parts published (at least 1; the last carries the LAST flag).
    pub parts: u32,
    /// Encoded bytes over all parts.
    pub bytes: u64,
    /// CRC-32 of the whole encoded chunk.
    pub crc32: u32,
    /// Wall time the encode took, milliseconds.
    pub encode_ms: u64,
    /// Frames encoded (at least 1).
    pub frames: u32,
}

/// A failure reported by a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReport {
    pub job: JobId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    pub server: ServerId,
    pub code: ErrorCode,
    /// Human-readable detail for logs.
    pub message: String,
}

/// Machine-readable class of an [`ErrorReport`]. Codes this build does not know decode as
/// [`ErrorCode::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The profile of a `profile_assignment` fails validation.
    InvalidProfile,
    /// The server has no encoder for the profile.
    UnsupportedEncoder,
    /// A chunk assignment names a profile id the server was not given.
    UnknownProfile,
    /// The source frames failed verification (gap, size or checksum).
    BadSource,
    /// The encoder failed.
    EncodeFailed,
    /// The server cannot take more work now.
    Overloaded,
    /// A message from the controller could not be used (after decoding).
    Protocol,
    /// Anything else inside the server.
    Internal,
    #[serde(other)]
    Other,
}

/// The job is over: servers drop every state of it (queued chunks, source data, profiles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEnd {
    pub job: JobId,
    pub reason: JobEndReason,
}

/// Why a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobEndReason {
    Done,
    Cancelled,
    Failed,
    /// The broker published the controller's Last Will.
    Lost,
}

/// What is serialized: the version first, then the tagged message.
#[derive(Serialize)]
struct Outgoing<'a> {
    v: u8,
    #[serde(flatten)]
    message: &'a Control,
}

impl Control {
    /// Every `"type"` of protocol version 1.
    pub const TYPES: [&'static str; 10] = [
        "server_status",
        "telemetry",
        "swarm_join",
        "swarm_leave",
        "profile_assignment",
        "chunk_assignment",
        "cancel",
        "chunk_done",
        "error",
        "job_end",
    ];

    /// The `"type"` of this message.
    pub fn type_name(&self) -> &'static str {
        let index = match self {
            Control::ServerStatus(_) => 0,
            Control::Telemetry(_) => 1,
            Control::SwarmJoin(_) => 2,
            Control::SwarmLeave(_) => 3,
            Control::ProfileAssignment(_) => 4,
            Control::ChunkAssignment(_) => 5,
            Control::Cancel(_) => 6,
            Control::ChunkDone(_) => 7,
            Control::Error(_) => 8,
            Control::JobEnd(_) => 9,
        };
        Self::TYPES[index]
    }

    /// The JSON bytes of this message, `{"v":1,"type":...}`. Does not validate: senders build
    /// messages from validated values, and receivers validate in [`Control::decode`].
    pub fn encode(&self) -> Vec<u8> {
        let outgoing = Outgoing {
            v: PROTOCOL_VERSION,
            message: self,
        };
        // Cannot fail: every field serializes to a JSON scalar, array or string-keyed object.
        serde_json::to_vec(&outgoing).expect("control messages always serialize to JSON")
    }

    /// Parses and validates one control message. The checks run in this order, so a receiver
    /// can tell them apart: empty, too large, not JSON, no version, foreign version
    /// ([`Error::Version`]), unknown type, malformed fields, invalid values.
    pub fn decode(bytes: &[u8]) -> Result<Control> {
        if bytes.is_empty() {
            return Err(Error::Empty);
        }
        if bytes.len() > MAX_CONTROL_SIZE {
            return Err(Error::TooLarge {
                what: "control message",
                size: bytes.len(),
                max: MAX_CONTROL_SIZE,
            });
        }
        let value: Value = serde_json::from_slice(bytes).map_err(Error::Json)?;
        let object = value
            .as_object()
            .ok_or(Error::Envelope("not a JSON object"))?;
        let version = object
            .get("v")
            .ok_or(Error::Envelope("no protocol version field \"v\""))?
            .as_u64()
            .ok_or(Error::Envelope(
                "protocol version \"v\" is not an unsigned integer",
            ))?;
        if version != u64::from(PROTOCOL_VERSION) {
            return Err(Error::Version { got: version });
        }
        let kind = object
            .get("type")
            .ok_or(Error::Envelope("no message type field \"type\""))?
            .as_str()
            .ok_or(Error::Envelope("message type \"type\" is not a string"))?;
        if !Self::TYPES.contains(&kind) {
            return Err(Error::UnknownType(kind.to_owned()));
        }
        let kind = kind.to_owned();
        let message: Control =
            serde_json::from_value(value).map_err(|source| Error::Message { kind, source })?;
        message.validate()?;
        Ok(message)
    }

    /// Checks the values JSON types cannot express (ranges, dependent fields). Domain values
    /// (the profile and source geometry of a profile assignment) are the receiver's to validate
    /// with `bitswarm_core`; it answers with an `error` message, code `invalid_profile`.
    pub fn validate(&self) -> Result<()> {
        match self {
            Control::ServerStatus(s) => match &s.state {
                ServerState::Online { capabilities } => {
                    at_least_one("server_status.capabilities.cores", capabilities.cores)
                }
                ServerState::Leaving | ServerState::Offline { .. } => Ok(()),
            },
            Control::Telemetry(t) => {
                unit_interval("telemetry.cpu_load", t.cpu_load)?;
                unit_interval("telemetry.free_resources", t.free_resources)?;
                if t.fps.is_finite() && t.fps >= 0.0 {
                    Ok(())
                } else {
                    Err(invalid("telemetry.fps", t.fps, "a number >= 0"))
                }
            }
            Control::SwarmJoin(j) => at_least_one("swarm_join.slots", j.slots),
            Control::ChunkAssignment(a) => {
                at_least_one("chunk_assignment.frame_count", a.frame_count)?;
                at_least_one("chunk_assignment.frame_size", a.frame_size)
            }
            Control::Cancel(c) => attempt_needs_chunk("cancel", c.chunk, c.attempt),
            Control::ChunkDone(d) => {
                at_least_one("chunk_done.parts", d.parts)?;
                at_least_one("chunk_done.frames", d.frames)
            }
            Control::Error(e) => attempt_needs_chunk("error", e.chunk, e.attempt),
            Control::SwarmLeave(_) | Control::ProfileAssignment(_) | Control::JobEnd(_) => Ok(()),
        }
    }
}

fn invalid(field: &'static str, value: impl ToString, expected: &str) -> Error {
    Error::Invalid {
        field,
        value: value.to_string(),
        expected: expected.to_owned(),
    }
}

fn at_least_one(field: &'static str, value: u32) -> Result<()> {
    if value >= 1 {
        Ok(())
    } else {
        Err(invalid(field, value, ">= 1"))
    }
}

fn unit_interval(field: &'static str, value: f64) -> Result<()> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(invalid(field, value, "a number in 0..=1"))
    }
}

fn attempt_needs_chunk(kind: &'static str, chunk: Option<u32>, attempt: Option<u32>) -> Result<()> {
    match (chunk, attempt) {
        (None, Some(attempt)) => Err(Error::Invalid {
            field: "attempt",
            value: attempt.to_string(),
            expected: format!("no attempt in a {kind} message without a chunk"),
        }),
        _ => Ok(()),
    }
}

impl ChunkAssignment {
    /// The data stream this assignment opens (source frames in, encoded parts out).
    pub fn stream(&self) -> ChunkAttempt {
        ChunkAttempt {
            job: self.job.clone(),
            chunk: self.chunk,
            attempt: self.attempt,
        }
    }

    /// Bytes of the chunk's source frames.
    pub fn source_bytes(&self) -> u64 {
        u64::from(self.frame_count) * u64::from(self.frame_size)
    }

    /// What the reassembled source frames must be.
    pub fn expected_source(&self) -> Expected {
        Expected {
            parts: None,
            bytes: self.source_bytes(),
            crc32: self.source_crc32,
        }
    }
}

impl ChunkDone {
    /// The data stream this completion closes.
    pub fn stream(&self) -> ChunkAttempt {
        ChunkAttempt {
            job: self.job.clone(),
            chunk: self.chunk,
            attempt: self.attempt,
        }
    }

    /// What the reassembled encoded chunk must be.
    pub fn expected(&self) -> Expected {
        Expected {
            parts: Some(self.parts),
            bytes: self.bytes,
            crc32: self.crc32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> JobId {
        JobId::new("job-1").unwrap()
    }

    #[test]
    fn envelope_comes_first_and_is_readable() {
        let msg = Control::JobEnd(JobEnd {
            job: job(),
            reason: JobEndReason::Done,
        });
        let text = String::from_utf8(msg.encode()).unwrap();
        assert_eq!(
            text,
            r#"{"v":1,"type":"job_end","job":"job-1","reason":"done"}"#
        );
        assert_eq!(msg.type_name(), "job_end");
    }

    #[test]
    fn status_state_is_flat() {
        let msg = Control::ServerStatus(ServerStatus {
            server: ServerId::new("enc-01").unwrap(),
            state: ServerState::Offline {
                reason: OfflineReason::Lost,
            },
        });
        assert_eq!(
            String::from_utf8(msg.encode()).unwrap(),
            r#"{"v":1,"type":"server_status","server":"enc-01","state":"offline","reason":"lost"}"#
        );
    }

    #[test]
    fn decode_errors_are_distinct_and_clear() {
        let cases: [(&[u8], &str); 10] = [
            (b"", "empty control message (an empty payload clears a retained topic; it is not a message)"),
            (b"{\"v\":1,", "malformed control message: EOF while parsing a value at line 1 column 7"),
            (b"[1,2]", "malformed control message: not a JSON object"),
            (br#"{"type":"job_end"}"#, "malformed control message: no protocol version field \"v\""),
            (br#"{"v":"1","type":"job_end"}"#, "malformed control message: protocol version \"v\" is not an unsigned integer"),
            (br#"{"v":2,"type":"whatever","x":[]}"#, "unsupported protocol version 2 (this build speaks version 1)"),
            (br#"{"v":1}"#, "malformed control message: no message type field \"type\""),
            (br#"{"v":1,"type":"chunk_stolen"}"#, "unknown control message type \"chunk_stolen\" (known: server_status, telemetry, swarm_join, swarm_leave, profile_assignment, chunk_assignment, cancel, chunk_done, error, job_end)"),
            (br#"{"v":1,"type":"job_end","job":"job-1"}"#, "malformed job_end message: missing field `reason`"),
            (br#"{"v":1,"type":"job_end","job":"a/b","reason":"done"}"#, "malformed job_end message: invalid job id \"a/b\": contains '/' (expected 1..=64 characters from A-Z a-z 0-9 _ . -)"),
        ];
        for (bytes, text) in cases {
            let err = Control::decode(bytes).unwrap_err();
            assert_eq!(err.to_string(), text, "{}", String::from_utf8_lossy(bytes));
        }
        assert!(matches!(
            Control::decode(br#"{"v":2}"#),
            Err(Error::Version { got: 2 })
        ));
    }

    #[test]
    fn oversized_messages_are_rejected_before_parsing() {
        let padding = " ".repeat(MAX_CONTROL_SIZE);
        let bytes = format!(r#"{{"v":1,"type":"job_end","job":"j","reason":"done"}}{padding}"#);
        assert_eq!(
            Control::decode(bytes.as_bytes()).unwrap_err().to_string(),
            format!(
                "control message of {} bytes exceeds the limit of 65536 bytes",
                bytes.len()
            )
        );
        let fits = &bytes[..MAX_CONTROL_SIZE];
        assert!(Control::decode(fits.as_bytes()).is_ok());
    }

    #[test]
    fn unknown_fields_are_ignored_unknown_error_codes_kept_as_other() {
        let msg = Control::decode(
            br#"{"v":1,"type":"error","job":"j","server":"s","code":"gpu_melted","message":"hot","future":true}"#,
        )
        .unwrap();
        let Control::Error(report) = msg else {
            panic!("decoded {msg:?}")
        };
        assert_eq!(report.code, ErrorCode::Other);
        assert_eq!(report.message, "hot");
    }

    #[test]
    fn values_are_validated() {
        let cases = [
            (
                r#"{"v":1,"type":"telemetry","server":"s","seq":1,"cpu_load":1.5,"free_resources":0.2,"queue_depth":0,"fps":0.0,"encoders_busy":0}"#,
                "invalid telemetry.cpu_load 1.5 (expected a number in 0..=1)",
            ),
            (
                r#"{"v":1,"type":"telemetry","server":"s","seq":1,"cpu_load":0.5,"free_resources":-0.1,"queue_depth":0,"fps":0.0,"encoders_busy":0}"#,
                "invalid telemetry.free_resources -0.1 (expected a number in 0..=1)",
            ),
            (
                r#"{"v":1,"type":"telemetry","server":"s","seq":1,"cpu_load":0.5,"free_resources":0.1,"queue_depth":0,"fps":-3,"encoders_busy":0}"#,
                "invalid telemetry.fps -3 (expected a number >= 0)",
            ),
            (
                r#"{"v":1,"type":"swarm_join","job":"j","server":"s","slots":0}"#,
                "invalid swarm_join.slots 0 (expected >= 1)",
            ),
            (
                r#"{"v":1,"type":"cancel","job":"j","attempt":2}"#,
                "invalid attempt 2 (expected no attempt in a cancel message without a chunk)",
            ),
            (
                r#"{"v":1,"type":"chunk_assignment","job":"j","chunk":0,"attempt":0,"profile_id":0,"first_frame":0,"frame_count":0,"frame_size":345600,"scene":0,"source_crc32":0}"#,
                "invalid chunk_assignment.frame_count 0 (expected >= 1)",
            ),
            (
                r#"{"v":1,"type":"chunk_done","job":"j","chunk":0,"attempt":0,"server":"s","parts":0,"bytes":0,"crc32":0,"encode_ms":0,"frames":1}"#,
                "invalid chunk_done.parts 0 (expected >= 1)",
            ),
        ];
        for (json, text) in cases {
            assert_eq!(
                Control::decode(json.as_bytes()).unwrap_err().to_string(),
                text
            );
        }
    }

    #[test]
    fn expectations_follow_the_messages() {
        let a = ChunkAssignment {
            job: job(),
            chunk: 3,
            attempt: 1,
            profile_id: 0,
            first_frame: 120,
            frame_count: 40,
            frame_size: 345_600,
            scene: 2,
            source_crc32: 0xdead_beef,
        };
        assert_eq!(
            a.expected_source(),
            Expected {
                parts: None,
                bytes: 13_824_000,
                crc32: 0xdead_beef
            }
        );
        assert_eq!(a.stream().to_string(), "job job-1 chunk 3 attempt 1");
    }
}
