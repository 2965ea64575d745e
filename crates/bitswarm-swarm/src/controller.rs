//! One encode job: the controller process.
//!
//! A reader thread pulls frames from the input; the controller analyses each frame, cuts chunks
//! online, and asks the [`Scheduler`] what to do, feeding it wall-clock time since the job
//! started. Source frames go to the assigned servers over MQTT; encoded parts come back, are
//! reassembled and verified, journalled, decoded and measured against their source (PSNR, VMAF,
//! SSIM: [`crate::verify`]). Only the chunks of the in-memory window hold frames, so memory does
//! not grow with the input's length.

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
use bitswarm_controller::target::{search_range, setting_of};
use bitswarm_controller::{
    AttemptOutcome, Capabilities, ChunkSpan, Chunker, Command, Completion, Load, Probe, Scheduler,
    Step, TargetSearch,
};
use bitswarm_core::{Codec, EncoderKind, Frame, RateControl, VideoInfo};
use bitswarm_media::{open_input, InputOptions};
use bitswarm_proto::{
    split_into_parts, ChunkAssignment, ChunkAttempt, ChunkDone, Control, DataKind, DataPart,
    ErrorCode, JobEnd, JobEndReason, JobId, JobTopic, ProfileAssignment, Reassembler, ServerId,
    ServerState, ServerTopic, TopicRef, Topics,
};
use bitswarm_quality::pool::Pool;
use bitswarm_quality::psnr;

use crate::journal::{JobIdentity, Journal};
use crate::mqtt::{self, BrokerUrl, Will};
use crate::report::{
    ChunkReport, Outputs, Pooled, PsnrReport, RedundancyReport, Report, ServerReport, TargetReport,
    TelemetrySample,
};
use crate::verify::{FrameQuality, Neighbours, Verifier};
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
    /// The source frames just before and just after the chunk (packed), for VMAF's motion.
    before: Option<Arc<Vec<u8>>>,
    after: Option<Arc<Vec<u8>>>,
}

/// Result of decoding a finished chunk and measuring it against its source.
struct Verified {
    chunk: u32,
    encoded: Vec<u8>,
    quality: std::result::Result<Vec<FrameQuality>, String>,
}

/// A chunk's output, verified and journalled.
struct Finished {
    rate: RateControl,
    bytes: u64,
    quality: Vec<FrameQuality>,
    /// The probes of its quality-target search (empty without a target).
    probes: Vec<Probe>,
}

/// The quality-target search of a chunk, with the output of every probe so far.
struct Searching {
    search: TargetSearch,
    outputs: Vec<(Vec<u8>, Vec<FrameQuality>)>,
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
    finished: BTreeMap<u32, Finished>,
    searching: BTreeMap<u32, Searching>,
    /// The setting each scene's latest search chose, where the next chunk's search starts.
    hints: BTreeMap<u32, u8>,
    verifier: Arc<Verifier>,
    /// The last source frame of the latest planned chunk (packed).
    last_frame: Option<Arc<Vec<u8>>>,
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
    let (frames_rx, info, input_format, frames_total) =
        spawn_reader(&input, ffmpeg.clone()).await?;
    let mut metrics = config.quality.metric_kinds()?;
    if let Some(target) = &config.target {
        let kind = target
            .metric
            .name()
            .parse()
            .expect("target metrics are metrics");
        if !metrics.contains(&kind) {
            metrics.push(kind);
        }
    }
    let verifier = Verifier::new(
        info,
        config.profile.encoder.codec(),
        ffmpeg.as_deref(),
        &metrics,
    )?;
    std::fs::create_dir_all(&outdir)
        .map_err(|e| Error::Output(format!("cannot create {}: {e}", outdir.display())))?;
    let journal = Journal::open(&outdir, &JobIdentity::of(&input, &config), resume)?;

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
        finished: BTreeMap::new(),
        searching: BTreeMap::new(),
        hints: BTreeMap::new(),
        verifier: Arc::new(verifier),
        last_frame: None,
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
            // Reading waits for the first server (the policy looks at the fleet's load), not
            // for later ones: a planned chunk with no server is what fails a job whose servers
            // are all gone.
            let may_read = subscribed
                && !input_done
                && self.sources.len() < window
                && (self.scheduler.online_servers() > 0 || self.chunks_planned > 0);
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
                        let mut packed = Vec::with_capacity(self.info.frame_len());
                        frame.write_packed(&mut packed);
                        if let Some(span) = chunker.push(stats.scene_cut) {
                            let after = Some(Arc::new(packed.clone()));
                            self.plan_chunk(span, std::mem::take(&mut pending), scene_so_far, after)?;
                        }
                        pending.extend_from_slice(&packed);
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
                            self.plan_chunk(span, std::mem::take(&mut pending), scene, None)?;
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

