//! An encoding server: joins the broker, announces itself (retained status, Last Will for an
//! ungraceful exit), takes profile and chunk assignments, receives source frames over MQTT,
//! encodes one chunk at a time and streams the encoded parts back while encoding, publishes
//! telemetry, honours cancellation, and leaves gracefully on shutdown.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event};
use tokio::sync::mpsc;

use bitswarm_codec::{open_encoder, EncoderConfig};
use bitswarm_core::{EncoderKind, Frame, Profile, VideoInfo};
use bitswarm_proto::{
    Capabilities, ChunkAssignment, ChunkAttempt, ChunkDone, Control, DataKind, DataPart, ErrorCode,
    ErrorReport, JobId, OfflineReason, PartWriter, ProfileAssignment, Reassembler, ServerId,
    ServerState, ServerStatus, ServerTopic, SwarmJoin, SwarmLeave, SwarmLeaveReason, Telemetry,
    TopicRef, Topics,
};

use crate::mqtt::{self, BrokerUrl, Will};
use crate::{Config, Error, Result};

/// Source data of streams whose assignment has not arrived yet, at most this many bytes each.
const MAX_ORPHAN_BYTES: u64 = 1 << 30;
/// ... and at most this many such streams.
const MAX_ORPHANS: usize = 4;

/// How a server runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub id: String,
    pub topic_root: String,
    pub part_bytes: usize,
    pub telemetry: Duration,
    /// Chunks held at once (one encoding, the others receiving or queued).
    pub slots: u32,
    /// FFmpeg binary for x264, x265, SVT-AV1 and libaom (`None`: `$BITSWARM_FFMPEG`, then PATH).
    pub ffmpeg: Option<std::path::PathBuf>,
}

impl WorkerOptions {
    pub fn new(id: String, config: &Config) -> Self {
        Self {
            id,
            topic_root: config.transport.topic_root.clone(),
            part_bytes: config.transport.part_bytes as usize,
            telemetry: Duration::from_millis(config.transport.telemetry_ms.max(50)),
            slots: config.scheduler.slots_per_server,
            ffmpeg: None,
        }
    }
}

/// A chunk whose source frames are all here.
struct ReadyChunk {
    assignment: ChunkAssignment,
    profile: Profile,
    source: VideoInfo,
    data: Vec<u8>,
}

/// A chunk waiting for its frames.
struct Receiving {
    assignment: Option<ChunkAssignment>,
    reassembler: Reassembler,
}

enum EncodeOutcome {
    Done,
    Cancelled,
    Failed(String),
}

struct Running {
    stream: ChunkAttempt,
    cancel: Arc<AtomicBool>,
}

struct Worker {
    id: ServerId,
    opts: WorkerOptions,
    topics: Topics,
    client: AsyncClient,
    profiles: BTreeMap<(JobId, u32), (Profile, VideoInfo)>,
    jobs: BTreeSet<JobId>,
    /// The encoders this machine can run, probed once at start.
    encoders: Vec<EncoderKind>,
    receiving: BTreeMap<ChunkAttempt, Receiving>,
    queue: VecDeque<ReadyChunk>,
    running: Option<Running>,
    done_tx: mpsc::UnboundedSender<(ChunkAttempt, EncodeOutcome)>,
    frames_encoded: Arc<AtomicU64>,
    leaving: bool,
}

