//! One encode job: the controller process.
//!
//! A reader thread pulls frames from the input; the controller analyses each frame, cuts chunks
//! online, and asks the [`Scheduler`] what to do, feeding it wall-clock time since the job
//! started. Source frames go to the assigned servers over MQTT; encoded parts come back, are
//! reassembled and verified, journalled, decoded and compared with their source (PSNR). Only the
//! chunks of the in-memory window hold frames, so memory does not grow with the input's length.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event};
use tokio::sync::{mpsc, oneshot};

use bitswarm_analysis::{Analyzer, FrameStats};
use bitswarm_codec::{Decoder, OpenH264Decoder};
use bitswarm_controller::{
    AttemptOutcome, Capabilities, ChunkSpan, Chunker, Command, Completion, Load, Scheduler,
};
use bitswarm_core::{EncoderKind, Frame, VideoInfo};
use bitswarm_media::{open_input, InputOptions};
use bitswarm_proto::{
    split_into_parts, ChunkAssignment, ChunkAttempt, ChunkDone, Control, DataKind, DataPart,
    ErrorCode, JobEnd, JobEndReason, JobId, JobTopic, ProfileAssignment, Reassembler, ServerId,
    ServerState, ServerTopic, TopicRef, Topics,
};
use bitswarm_quality::psnr;

use crate::journal::{JobIdentity, Journal};
use crate::mqtt::{self, BrokerUrl, Will};
use crate::report::{
    ChunkReport, Outputs, PsnrReport, RedundancyReport, Report, ServerReport, TelemetrySample,
};
use crate::{Config, Error, Result};

/// Encoded bytes one chunk attempt may send, at most.
const MAX_CHUNK_BYTES: u64 = 1 << 30;

/// Where a job stands, for progress bars.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub frames_read: u64,
    /// Frames in the input, when known in advance.
    pub frames_total: Option<u64>,
    /// Frames encoded, verified and written.
    pub frames_done: u64,
    pub servers_busy: usize,
    pub servers_online: usize,
}

/// What to encode and how.
pub struct EncodeJob {
    /// A path, or `-` for stdin.
    pub input: String,
    pub outdir: PathBuf,
    pub config: Config,
    pub resume: bool,
    pub ffmpeg: Option<PathBuf>,
    pub job_id: String,
    pub progress: Box<dyn Fn(&Progress) + Send>,
}

/// A topic-safe job id from the input's name and the time.
pub fn default_job_id(input: &str) -> String {
    let stem = std::path::Path::new(input)
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| *s != "-")
        .unwrap_or("stdin");
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{stem}-{ms:x}")
}

/// What the reader thread sends.
enum Input {
    Frame(Frame),
    Error(Error),
}

/// Source frames of a chunk, kept until its output is verified.
struct ChunkSource {
    span: ChunkSpan,
    data: Arc<Vec<u8>>,
    crc32: u32,
}

/// Result of decoding a finished chunk and comparing it with its source.
struct Verified {
    chunk: u32,
    /// Per frame: PSNR of Y, U, V.
    psnr: std::result::Result<Vec<[f64; 3]>, String>,
}

struct Receiving {
    reassembler: Reassembler,
    done: Option<ChunkDone>,
}

struct Job {
    id: JobId,
    topics: Topics,
    client: AsyncClient,
    config: Config,
    info: VideoInfo,
    started: Instant,
    scheduler: Scheduler,
    journal: Journal,
    sources: BTreeMap<u32, ChunkSource>,
    receiving: BTreeMap<ChunkAttempt, Receiving>,
    servers: BTreeMap<String, ServerReport>,
    redundancy: RedundancyReport,
    chunk_psnr: BTreeMap<u32, Vec<[f64; 3]>>,
    verify_tx: mpsc::UnboundedSender<Verified>,
    verifying: usize,
    progress: Progress,
    chunks_planned: u32,
}