    /// Plans a chunk of frames `data`; `after` is the frame that follows it, if any.
    fn plan_chunk(
        &mut self,
        span: ChunkSpan,
        data: Vec<u8>,
        complexity: u8,
        after: Option<Arc<Vec<u8>>>,
    ) -> Result<()> {
        let now = self.now();
        self.chunks_planned = span.index + 1;
        let crc32 = crc32fast::hash(&data);
        let frame_len = self.info.frame_len();
        let before = std::mem::replace(
            &mut self.last_frame,
            data.len()
                .checked_sub(frame_len)
                .map(|start| Arc::new(data[start..].to_vec())),
        );
        let data = Arc::new(data);
        self.sources.insert(
            span.index,
            ChunkSource {
                span,
                data,
                crc32,
                before,
                after,
            },
        );
        if let Some(entry) = self.journal.finished(&span).cloned() {
            tracing::info!(chunk = span.index, "chunk taken from the journal");
            self.scheduler.add_resumed_chunk(
                span,
                entry.config,
                entry.rate.unwrap_or(self.config.profile.rate),
            );
            let encoded = std::fs::read(self.journal.chunk_path(span.index))?;
            self.verify(span.index, encoded);
            return Ok(());
        }
        match self.config.target {
            Some(target) => {
                let (rate_of, range) = search_range(self.config.profile.encoder);
                let hint = self
                    .hints
                    .get(&span.scene)
                    .or_else(|| self.hints.values().next_back())
                    .copied()
                    .or_else(|| setting_of(self.config.profile.rate));
                let search = TargetSearch::new(target, range, hint);
                self.scheduler
                    .add_chunk_with_rate(now, span, complexity, rate_of(search.first()));
                self.searching.insert(
                    span.index,
                    Searching {
                        search,
                        outputs: Vec::new(),
                    },
                );
            }
            None => {
                self.scheduler.add_chunk(now, span, complexity);
            }
        }
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
                if let Some(r) = self.servers.get_mut(done.server.as_str()) {
                    r.chunks_won += 1;
                }
                self.verify(stream.chunk, data);
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

    /// Decodes a finished chunk off the async threads and measures it against its source.
    fn verify(&mut self, chunk: u32, encoded: Vec<u8>) {
        let Some(source) = self.sources.get(&chunk) else {
            return;
        };
        self.verifying += 1;
        let frames = source.span.frames;
        let (data, before, after) = (
            source.data.clone(),
            source.before.clone(),
            source.after.clone(),
        );
        let verifier = self.verifier.clone();
        let tx = self.verify_tx.clone();
        tokio::task::spawn_blocking(move || {
            let context = Neighbours {
                before: before.as_deref().map(Vec::as_slice),
                after: after.as_deref().map(Vec::as_slice),
            };
            let quality = verifier.verify(frames, &data, &encoded, context);
            let _ = tx.send(Verified {
                chunk,
                encoded,
                quality,
            });
        });
    }

    fn verified(&mut self, v: Verified) -> Result<()> {
        self.verifying -= 1;
        let chunk = v.chunk;
        let frames = match v.quality {
            Ok(frames) => frames,
            Err(e) => {
                return Err(Error::Job(format!(
                    "chunk {chunk} (frames from {}) does not decode to its source: {e}",
                    self.sources.get(&chunk).map_or(0, |s| s.span.first_frame)
                )))
            }
        };
        let Some(state) = self.scheduler.chunk(chunk) else {
            return Ok(());
        };
        let (rate, resumed, scene) = (state.rate, state.resumed, state.span.scene);
        let Some(searching) = self.searching.get_mut(&chunk) else {
            return self.finish_chunk(chunk, v.encoded, rate, frames, Vec::new());
        };
        let target = self.config.target.expect("a search has a target");
        let index = self
            .verifier
            .metrics()
            .iter()
            .position(|m| m.to_string() == target.metric.name())
            .expect("the target's metric is measured");
        let quality = frames.iter().map(|f| f.scores[index]).sum::<f64>() / frames.len() as f64;
        let setting = setting_of(rate).expect("searches vary CRF or QP");
        let probe = Probe {
            setting,
            quality,
            bytes: v.encoded.len() as u64,
        };
        searching.outputs.push((v.encoded, frames));
        let step = searching.search.observe(probe);
        tracing::debug!(chunk, setting, quality, ?step, "probe measured");
        match step {
            Step::Probe(next) => {
                let (rate_of, _) = search_range(self.config.profile.encoder);
                self.scheduler.reprobe(self.now(), chunk, rate_of(next));
                Ok(())
            }
            Step::Done(best) => {
                let Searching {
                    search,
                    mut outputs,
                } = self.searching.remove(&chunk).expect("searching");
                let probes = search.probes().to_vec();
                let (encoded, frames) = outputs.swap_remove(best);
                let chosen = probes[best].setting;
                self.hints.insert(scene, chosen);
                let (rate_of, _) = search_range(self.config.profile.encoder);
                debug_assert!(!resumed, "resumed chunks are not searched");
                self.finish_chunk(chunk, encoded, rate_of(chosen), frames, probes)
            }
        }
    }

    /// A chunk's output is final: journal it (unless it came from the journal) and free its
    /// source frames.
    fn finish_chunk(
        &mut self,
        chunk: u32,
        encoded: Vec<u8>,
        rate: RateControl,
        quality: Vec<FrameQuality>,
        probes: Vec<Probe>,
    ) -> Result<()> {
        let Some(source) = self.sources.remove(&chunk) else {
            return Ok(());
        };
        let state = self.scheduler.chunk(chunk).expect("planned chunks exist");
        if !state.resumed {
            self.journal
                .record(source.span, state.config, rate, &encoded)?;
        }
        self.progress.frames_done += quality.len() as u64;
        self.finished.insert(
            chunk,
            Finished {
                rate,
                bytes: encoded.len() as u64,
                quality,
                probes,
            },
        );
        Ok(())
    }

    fn write_outputs(
        &mut self,
        outdir: &std::path::Path,
        input: &str,
        input_format: String,
        analysis: bitswarm_analysis::Analysis,
    ) -> Result<Report> {
        let codec = self.config.profile.encoder.codec();
        let outputs = Outputs::for_codec(codec);
        let bytes = write_streams(
            outdir,
            &outputs,
            codec,
            &self.config.profile.output_info(&self.info),
            &self.journal.chunk_files(self.chunks_planned)?,
        )?;
        let frames: u64 = analysis.frames.len() as u64;
        let all: Vec<&FrameQuality> = self.finished.values().flat_map(|f| &f.quality).collect();
        let psnr = PsnrReport::of(all.iter().map(|q| q.psnr));
        let metrics = self.verifier.metrics();
        let quality = metrics
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let mut pool = Pool::default();
                all.iter().for_each(|q| pool.add(q.scores[i]));
                Some((m.to_string(), Pooled::from(pool.summary(m.field())?)))
            })
            .collect();
        let wall_s = self.started.elapsed().as_secs_f64();
        let duration_s = frames as f64 / self.info.fps.as_f64();
        let chunks: Vec<ChunkReport> = self
            .scheduler
            .chunks()
            .map(|c| {
                let winner = c
                    .attempts
                    .iter()
                    .rev()
                    .find(|a| a.outcome == AttemptOutcome::Won);
                let finished = self.finished.get(&c.span.index);
                let mean = |value: &dyn Fn(&FrameQuality) -> f64| {
                    finished.map_or(0.0, |f| {
                        f.quality.iter().map(value).sum::<f64>() / f.quality.len().max(1) as f64
                    })
                };
                ChunkReport {
                    index: c.span.index,
                    first_frame: c.span.first_frame,
                    frames: c.span.frames,
                    scene: c.span.scene,
                    config: c.config,
                    server: winner.map(|a| a.server.clone()),
                    rate: finished.map_or(c.rate, |f| f.rate),
                    bytes: finished.map_or(0, |f| f.bytes),
                    retries: c.retries(),
                    resumed: c.resumed,
                    attempts: c.attempts.clone(),
                    probes: finished.map(|f| f.probes.clone()).unwrap_or_default(),
                    psnr: mean(&|q| psnr::weighted(q.psnr)),
                    quality: metrics
                        .iter()
                        .enumerate()
                        .map(|(i, m)| (m.to_string(), mean(&|q| q.scores[i])))
                        .collect(),
                }
            })
            .collect();
        let report = Report {
            job: self.id.as_str().to_owned(),
            input: input.to_owned(),
            input_format,
            identity: self.journal.identity().clone(),
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
            outputs,
            psnr,
            target: self.config.target.map(|t| TargetReport::new(t, &chunks)),
            quality,
            analysis,
            scenes: self.scheduler.decisions().to_vec(),
            chunks,
            servers: std::mem::take(&mut self.servers),
            redundancy: std::mem::take(&mut self.redundancy),
        };
        let report_path = outdir.join(&report.outputs.report);
        std::fs::write(
            &report_path,
            serde_json::to_vec_pretty(&report).expect("report serialises"),
        )
        .map_err(|e| Error::Output(format!("{}: {e}", report_path.display())))?;
        Ok(report)
    }
}