/// Runs a server until `shutdown` resolves, then leaves gracefully: queued chunks are handed
/// back, the running one is finished, and the retained status says `offline` (`leave`).
pub async fn run(
    url: BrokerUrl,
    opts: WorkerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let id = ServerId::new(opts.id.clone())?;
    let topics = Topics::new(opts.topic_root.clone())?;
    let status_topic = topics.server_status(&id);
    let lost = Control::ServerStatus(ServerStatus {
        server: id.clone(),
        state: ServerState::Offline {
            reason: OfflineReason::Lost,
        },
    });
    let will = Will {
        topic: status_topic.clone(),
        payload: lost.encode(),
    };
    let (client, mut eventloop) = mqtt::connect(&url, &format!("bitswarm-server-{id}"), Some(will));
    let (incoming_tx, mut incoming) = mpsc::unbounded_channel::<(String, bytes::Bytes)>();
    let (connected_tx, mut connected) = mpsc::unbounded_channel::<()>();
    let closing = Arc::new(AtomicBool::new(false));
    let poller_closing = closing.clone();
    let poller = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let topic = String::from_utf8_lossy(&p.topic).into_owned();
                    if incoming_tx.send((topic, p.payload)).is_err() {
                        break;
                    }
                }
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = connected_tx.send(());
                }
                Ok(_) => {}
                Err(_) if poller_closing.load(Ordering::Relaxed) => break,
                Err(e) => {
                    tracing::warn!(%e, "MQTT connection error, retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    });
    // Advertise only what this machine can run (FFmpeg backends need an FFmpeg that has them).
    let ffmpeg = opts.ffmpeg.clone();
    let encoders = tokio::task::spawn_blocking(move || {
        bitswarm_codec::available_encoders(ffmpeg.as_deref())
            .into_iter()
            .filter(|a| a.available)
            .map(|a| a.kind)
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| Error::Mqtt(format!("encoder probe failed: {e}")))?;
    tracing::info!(?encoders, "encoders available");
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut worker = Worker {
        id,
        opts,
        topics,
        client,
        profiles: BTreeMap::new(),
        jobs: BTreeSet::new(),
        encoders,
        receiving: BTreeMap::new(),
        queue: VecDeque::new(),
        running: None,
        done_tx,
        frames_encoded: Arc::new(AtomicU64::new(0)),
        leaving: false,
    };
    let mut telemetry = tokio::time::interval(worker.opts.telemetry);
    let mut cpu = CpuMeter::new();
    let mut seq = 0u64;
    let mut last_frames = (Instant::now(), 0u64);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            Some(()) = connected.recv() => worker.announce().await?,
            Some((topic, payload)) = incoming.recv() => worker.handle(&topic, &payload).await,
            Some((stream, outcome)) = done_rx.recv() => worker.finished(stream, outcome).await,
            _ = telemetry.tick() => {
                seq += 1;
                let now = (Instant::now(), worker.frames_encoded.load(Ordering::Relaxed));
                let fps = (now.1 - last_frames.1) as f64 / now.0.duration_since(last_frames.0).as_secs_f64().max(1e-3);
                last_frames = now;
                worker.publish_telemetry(seq, cpu.load(), fps).await;
            }
            () = &mut shutdown, if !worker.leaving => worker.begin_leave().await,
        }
        if worker.leaving && worker.running.is_none() {
            break;
        }
    }
    closing.store(true, Ordering::Relaxed);
    worker.finish_leave().await;
    poller.abort();
    Ok(())
}

impl Worker {
    async fn publish(&self, topic: String, retain: bool, payload: Vec<u8>) {
        if let Err(e) = self
            .client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
        {
            tracing::warn!(%e, "publish failed");
        }
    }

    async fn send_event(&self, job: &JobId, message: Control) {
        self.publish(self.topics.job_events(job), false, message.encode())
            .await;
    }

    /// On every (re)connection: subscribe and publish the retained online status.
    async fn announce(&mut self) -> Result<()> {
        for topic in [ServerTopic::Inbox, ServerTopic::Frames] {
            self.client
                .subscribe(self.topics.server(&self.id, topic), QoS::AtLeastOnce)
                .await
                .map_err(|e| Error::Mqtt(e.to_string()))?;
        }
        let state = if self.leaving {
            ServerState::Leaving
        } else {
            ServerState::Online {
                capabilities: Capabilities {
                    encoders: self.encoders.iter().map(|e| e.name().to_owned()).collect(),
                    cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    hostname: hostname(),
                },
            }
        };
        let status = Control::ServerStatus(ServerStatus {
            server: self.id.clone(),
            state,
        });
        self.publish(self.topics.server_status(&self.id), true, status.encode())
            .await;
        tracing::info!(server = %self.id, "joined");
        Ok(())
    }

    async fn handle(&mut self, topic: &str, payload: &[u8]) {
        match self.topics.parse(topic) {
            Some(TopicRef::Server(_, ServerTopic::Inbox)) => match Control::decode(payload) {
                Ok(message) => self.control(message).await,
                Err(e) => tracing::warn!(%e, topic, "dropped a malformed control message"),
            },
            Some(TopicRef::Server(_, ServerTopic::Frames)) => match DataPart::decode(payload) {
                Ok(part) => self.source_part(part).await,
                Err(e) => tracing::warn!(%e, topic, "dropped a malformed data part"),
            },
            _ => tracing::warn!(topic, "dropped a message on an unexpected topic"),
        }
    }