/// Runs one job to the end and returns its report (also written to `OUTDIR/report.json`).
pub async fn run(url: BrokerUrl, job: EncodeJob) -> Result<Report> {
    let EncodeJob {
        input,
        outdir,
        config,
        resume,
        ffmpeg,
        job_id,
        progress: on_progress,
    } = job;
    config.validate()?;
    let id = JobId::new(job_id)?;
    let topics = Topics::new(config.transport.topic_root.clone())?;

    // Open the input first: a bad input fails before anything else happens.
    let (frames_rx, info, input_format, frames_total) = spawn_reader(&input, ffmpeg).await?;
    std::fs::create_dir_all(&outdir)
        .map_err(|e| Error::Output(format!("cannot create {}: {e}", outdir.display())))?;
    let identity = JobIdentity {
        input: if input == "-" {
            "-".into()
        } else {
            std::fs::canonicalize(&input).map_or(input.clone(), |p| p.display().to_string())
        },
        input_bytes: std::fs::metadata(&input).ok().map(|m| m.len()),
        config_crc: config.output_fingerprint(),
    };
    let journal = Journal::open(&outdir, &identity, resume)?;

    let will = Will {
        topic: topics.job(&id, JobTopic::Status),
        payload: Control::JobEnd(JobEnd {
            job: id.clone(),
            reason: JobEndReason::Lost,
        })
        .encode(),
    };
    let (client, mut eventloop) = mqtt::connect(&url, &format!("bitswarm-ctl-{id}"), Some(will));
    let (events_tx, mut events) =
        mpsc::unbounded_channel::<std::result::Result<(String, bytes::Bytes), String>>();
    let (connected_tx, mut connected) = mpsc::unbounded_channel::<()>();
    let poller = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let topic = String::from_utf8_lossy(&p.topic).into_owned();
                    if events_tx.send(Ok((topic, p.payload))).is_err() {
                        break;
                    }
                }
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = connected_tx.send(());
                }
                Ok(_) => {}
                Err(e) => {
                    if events_tx.send(Err(e.to_string())).is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    });

    let (verify_tx, mut verified) = mpsc::unbounded_channel();
    let mut job = Job {
        scheduler: Scheduler::new(
            config.scheduler.clone(),
            config.policy.clone(),
            config.profile.clone(),
        ),
        id,
        topics,
        client,
        info,
        started: Instant::now(),
        journal,
        sources: BTreeMap::new(),
        receiving: BTreeMap::new(),
        servers: BTreeMap::new(),
        redundancy: RedundancyReport::default(),
        chunk_psnr: BTreeMap::new(),
        verify_tx,
        verifying: 0,
        progress: Progress {
            frames_total,
            ..Progress::default()
        },
        chunks_planned: 0,
        config,
    };
    let result = job
        .drive(
            &url,
            frames_rx,
            &mut events,
            &mut connected,
            &mut verified,
            &*on_progress,
        )
        .await;
    let end = Control::JobEnd(JobEnd {
        job: job.id.clone(),
        reason: if result.is_ok() {
            JobEndReason::Done
        } else {
            JobEndReason::Failed
        },
    });
    // Tell servers to drop the job's state; retained so a server that reconnects learns it too.
    let _ = job
        .client
        .publish(
            job.topics.job(&job.id, JobTopic::Status),
            QoS::AtLeastOnce,
            true,
            end.encode(),
        )
        .await;
    for server in job.servers.keys() {
        if let Ok(sid) = ServerId::new(server.clone()) {
            let _ = job
                .client
                .publish(
                    job.topics.server_inbox(&sid),
                    QoS::AtLeastOnce,
                    false,
                    end.encode(),
                )
                .await;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), job.client.disconnect()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    poller.abort();
    let analysis = result?;
    let report = job.write_outputs(&outdir, &input, input_format, analysis)?;
    job.journal.remove()?;
    Ok(report)
}

type InputReceiver = mpsc::Receiver<Input>;