/// The elementary-stream output: Annex B as the chunks come for H.264 and HEVC, IVF for AV1.
enum Elementary<W: Write + std::io::Seek> {
    AnnexB(W),
    Ivf(bitswarm_media::ivf::IvfWriter<W>),
}

impl<W: Write + std::io::Seek> Elementary<W> {
    fn new(out: W, codec: Codec, info: &VideoInfo) -> std::result::Result<Self, String> {
        Ok(match codec {
            Codec::Av1 => Self::Ivf(
                bitswarm_media::ivf::IvfWriter::new(out, info).map_err(|e| e.to_string())?,
            ),
            Codec::H264 | Codec::Hevc => Self::AnnexB(out),
        })
    }

    /// Appends a chunk: its bytes, split into `units` (pictures).
    fn write(&mut self, data: &[u8], units: &[&[u8]]) -> std::result::Result<(), String> {
        match self {
            Self::AnnexB(out) => out.write_all(data).map_err(|e| e.to_string()),
            Self::Ivf(ivf) => units
                .iter()
                .try_for_each(|u| ivf.write_frame(u).map_err(|e| e.to_string())),
        }
    }

    fn finish(self) -> std::result::Result<W, String> {
        match self {
            Self::AnnexB(out) => Ok(out),
            Self::Ivf(ivf) => ivf.finish().map_err(|e| e.to_string()),
        }
    }
}