    async fn control(&mut self, message: Control) {
        match message {
            Control::ProfileAssignment(ProfileAssignment {
                job,
                profile_id,
                profile,
                source,
            }) => {
                if let Err(e) = profile.validate() {
                    let report = self.error(&job, None, ErrorCode::InvalidProfile, e.to_string());
                    self.send_event(&job, report).await;
                    return;
                }
                self.profiles
                    .insert((job.clone(), profile_id), (profile, source));
                if self.jobs.insert(job.clone()) {
                    let join = Control::SwarmJoin(SwarmJoin {
                        job: job.clone(),
                        server: self.id.clone(),
                        slots: self.opts.slots,
                    });
                    self.send_event(&job, join).await;
                }
            }
            Control::ChunkAssignment(assignment) => self.assignment(assignment).await,
            Control::Cancel(cancel) => {
                let hit = |s: &ChunkAttempt| {
                    s.job == cancel.job
                        && cancel.chunk.is_none_or(|c| c == s.chunk)
                        && cancel.attempt.is_none_or(|a| a == s.attempt)
                };
                self.receiving.retain(|s, _| !hit(s));
                self.queue.retain(|r| !hit(&r.assignment.stream()));
                if let Some(running) = &self.running {
                    if hit(&running.stream) {
                        running.cancel.store(true, Ordering::Relaxed);
                    }
                }
            }
            Control::JobEnd(end) => {
                self.jobs.remove(&end.job);
                self.profiles.retain(|(job, _), _| *job != end.job);
                self.receiving.retain(|s, _| s.job != end.job);
                self.queue.retain(|r| r.assignment.job != end.job);
            }
            other => tracing::warn!(kind = other.type_name(), "unexpected message in the inbox"),
        }
    }

    fn error(
        &self,
        job: &JobId,
        stream: Option<&ChunkAttempt>,
        code: ErrorCode,
        message: String,
    ) -> Control {
        Control::Error(ErrorReport {
            job: job.clone(),
            chunk: stream.map(|s| s.chunk),
            attempt: stream.map(|s| s.attempt),
            server: self.id.clone(),
            code,
            message,
        })
    }

    async fn assignment(&mut self, assignment: ChunkAssignment) {
        let stream = assignment.stream();
        tracing::debug!(%stream, "chunk assigned");
        if self.leaving {
            let e = self.error(
                &stream.job,
                Some(&stream),
                ErrorCode::Overloaded,
                "server is leaving".into(),
            );
            self.send_event(&stream.job, e).await;
            return;
        }
        if !self
            .profiles
            .contains_key(&(stream.job.clone(), assignment.profile_id))
        {
            let msg = format!(
                "profile {} of job {} was never assigned",
                assignment.profile_id, stream.job
            );
            let e = self.error(&stream.job, Some(&stream), ErrorCode::UnknownProfile, msg);
            self.send_event(&stream.job, e).await;
            return;
        }
        let max = assignment.source_bytes();
        let entry = self
            .receiving
            .entry(stream.clone())
            .or_insert_with(|| Receiving {
                assignment: None,
                reassembler: Reassembler::new(DataKind::Source, stream.clone(), max),
            });
        entry.assignment = Some(assignment);
        self.try_complete(&stream).await;
    }

    async fn source_part(&mut self, part: DataPart) {
        if part.kind() != DataKind::Source {
            tracing::warn!(stream = %part.stream(), "dropped an encoded part on the frames topic");
            return;
        }
        let stream = part.stream().clone();
        if !self.receiving.contains_key(&stream) {
            let orphans = self
                .receiving
                .values()
                .filter(|r| r.assignment.is_none())
                .count();
            if orphans >= MAX_ORPHANS {
                tracing::warn!(%stream, "dropped a source part of an unknown chunk");
                return;
            }
            self.receiving.insert(
                stream.clone(),
                Receiving {
                    assignment: None,
                    reassembler: Reassembler::new(
                        DataKind::Source,
                        stream.clone(),
                        MAX_ORPHAN_BYTES,
                    ),
                },
            );
        }
        let entry = self.receiving.get_mut(&stream).expect("inserted above");
        if let Err(e) = entry.reassembler.push(&part) {
            tracing::warn!(%e, %stream, "dropped a bad source part");
            return;
        }
        self.try_complete(&stream).await;
    }

    /// Moves a chunk whose assignment and frames are all here to the encode queue.
    async fn try_complete(&mut self, stream: &ChunkAttempt) {
        let ready = self
            .receiving
            .get(stream)
            .is_some_and(|r| r.assignment.is_some() && r.reassembler.is_complete());
        if !ready {
            return;
        }
        let Receiving {
            assignment,
            reassembler,
        } = self.receiving.remove(stream).expect("checked above");
        let assignment = assignment.expect("checked above");
        let (profile, source) = self.profiles[&(stream.job.clone(), assignment.profile_id)].clone();
        match reassembler.finish(&assignment.expected_source()) {
            Ok(data)
                if data.len() as u64
                    == u64::from(assignment.frame_count) * source.frame_len() as u64 =>
            {
                self.queue.push_back(ReadyChunk {
                    assignment,
                    profile,
                    source,
                    data,
                });
                self.start_next();
            }
            Ok(data) => {
                let msg = format!(
                    "source of {} bytes is not {} frames of {}x{}",
                    data.len(),
                    assignment.frame_count,
                    source.width,
                    source.height
                );
                let e = self.error(&stream.job, Some(stream), ErrorCode::BadSource, msg);
                self.send_event(&stream.job, e).await;
            }
            Err(err) => {
                let e = self.error(
                    &stream.job,
                    Some(stream),
                    ErrorCode::BadSource,
                    err.to_string(),
                );
                self.send_event(&stream.job, e).await;
            }
        }
    }