/// Opens the input and starts a thread that reads it frame by frame.
async fn spawn_reader(
    input: &str,
    ffmpeg: Option<PathBuf>,
) -> Result<(InputReceiver, VideoInfo, String, Option<u64>)> {
    let (open_tx, open_rx) = oneshot::channel();
    let (tx, rx) = mpsc::channel(8);
    let path = input.to_owned();
    std::thread::Builder::new()
        .name("input".into())
        .spawn(move || {
            let opts = InputOptions {
                ffmpeg,
                ..InputOptions::default()
            };
            let mut source = match open_input(&path, &opts) {
                Ok(s) => {
                    let _ = open_tx.send(Ok((
                        s.info(),
                        s.describe(),
                        frame_count_hint(&path, &s.info()),
                    )));
                    s
                }
                Err(e) => {
                    let _ = open_tx.send(Err(Error::from(e)));
                    return;
                }
            };
            loop {
                let item = match source.next_frame() {
                    Ok(Some(frame)) => Input::Frame(frame),
                    Ok(None) => break,
                    Err(e) => Input::Error(e.into()),
                };
                let stop = matches!(item, Input::Error(_));
                if tx.blocking_send(item).is_err() || stop {
                    break;
                }
            }
        })?;
    let (info, format, total) = open_rx
        .await
        .map_err(|_| Error::Output("the input reader stopped".into()))??;
    Ok((rx, info, format, total))
}

/// Frames in a Y4M file, from its size (a hint for the progress bar only).
fn frame_count_hint(path: &str, info: &VideoInfo) -> Option<u64> {
    if path == "-" || !path.ends_with(".y4m") {
        return None;
    }
    let len = std::fs::metadata(path).ok()?.len();
    Some(len / (info.frame_len() as u64 + 6))
}