/// Concatenates the chunk files in order into the elementary stream and the MP4; returns the
/// bytes of encoded video.
fn write_streams(
    outdir: &std::path::Path,
    outputs: &Outputs,
    codec: Codec,
    info: &VideoInfo,
    files: &[PathBuf],
) -> Result<u64> {
    let out_err = |what: &std::path::Path, e: &dyn std::fmt::Display| {
        Error::Output(format!("{}: {e}", what.display()))
    };
    let create = |path: &std::path::Path| {
        File::create(path)
            .map(BufWriter::new)
            .map_err(|e| out_err(path, &e))
    };
    let stream_path = outdir.join(&outputs.stream);
    let mp4_path = outdir.join(&outputs.mp4);
    let mut stream = Elementary::new(create(&stream_path)?, codec, info)
        .map_err(|e| out_err(&stream_path, &e))?;
    let mut muxer = bitswarm_media::mp4::Mp4Muxer::with_codec(create(&mp4_path)?, info, codec)
        .map_err(|e| out_err(&mp4_path, &e))?;
    let mut bytes = 0u64;
    for file in files {
        let data = std::fs::read(file)?;
        let units = bitswarm_codec::split_units(codec, &data)
            .map_err(|e| out_err(file, &format!("unreadable chunk: {e}")))?;
        for unit in &units {
            muxer
                .write_access_unit(unit)
                .map_err(|e| out_err(&mp4_path, &e))?;
        }
        stream
            .write(&data, &units)
            .map_err(|e| out_err(&stream_path, &e))?;
        bytes += data.len() as u64;
    }
    stream
        .finish()
        .and_then(|mut out| out.flush().map_err(|e| e.to_string()))
        .map_err(|e| out_err(&stream_path, &e))?;
    muxer
        .finish()
        .map_err(|e| out_err(&mp4_path, &e))?
        .flush()
        .map_err(|e| out_err(&mp4_path, &e))?;
    Ok(bytes)
}