    fn start_next(&mut self) {
        if self.running.is_some() {
            return;
        }
        let Some(chunk) = self.queue.pop_front() else {
            return;
        };
        let stream = chunk.assignment.stream();
        let cancel = Arc::new(AtomicBool::new(false));
        self.running = Some(Running {
            stream: stream.clone(),
            cancel: cancel.clone(),
        });
        let ctx = EncodeContext {
            client: self.client.clone(),
            topics: self.topics.clone(),
            server: self.id.clone(),
            part_bytes: self.opts.part_bytes,
            ffmpeg: self.opts.ffmpeg.clone(),
            cancel,
            frames_encoded: self.frames_encoded.clone(),
            runtime: tokio::runtime::Handle::current(),
        };
        let done = self.done_tx.clone();
        tokio::task::spawn_blocking(move || {
            let outcome = ctx.encode(chunk);
            let _ = done.send((stream, outcome));
        });
    }

    async fn finished(&mut self, stream: ChunkAttempt, outcome: EncodeOutcome) {
        self.running = None;
        match outcome {
            EncodeOutcome::Done => tracing::debug!(%stream, "chunk done"),
            EncodeOutcome::Cancelled => tracing::info!(%stream, "chunk cancelled"),
            EncodeOutcome::Failed(message) => {
                tracing::warn!(%stream, %message, "chunk failed");
                let e = self.error(&stream.job, Some(&stream), ErrorCode::EncodeFailed, message);
                self.send_event(&stream.job, e).await;
            }
        }
        if !self.leaving {
            self.start_next();
        }
    }

    async fn publish_telemetry(&self, seq: u64, cpu_load: f64, fps: f64) {
        let held = self.queue.len() + self.receiving.len() + usize::from(self.running.is_some());
        let free = 1.0 - (held as f64 / f64::from(self.opts.slots.max(1))).min(1.0);
        let t = Control::Telemetry(Telemetry {
            server: self.id.clone(),
            seq,
            cpu_load,
            free_resources: free,
            queue_depth: held as u32,
            fps,
            encoders_busy: u32::from(self.running.is_some()),
            timestamp_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_millis() as u64),
        });
        if let Err(e) = self
            .client
            .publish(
                self.topics.server_telemetry(&self.id),
                QoS::AtMostOnce,
                false,
                t.encode(),
            )
            .await
        {
            tracing::debug!(%e, "telemetry not sent");
        }
    }

    /// Stops taking work and hands back every chunk that is not encoding.
    async fn begin_leave(&mut self) {
        tracing::info!(server = %self.id, "leaving: finishing the running chunk, handing back the rest");
        self.leaving = true;
        let status = Control::ServerStatus(ServerStatus {
            server: self.id.clone(),
            state: ServerState::Leaving,
        });
        self.publish(self.topics.server_status(&self.id), true, status.encode())
            .await;
        let mut handed: Vec<ChunkAttempt> = self
            .queue
            .drain(..)
            .map(|r| r.assignment.stream())
            .collect();
        handed.extend(
            std::mem::take(&mut self.receiving)
                .into_iter()
                .filter(|(_, r)| r.assignment.is_some())
                .map(|(s, _)| s),
        );
        for stream in handed {
            let e = self.error(
                &stream.job,
                Some(&stream),
                ErrorCode::Overloaded,
                "handed back: server is leaving".into(),
            );
            self.send_event(&stream.job, e).await;
        }
    }

    async fn finish_leave(&mut self) {
        for job in std::mem::take(&mut self.jobs) {
            let leave = Control::SwarmLeave(SwarmLeave {
                job: job.clone(),
                server: self.id.clone(),
                reason: SwarmLeaveReason::Shutdown,
            });
            self.send_event(&job, leave).await;
        }
        let status = Control::ServerStatus(ServerStatus {
            server: self.id.clone(),
            state: ServerState::Offline {
                reason: OfflineReason::Leave,
            },
        });
        self.publish(self.topics.server_status(&self.id), true, status.encode())
            .await;
        // A clean DISCONNECT: the broker drops the Last Will.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.disconnect()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        tracing::info!(server = %self.id, "left");
    }
}