impl Job {
    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    async fn drive(
        &mut self,
        url: &BrokerUrl,
        mut frames: InputReceiver,
        events: &mut mpsc::UnboundedReceiver<std::result::Result<(String, bytes::Bytes), String>>,
        connected: &mut mpsc::UnboundedReceiver<()>,
        verified: &mut mpsc::UnboundedReceiver<Verified>,
        on_progress: &(dyn Fn(&Progress) + Send),
    ) -> Result<bitswarm_analysis::Analysis> {
        let mut analyzer = Analyzer::new(self.info, self.config.analysis.clone())
            .map_err(|e| Error::Output(format!("analysis: {e}")))?;
        let gop = self.config.profile.gop;
        let mut chunker = Chunker::new(gop.saturating_mul(self.config.chunking.gops_per_chunk));
        let mut pending = Vec::new();
        let mut input_done = false;
        let mut frames_read = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let startup = Duration::from_secs_f64(self.config.transport.startup_wait_s);
        let mut subscribed = false;
        let mut last_error: Option<String> = None;

        loop {
            let window = self.window();
            let may_read = subscribed
                && !input_done
                && self.sources.len() < window
                && self.scheduler.online_servers() > 0;
            tokio::select! {
                Some(()) = connected.recv() => {
                    self.subscribe().await?;
                    subscribed = true;
                }
                Some(event) = events.recv() => match event {
                    Ok((topic, payload)) => self.handle(&topic, &payload).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "MQTT connection error, retrying");
                        last_error = Some(e);
                    }
                },
                Some(v) = verified.recv() => self.verified(v)?,
                item = frames.recv(), if may_read => match item {
                    Some(Input::Frame(frame)) => {
                        let scene_so_far = analyzer.current_scene().complexity;
                        let stats: FrameStats = analyzer.push(&frame).map_err(|e| Error::Output(format!("analysis: {e}")))?;
                        if let Some(span) = chunker.push(stats.scene_cut) {
                            self.plan_chunk(span, std::mem::take(&mut pending), scene_so_far).await?;
                        }
                        frame.write_packed(&mut pending);
                        frames_read += 1;
                        self.progress.frames_read = frames_read;
                    }
                    Some(Input::Error(e)) => return Err(e),
                    None => {
                        input_done = true;
                        if frames_read == 0 {
                            return Err(Error::Job("the input has no frames".into()));
                        }
                        let scene = analyzer.current_scene().complexity;
                        if let Some(span) = chunker.finish() {
                            self.plan_chunk(span, std::mem::take(&mut pending), scene).await?;
                        }
                    }
                },
                _ = tick.tick() => {
                    let now = self.now();
                    self.scheduler.tick(now);
                    if self.scheduler.online_servers() == 0 && self.chunks_planned == 0 && now > startup {
                        let why = last_error.map(|e| format!(" (last connection error: {e})")).unwrap_or_default();
                        return Err(Error::Job(format!(
                            "no encoding server joined {url} within {:.0} s{why}; start one with `bitswarm worker --broker {url}`",
                            startup.as_secs_f64()
                        )));
                    }
                }
            }
            self.run_commands().await?;
            if let Some(failure) = self.scheduler.failure() {
                return Err(Error::Job(failure.to_owned()));
            }
            self.progress.servers_busy = self.scheduler.busy_servers();
            self.progress.servers_online = self.scheduler.online_servers();
            on_progress(&self.progress);
            if input_done
                && self.scheduler.unfinished() == 0
                && self.sources.is_empty()
                && self.verifying == 0
            {
                return Ok(analyzer.finish());
            }
        }
    }

    /// Chunks whose frames may be in memory at once.
    fn window(&self) -> usize {
        match self.config.chunking.window {
            0 => (2
                * self.config.scheduler.slots_per_server as usize
                * self.scheduler.online_servers())
            .max(4),
            n => n as usize,
        }
    }

    async fn subscribe(&self) -> Result<()> {
        let filters = [
            self.topics.all_servers(ServerTopic::Status),
            self.topics.all_servers(ServerTopic::Telemetry),
            self.topics.job(&self.id, JobTopic::Events),
            self.topics.job(&self.id, JobTopic::Data),
        ];
        for filter in filters {
            self.client
                .subscribe(filter, QoS::AtLeastOnce)
                .await
                .map_err(|e| Error::Mqtt(e.to_string()))?;
        }
        Ok(())
    }

    async fn plan_chunk(&mut self, span: ChunkSpan, data: Vec<u8>, complexity: u8) -> Result<()> {
        let now = self.now();
        self.chunks_planned = span.index + 1;
        let crc32 = crc32fast::hash(&data);
        let data = Arc::new(data);
        if let Some(entry) = self.journal.finished(&span).cloned() {
            tracing::info!(chunk = span.index, "chunk taken from the journal");
            self.scheduler.add_resumed_chunk(span, entry.config);
            let encoded = std::fs::read(self.journal.chunk_path(span.index))?;
            self.verify(span, data.clone(), encoded);
        } else {
            self.scheduler.add_chunk(now, span, complexity);
        }
        self.sources
            .insert(span.index, ChunkSource { span, data, crc32 });
        Ok(())
    }

    async fn run_commands(&mut self) -> Result<()> {
        while let Some(command) = self.scheduler.poll_command() {
            match command {
                Command::AssignProfile {
                    server,
                    profile_id,
                    profile,
                } => {
                    let message = Control::ProfileAssignment(ProfileAssignment {
                        job: self.id.clone(),
                        profile_id,
                        profile,
                        source: self.info,
                    });
                    self.send_inbox(&server, message).await;
                }
                Command::AssignChunk {
                    server,
                    chunk,
                    attempt,
                    profile_id,
                } => {
                    let Some(source) = self.sources.get(&chunk) else {
                        return Err(Error::Job(format!(
                            "chunk {chunk} was assigned without its frames"
                        )));
                    };
                    let assignment = ChunkAssignment {
                        job: self.id.clone(),
                        chunk,
                        attempt,
                        profile_id,
                        first_frame: source.span.first_frame,
                        frame_count: source.span.frames,
                        frame_size: self.info.frame_len() as u32,
                        scene: source.span.scene,
                        source_crc32: source.crc32,
                    };
                    let stream = assignment.stream();
                    self.receiving.insert(
                        stream.clone(),
                        Receiving {
                            reassembler: Reassembler::new(
                                DataKind::Encoded,
                                stream.clone(),
                                MAX_CHUNK_BYTES,
                            ),
                            done: None,
                        },
                    );
                    self.send_inbox(&server, Control::ChunkAssignment(assignment))
                        .await;
                    // The frames go out from a task of their own, so the controller keeps
                    // listening while megabytes are published.
                    let client = self.client.clone();
                    let data = source.data.clone();
                    let part_bytes = self.config.transport.part_bytes as usize;
                    let Ok(sid) = ServerId::new(server.clone()) else {
                        continue;
                    };
                    let topic = self.topics.server_frames(&sid);
                    tokio::spawn(async move {
                        let parts =
                            match split_into_parts(DataKind::Source, &stream, &data, part_bytes) {
                                Ok(parts) => parts,
                                Err(e) => {
                                    tracing::error!(%e, "cannot split source frames");
                                    return;
                                }
                            };
                        for part in parts {
                            if let Err(e) = client
                                .publish(topic.clone(), QoS::AtLeastOnce, false, part.encode())
                                .await
                            {
                                tracing::warn!(%e, "source part not sent");
                                return;
                            }
                        }
                    });
                }
                Command::Cancel {
                    server,
                    chunk,
                    attempt,
                } => {
                    let message = Control::Cancel(bitswarm_proto::Cancel {
                        job: self.id.clone(),
                        chunk: Some(chunk),
                        attempt: Some(attempt),
                    });
                    self.send_inbox(&server, message).await;
                }
            }
        }
        Ok(())
    }

    async fn send_inbox(&self, server: &str, message: Control) {
        let Ok(sid) = ServerId::new(server.to_owned()) else {
            return;
        };
        if let Err(e) = self
            .client
            .publish(
                self.topics.server_inbox(&sid),
                QoS::AtLeastOnce,
                false,
                message.encode(),
            )
            .await
        {
            tracing::warn!(%e, server, "control message not sent");
        }
    }

    async fn handle(&mut self, topic: &str, payload: &[u8]) {
        let now = self.now();
        match self.topics.parse(topic) {
            Some(TopicRef::Job(_, JobTopic::Data)) => match DataPart::decode(payload) {
                Ok(part) => self.encoded_part(part),
                Err(e) => tracing::warn!(%e, topic, "dropped a malformed data part"),
            },
            Some(TopicRef::Server(..) | TopicRef::Job(..)) => match Control::decode(payload) {
                Ok(message) => self.control(now, message),
                // An empty retained payload clears a status; nothing to do.
                Err(bitswarm_proto::Error::Empty) => {}
                Err(e) => tracing::warn!(%e, topic, "dropped a malformed control message"),
            },
            None => tracing::warn!(topic, "dropped a message on an unknown topic"),
        }
    }

    fn control(&mut self, now: Duration, message: Control) {
        match message {
            Control::ServerStatus(status) => {
                let id = status.server.as_str().to_owned();
                match status.state {
                    ServerState::Online { capabilities } => {
                        let encoders: Vec<EncoderKind> = capabilities
                            .encoders
                            .iter()
                            .filter_map(|e| e.parse().ok())
                            .collect();
                        let report = self.servers.entry(id.clone()).or_default();
                        report.encoders = capabilities.encoders.clone();
                        report.cores = capabilities.cores;
                        report.version = capabilities.version.clone();
                        report.left = None;
                        self.scheduler.server_online(
                            now,
                            &id,
                            Capabilities {
                                encoders,
                                cores: capabilities.cores,
                            },
                        );
                    }
                    ServerState::Leaving => self.scheduler.server_draining(now, &id),
                    ServerState::Offline { reason } => {
                        let reason = serde_json::to_value(reason)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default();
                        if let Some(r) = self.servers.get_mut(&id) {
                            r.left = Some(reason.clone());
                        }
                        self.scheduler.server_offline(now, &id, &reason);
                    }
                }
            }
            Control::Telemetry(t) => {
                let id = t.server.as_str().to_owned();
                self.scheduler.server_load(
                    now,
                    &id,
                    Load {
                        cpu_load: t.cpu_load,
                        free: t.free_resources,
                        queue_depth: t.queue_depth,
                    },
                );
                if let Some(r) = self.servers.get_mut(&id) {
                    r.telemetry.push(TelemetrySample {
                        t_ms: now.as_millis() as u64,
                        cpu_load: t.cpu_load,
                        free: t.free_resources,
                        queue_depth: t.queue_depth,
                        fps: t.fps,
                    });
                }
            }
            Control::ChunkDone(done) if done.job == self.id => {
                let stream = done.stream();
                self.scheduler
                    .progress(now, done.server.as_str(), done.chunk, done.attempt);
                match self.receiving.get_mut(&stream) {
                    Some(r) => r.done = Some(done),
                    None => tracing::debug!(%stream, "completion of an attempt no longer awaited"),
                }
                self.try_finish(&stream);
            }
            Control::Error(e) if e.job == self.id => {
                tracing::warn!(server = %e.server, chunk = ?e.chunk, code = ?e.code, message = %e.message, "server reported an error");
                if let (Some(chunk), Some(attempt)) = (e.chunk, e.attempt) {
                    let why = match e.code {
                        ErrorCode::Overloaded => {
                            format!("handed back by {}: {}", e.server, e.message)
                        }
                        _ => format!("{}: {}", e.server, e.message),
                    };
                    self.receiving.remove(&ChunkAttempt {
                        job: self.id.clone(),
                        chunk,
                        attempt,
                    });
                    self.scheduler.attempt_failed(now, chunk, attempt, &why);
                }
            }
            Control::SwarmJoin(j) => {
                tracing::info!(server = %j.server, "server joined the job's swarm")
            }
            Control::SwarmLeave(l) => {
                tracing::info!(server = %l.server, reason = ?l.reason, "server left the job's swarm")
            }
            other => tracing::debug!(kind = other.type_name(), "ignored message"),
        }
    }

    fn encoded_part(&mut self, part: DataPart) {
        let stream = part.stream().clone();
        let Some(r) = self.receiving.get_mut(&stream) else {
            tracing::debug!(%stream, "part of an attempt no longer awaited");
            return;
        };
        if let Err(e) = r.reassembler.push(&part) {
            tracing::warn!(%e, %stream, "dropped a bad encoded part");
            return;
        }
        let server = self
            .scheduler
            .chunk(stream.chunk)
            .and_then(|c| c.attempts.iter().find(|a| a.attempt == stream.attempt))
            .map(|a| a.server.clone());
        if let Some(server) = server {
            self.scheduler
                .progress(self.now(), &server, stream.chunk, stream.attempt);
        }
        self.try_finish(&stream);
    }

    /// Completes an attempt whose parts and completion message are all here.
    fn try_finish(&mut self, stream: &ChunkAttempt) {
        let ready = self
            .receiving
            .get(stream)
            .is_some_and(|r| r.done.is_some() && r.reassembler.is_complete());
        if !ready {
            return;
        }
        let r = self.receiving.remove(stream).expect("checked above");
        let done = r.done.expect("checked above");
        let now = self.now();
        let (data, valid) = match r.reassembler.finish(&done.expected()) {
            Ok(data) => (data, true),
            Err(e) => {
                tracing::warn!(%e, %stream, server = %done.server, "chunk data failed verification");
                (Vec::new(), false)
            }
        };
        let completion = self.scheduler.chunk_completed(
            now,
            stream.chunk,
            stream.attempt,
            done.bytes,
            done.crc32,
            valid,
        );
        match completion {
            Completion::Winner => {
                let Some(source) = self.sources.get(&stream.chunk) else {
                    return;
                };
                let span = source.span;
                let config = self
                    .scheduler
                    .chunk(stream.chunk)
                    .map(|c| c.config)
                    .expect("chunk exists");
                if let Err(e) = self.journal.record(span, config, &data) {
                    tracing::error!(%e, "cannot write the journal");
                }
                if let Some(r) = self.servers.get_mut(done.server.as_str()) {
                    r.chunks_won += 1;
                }
                let frames = source.data.clone();
                self.verify(span, frames, data);
            }
            Completion::Duplicate { identical } => {
                self.redundancy.compared += 1;
                if identical {
                    self.redundancy.identical += 1;
                } else {
                    tracing::warn!(chunk = stream.chunk, server = %done.server, "redundant copy differs from the winner");
                    self.redundancy.mismatches.push((
                        stream.chunk,
                        stream.attempt,
                        done.server.as_str().to_owned(),
                    ));
                }
            }
            Completion::Rejected | Completion::Ignored => {}
        }
    }

    /// Decodes a finished chunk off the async threads and compares it with its source.
    fn verify(&mut self, span: ChunkSpan, source: Arc<Vec<u8>>, encoded: Vec<u8>) {
        self.verifying += 1;
        let info = self.info;
        let tx = self.verify_tx.clone();
        tokio::task::spawn_blocking(move || {
            let psnr = verify_chunk(&info, &span, &source, &encoded);
            let _ = tx.send(Verified {
                chunk: span.index,
                psnr,
            });
        });
    }

    fn verified(&mut self, v: Verified) -> Result<()> {
        self.verifying -= 1;
        let source = self.sources.remove(&v.chunk);
        match v.psnr {
            Ok(frames) => {
                self.progress.frames_done += frames.len() as u64;
                self.chunk_psnr.insert(v.chunk, frames);
                Ok(())
            }
            Err(e) => Err(Error::Job(format!(
                "chunk {} (frames from {}) does not decode to its source: {e}",
                v.chunk,
                source.map_or(0, |s| s.span.first_frame)
            ))),
        }
    }

    fn write_outputs(
        &mut self,
        outdir: &std::path::Path,
        input: &str,
        input_format: String,
        analysis: bitswarm_analysis::Analysis,
    ) -> Result<Report> {
        let h264_path = outdir.join("stream.h264");
        let mp4_path = outdir.join("stream.mp4");
        let files = self.journal.chunk_files(self.chunks_planned)?;
        let out_err = |what: &std::path::Path, e: &dyn std::fmt::Display| {
            Error::Output(format!("{}: {e}", what.display()))
        };
        let mut h264 =
            BufWriter::new(File::create(&h264_path).map_err(|e| out_err(&h264_path, &e))?);
        let mut muxer = bitswarm_media::mp4::Mp4Muxer::new(
            BufWriter::new(File::create(&mp4_path).map_err(|e| out_err(&mp4_path, &e))?),
            &self.config.profile.output_info(&self.info),
        )
        .map_err(|e| out_err(&mp4_path, &e))?;
        let mut bytes = 0u64;
        for file in &files {
            let data = std::fs::read(file)?;
            h264.write_all(&data).map_err(|e| out_err(&h264_path, &e))?;
            for au in bitswarm_codec::annexb::access_units(&data) {
                muxer
                    .write_access_unit(au)
                    .map_err(|e| out_err(&mp4_path, &e))?;
            }
            bytes += data.len() as u64;
        }
        h264.flush().map_err(|e| out_err(&h264_path, &e))?;
        muxer
            .finish()
            .map_err(|e| out_err(&mp4_path, &e))?
            .flush()
            .map_err(|e| out_err(&mp4_path, &e))?;

        let frames: u64 = analysis.frames.len() as u64;
        let all: Vec<[f64; 3]> = self.chunk_psnr.values().flatten().copied().collect();
        let n = all.len().max(1) as f64;
        let mean = |i: usize| all.iter().map(|p| p[i]).sum::<f64>() / n;
        let (y, u, v) = (mean(0), mean(1), mean(2));
        let psnr = PsnrReport {
            y,
            u,
            v,
            weighted: psnr::weighted([y, u, v]),
            min_y: all.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min),
            frames: all.len() as u64,
        };
        let wall_s = self.started.elapsed().as_secs_f64();
        let duration_s = frames as f64 / self.info.fps.as_f64();
        let chunks = self
            .scheduler
            .chunks()
            .map(|c| {
                let winner = c.attempts.iter().find(|a| a.outcome == AttemptOutcome::Won);
                let chunk_psnr = self.chunk_psnr.get(&c.span.index).map_or(0.0, |f| {
                    f.iter().map(|p| psnr::weighted(*p)).sum::<f64>() / f.len().max(1) as f64
                });
                ChunkReport {
                    index: c.span.index,
                    first_frame: c.span.first_frame,
                    frames: c.span.frames,
                    scene: c.span.scene,
                    config: c.config,
                    server: winner.map(|a| a.server.clone()),
                    bytes: winner.map_or(0, |a| a.bytes),
                    retries: c.retries(),
                    resumed: c.resumed,
                    attempts: c.attempts.clone(),
                    psnr: chunk_psnr,
                }
            })
            .collect();
        let report = Report {
            job: self.id.as_str().to_owned(),
            input: input.to_owned(),
            input_format,
            source: self.info,
            profile: self.config.profile.clone(),
            frames,
            bytes,
            bitrate_kbps: if duration_s > 0.0 {
                bytes as f64 * 8.0 / duration_s / 1000.0
            } else {
                0.0
            },
            wall_s,
            fps: frames as f64 / wall_s.max(1e-9),
            outputs: Outputs {
                h264: "stream.h264".into(),
                mp4: "stream.mp4".into(),
                report: "report.json".into(),
            },
            psnr,
            analysis,
            scenes: self.scheduler.decisions().to_vec(),
            chunks,
            servers: std::mem::take(&mut self.servers),
            redundancy: std::mem::take(&mut self.redundancy),
        };
        let report_path = outdir.join("report.json");
        std::fs::write(
            &report_path,
            serde_json::to_vec_pretty(&report).expect("report serialises"),
        )
        .map_err(|e| out_err(&report_path, &e))?;
        Ok(report)
    }
}

