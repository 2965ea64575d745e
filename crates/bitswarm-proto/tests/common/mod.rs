//! Sample messages shared by the integration tests.

use bitswarm_core::{DeviceClass, Profile, RateControl, Rational, Resolution, VideoInfo};
use bitswarm_proto::{
    Cancel, Capabilities, ChunkAssignment, ChunkDone, Control, ErrorCode, ErrorReport, JobEnd,
    JobEndReason, JobId, OfflineReason, ProfileAssignment, ServerId, ServerState, ServerStatus,
    SwarmJoin, SwarmLeave, SwarmLeaveReason, Telemetry,
};

pub fn job() -> JobId {
    JobId::new("job-42").unwrap()
}

pub fn server() -> ServerId {
    ServerId::new("enc-01").unwrap()
}

fn status(state: ServerState) -> Control {
    Control::ServerStatus(ServerStatus {
        server: server(),
        state,
    })
}

/// At least one message of every type, and every value of every enum field.
pub fn samples() -> Vec<Control> {
    let mut all = vec![
        status(ServerState::Online {
            capabilities: Capabilities {
                encoders: vec!["openh264".into(), "x264".into()],
                cores: 8,
                version: "0.1.0".into(),
                hostname: "rack3-node7".into(),
            },
        }),
        status(ServerState::Leaving),
        Control::Telemetry(Telemetry {
            server: server(),
            seq: 17,
            cpu_load: 0.73,
            free_resources: 0.2,
            queue_depth: 3,
            fps: 241.5,
            encoders_busy: 2,
            timestamp_ms: Some(1_718_000_000_123),
        }),
        Control::Telemetry(Telemetry {
            server: server(),
            seq: 0,
            cpu_load: 0.0,
            free_resources: 1.0,
            queue_depth: 0,
            fps: 0.0,
            encoders_busy: 0,
            timestamp_ms: None,
        }),
        Control::SwarmJoin(SwarmJoin {
            job: job(),
            server: server(),
            slots: 2,
        }),
        Control::ProfileAssignment(ProfileAssignment {
            job: job(),
            profile_id: 1,
            profile: Profile {
                name: "mobile-360p".into(),
                resolution: Resolution::Fixed {
                    width: 640,
                    height: 360,
                },
                rate: RateControl::Bitrate { kbps: 800 },
                device: DeviceClass::Mobile,
                redundancy: 1,
                ..Profile::default()
            },
            source: VideoInfo::new(1280, 720, Rational::new(30000, 1001).unwrap()).unwrap(),
        }),
        Control::ProfileAssignment(ProfileAssignment {
            job: job(),
            profile_id: 0,
            profile: Profile::default(),
            source: VideoInfo::new(640, 272, Rational::new(25, 1).unwrap()).unwrap(),
        }),
        Control::ChunkAssignment(ChunkAssignment {
            job: job(),
            chunk: 7,
            attempt: 1,
            profile_id: 1,
            first_frame: 350,
            frame_count: 50,
            frame_size: 1_382_400,
            scene: 3,
            source_crc32: 0x1c29_1ca3,
        }),
        Control::Cancel(Cancel {
            job: job(),
            chunk: Some(7),
            attempt: Some(1),
        }),
        Control::Cancel(Cancel {
            job: job(),
            chunk: Some(7),
            attempt: None,
        }),
        Control::Cancel(Cancel {
            job: job(),
            chunk: None,
            attempt: None,
        }),
        Control::ChunkDone(ChunkDone {
            job: job(),
            chunk: 7,
            attempt: 1,
            server: server(),
            parts: 3,
            bytes: 612_345,
            crc32: 0x8bd6_9e52,
            encode_ms: 412,
            frames: 50,
        }),
    ];
    for reason in [OfflineReason::Leave, OfflineReason::Lost] {
        all.push(status(ServerState::Offline { reason }));
    }
    for reason in [
        SwarmLeaveReason::Shutdown,
        SwarmLeaveReason::Overloaded,
        SwarmLeaveReason::Failed,
    ] {
        all.push(Control::SwarmLeave(SwarmLeave {
            job: job(),
            server: server(),
            reason,
        }));
    }
    let codes = [
        ErrorCode::InvalidProfile,
        ErrorCode::UnsupportedEncoder,
        ErrorCode::UnknownProfile,
        ErrorCode::BadSource,
        ErrorCode::EncodeFailed,
        ErrorCode::Overloaded,
        ErrorCode::Protocol,
        ErrorCode::Internal,
        ErrorCode::Other,
    ];
    for (i, code) in codes.into_iter().enumerate() {
        let chunk = (i % 2 == 0).then_some(i as u32);
        all.push(Control::Error(ErrorReport {
            job: job(),
            chunk,
            attempt: chunk.map(|_| 0),
            server: server(),
            code,
            message: format!("failure \"{i}\"\nwith a newline and ünïcödé"),
        }));
    }
    for reason in [
        JobEndReason::Done,
        JobEndReason::Cancelled,
        JobEndReason::Failed,
        JobEndReason::Lost,
    ] {
        all.push(Control::JobEnd(JobEnd { job: job(), reason }));
    }
    all
}