/// What the blocking encode task needs.
struct EncodeContext {
    client: AsyncClient,
    topics: Topics,
    server: ServerId,
    part_bytes: usize,
    ffmpeg: Option<std::path::PathBuf>,
    cancel: Arc<AtomicBool>,
    frames_encoded: Arc<AtomicU64>,
    runtime: tokio::runtime::Handle,
}

impl EncodeContext {
    fn publish(&self, topic: String, payload: Vec<u8>) -> std::result::Result<(), String> {
        self.runtime
            .block_on(self.client.publish(topic, QoS::AtLeastOnce, false, payload))
            .map_err(|e| e.to_string())
    }

    /// Encodes one chunk, publishing parts as the encoder produces them.
    fn encode(&self, chunk: ReadyChunk) -> EncodeOutcome {
        match self.try_encode(chunk) {
            Ok(true) => EncodeOutcome::Done,
            Ok(false) => EncodeOutcome::Cancelled,
            Err(e) => EncodeOutcome::Failed(e),
        }
    }

    fn try_encode(&self, chunk: ReadyChunk) -> std::result::Result<bool, String> {
        let started = Instant::now();
        let a = &chunk.assignment;
        let stream = a.stream();
        let data_topic = self.topics.job_data(&stream.job);
        let config = EncoderConfig {
            profile: chunk.profile.clone(),
            source: chunk.source,
            threads: 1,
            ffmpeg: bitswarm_codec::Ffmpeg::locate(self.ffmpeg.as_deref()),
        };
        let mut encoder = open_encoder(&config).map_err(|e| e.to_string())?;
        let mut writer = PartWriter::new(DataKind::Encoded, stream.clone(), self.part_bytes)
            .map_err(|e| e.to_string())?;
        let frame_len = chunk.source.frame_len();
        let mut frames_out = 0u32;
        let send = |writer: &mut PartWriter, data: &[u8]| -> std::result::Result<(), String> {
            for part in writer.write(data).map_err(|e| e.to_string())? {
                self.publish(data_topic.clone(), part.encode())?;
            }
            Ok(())
        };
        for raw in chunk.data.chunks_exact(frame_len) {
            if self.cancel.load(Ordering::Relaxed) {
                return Ok(false);
            }
            let frame = Frame::from_packed(&chunk.source, raw).map_err(|e| e.to_string())?;
            encoder.send_frame(&frame).map_err(|e| e.to_string())?;
            while let Some(packet) = encoder.receive_packet().map_err(|e| e.to_string())? {
                frames_out += 1;
                send(&mut writer, &packet.data)?;
            }
            self.frames_encoded.fetch_add(1, Ordering::Relaxed);
        }
        encoder.flush().map_err(|e| e.to_string())?;
        while let Some(packet) = encoder.receive_packet().map_err(|e| e.to_string())? {
            frames_out += 1;
            send(&mut writer, &packet.data)?;
        }
        if frames_out != a.frame_count {
            return Err(format!(
                "encoder produced {frames_out} frames for {}",
                a.frame_count
            ));
        }
        let (last, summary) = writer.finish().map_err(|e| e.to_string())?;
        self.publish(data_topic, last.encode())?;
        let done = Control::ChunkDone(ChunkDone {
            job: stream.job.clone(),
            chunk: stream.chunk,
            attempt: stream.attempt,
            server: self.server.clone(),
            parts: summary.parts,
            bytes: summary.bytes,
            crc32: summary.crc32,
            encode_ms: started.elapsed().as_millis() as u64,
            frames: frames_out,
        });
        self.publish(self.topics.job_events(&stream.job), done.encode())?;
        Ok(true)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// Host CPU load from `/proc/stat` deltas (0 where that file does not exist).
struct CpuMeter {
    last: Option<(u64, u64)>,
}

impl CpuMeter {
    fn new() -> Self {
        Self {
            last: Self::sample(),
        }
    }

    fn sample() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?;
        let values: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        let idle = values.get(3)? + values.get(4).unwrap_or(&0);
        Some((values.iter().sum(), idle))
    }

    fn load(&mut self) -> f64 {
        let now = Self::sample();
        let load = match (self.last, now) {
            (Some((t0, i0)), Some((t1, i1))) if t1 > t0 => {
                1.0 - (i1 - i0) as f64 / (t1 - t0) as f64
            }
            _ => 0.0,
        };
        self.last = now;
        load.clamp(0.0, 1.0)
    }
}