/// Decodes `encoded` (one closed-GOP chunk) and returns per-frame Y/U/V PSNR against `source`
/// (its frames packed end to end); fails if the chunk does not decode to `span.frames` frames.
pub fn verify_chunk(
    info: &VideoInfo,
    span: &ChunkSpan,
    source: &[u8],
    encoded: &[u8],
) -> std::result::Result<Vec<[f64; 3]>, String> {
    let mut decoder = OpenH264Decoder::new().map_err(|e| e.to_string())?;
    let mut decoded = Vec::with_capacity(span.frames as usize);
    for au in bitswarm_codec::annexb::access_units(encoded) {
        decoded.extend(decoder.decode(au).map_err(|e| e.to_string())?);
    }
    decoded.extend(decoder.flush().map_err(|e| e.to_string())?);
    if decoded.len() != span.frames as usize {
        return Err(format!(
            "decoded {} frames, expected {}",
            decoded.len(),
            span.frames
        ));
    }
    source
        .chunks_exact(info.frame_len())
        .zip(&decoded)
        .map(|(raw, out)| {
            let reference = Frame::from_packed(info, raw).map_err(|e| e.to_string())?;
            if (out.width, out.height) == (info.width, info.height) {
                psnr::psnr_planes(&reference, out)
            } else {
                // A profile at another resolution is measured at the source's size.
                psnr::psnr_planes(
                    &reference,
                    &bitswarm_core::scale(out, info.width, info.height),
                )
            }
            .map_err(|e| e.to_string())
        })
        .collect()
}
