//! Per-title ladders end to end: one title becomes a swarm of bitstreams (a ladder), found by
//! real trial encodes through the distributed encoder.
//!
//! 1. **Features** ([`extract_features`]): the input is analysed (SI/TI, motion vectors,
//!    complexity per scene) and probe-encoded (OpenH264, QP [`PROBE_QP`], a quarter of the
//!    pixels) into one [`bitswarm_ladder::SceneFeatures`] per scene and a clip vector (the mean
//!    over scenes weighted by frames).
//! 2. **Families**: without a model the clip is one family (`clip`). With a [`LadderModel`],
//!    every cluster whose probability for the clip vector is at least the threshold (and always
//!    the most likely) is a family `c<cluster>`; the trial budget is split over them in
//!    proportion to their probabilities (at least one trial each).
//! 3. **Search** per family: [`Search`] starts from the cluster's centroid ladder (scaled to
//!    the clip, [`adapt_centroid`]) and the candidates predicted from the clip's features
//!    ([`initial_candidates`]), then mutates hull vertices. Every candidate is a trial encode:
//!    [`controller::run`] with the candidate's profile on the broker's servers, output in
//!    `OUTDIR/trials/NNN/`, quality measured by the controller at the source's resolution. The
//!    new candidates of a generation run at once (at most `parallel`); a candidate another
//!    family already encoded is not encoded again.
//! 4. **Rungs**: [`Search::rungs`] picks up to `rungs` hull vertices per family (spread evenly
//!    in log rate), the top one the cheapest reaching the target; their outputs are linked (or
//!    copied) to `OUTDIR/rungs/<family>-<k>/`.
//! 5. **Outputs**: `ladder.json` ([`LadderReport`]), `abr_ladder.json` (the `bitswarm-ladder/1`
//!    file the ABR simulator reads: one rung per chosen bitstream, segments = chunks) and
//!    `rd.svg` ([`rd_svg`]).
//!
//! **Keyframe alignment.** Every trial of a title uses the same GOP (`segment_s / 2` of frames,
//! [`GOPS_PER_SEGMENT`] GOPs per chunk) and the same analysis settings, so the controller cuts
//! every trial into the same chunks (at the same scene cuts and every `segment_s`), each
//! starting with a closed-GOP keyframe: all bitstreams of the swarm switch at the same frames.
//! The search therefore does not vary the GOP (its bounds are that one value), nor the encoder
//! effort (the job profile's `complexity`, pinned through the swarm policy so that the fleet's
//! load cannot change it between trials).

mod features;
mod plot;
mod train;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures_util::{stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use bitswarm_abr::{Ladder, LadderFile, Rung, SegmentRow, VideoCodec, LADDER_FORMAT};
use bitswarm_controller::{SwarmConfig, SwarmPolicy, TargetMetric};
use bitswarm_core::{Codec, DeviceClass, EncoderKind, VideoInfo, GOP_RANGE};
use bitswarm_ladder::{
    initial_candidates, Bounds, Candidate, DeliveryProfile, LadderModel, Mutation, Objective,
    RungTargets, Search, Spread, Trial, FEATURE_NAMES,
};

pub use features::{
    extract as extract_features, features_from_vector, probe_size, weighted_mean, ClipFeatures,
    SceneFeatureRow, PROBE_COMPLEXITY, PROBE_QP,
};
pub use plot::{rd_svg, PlotPoint, PlotSeries};
pub use train::{
    adapt_centroid, catalog_inputs, train, update, TrainOptions, CENTROID_REFERENCE,
    DEFAULT_CENTROID,
};

use crate::controller::{self, EncodeJob, Progress};
use crate::journal::{JobIdentity, Journal};
use crate::mqtt::BrokerUrl;
use crate::report::{Outputs, Report};
use crate::{Config, Error, Result};

/// Format tag of `ladder.json`.
pub const RUN_FORMAT: &str = "bitswarm-ladder-run/1";
/// Default target of the top rung with `--target vmaf`.
pub const DEFAULT_TARGET_VMAF: f64 = 95.0;
/// Default target of the top rung with `--target ssim`.
pub const DEFAULT_TARGET_SSIM: f64 = 0.99;
/// GOPs per chunk (= per ABR segment).
pub const GOPS_PER_SEGMENT: u32 = 2;
/// File names in the output folder.
pub const LADDER_JSON: &str = "ladder.json";
pub const ABR_LADDER_JSON: &str = "abr_ladder.json";
pub const RD_PLOT: &str = "rd.svg";

/// A swarm size that lets every server of the fleet work on a trial.
const WHOLE_FLEET: u32 = 10_000;

/// Errors of the ladder crate, as a job failure.
pub(crate) fn ladder_error(e: bitswarm_ladder::Error) -> Error {
    Error::Job(format!("ladder: {e}"))
}

/// What a ladder job aims at and may spend.
#[derive(Debug, Clone, PartialEq)]
pub struct LadderOptions {
    /// The quality the search maximises and the rungs are chosen by.
    pub metric: TargetMetric,
    /// The top rung is the cheapest hull vertex reaching this (VMAF 0..=100, SSIM 0..=1).
    pub target: f64,
    /// Trial encodes in all, split over the families.
    pub budget: usize,
    /// Rungs per family, at most.
    pub rungs: usize,
    /// Smallest cluster probability that makes a family (the most likely cluster always does).
    pub threshold: f64,
    /// Nominal segment (= chunk) duration in seconds: two GOPs.
    pub segment_s: f64,
    /// Seed of the searches (family `k` uses `seed + k`).
    pub seed: u64,
    /// Trial encodes of one generation in flight at once (each is its own swarm job, so the
    /// servers and the controller's verification work on several).
    pub parallel: usize,
}

impl Default for LadderOptions {
    fn default() -> Self {
        Self {
            metric: TargetMetric::Vmaf,
            target: DEFAULT_TARGET_VMAF,
            budget: 24,
            rungs: 6,
            threshold: 0.2,
            segment_s: 4.0,
            seed: 0,
            parallel: 4,
        }
    }
}

impl LadderOptions {
    /// Checks every field against its range.
    pub fn validate(&self) -> Result<()> {
        let invalid = |what: &str, value: String, expected: &str| {
            Err(Error::Config(format!(
                "ladder: invalid {what} {value} (expected {expected})"
            )))
        };
        let (range, scale) = match self.metric {
            TargetMetric::Vmaf => (0.0..=100.0, "0..=100 for vmaf"),
            TargetMetric::Ssim => (0.0..=1.0, "0..=1 for ssim"),
        };
        if !range.contains(&self.target) {
            return invalid("target", self.target.to_string(), scale);
        }
        if self.budget == 0 {
            return invalid("budget", "0".into(), ">= 1 trial encode");
        }
        if self.rungs == 0 {
            return invalid("rungs", "0".into(), ">= 1");
        }
        if self.parallel == 0 {
            return invalid("parallel", "0".into(), ">= 1 trial encode at once");
        }
        if !(0.0..=1.0).contains(&self.threshold) {
            return invalid(
                "threshold",
                self.threshold.to_string(),
                "a probability 0..=1",
            );
        }
        if !(self.segment_s.is_finite() && self.segment_s > 0.0) {
            return invalid("segment_s", self.segment_s.to_string(), "seconds > 0");
        }
        Ok(())
    }

    /// The metric the initial candidates are tuned for.
    fn objective(&self) -> Objective {
        match self.metric {
            TargetMetric::Vmaf => Objective::Vmaf,
            TargetMetric::Ssim => Objective::Ssim,
        }
    }

    /// The VMAF the predicted initial candidates aim at: the target with `vmaf`, else the
    /// default VMAF target (the predictions are written on the VMAF scale).
    fn initial_vmaf(&self) -> f64 {
        match self.metric {
            TargetMetric::Vmaf => self.target,
            TargetMetric::Ssim => DEFAULT_TARGET_VMAF,
        }
    }
}

/// The GOP (frames) of `segment_s`-second segments of [`GOPS_PER_SEGMENT`] GOPs.
pub fn segment_gop(segment_s: f64, source: &VideoInfo) -> u32 {
    let frames = segment_s * source.fps.as_f64() / f64::from(GOPS_PER_SEGMENT);
    // Rounded and clamped into 1..=1000 before the cast.
    frames
        .round()
        .clamp(f64::from(*GOP_RANGE.start()), f64::from(*GOP_RANGE.end())) as u32
}

/// Where a ladder job stands, for progress bars.
#[derive(Debug, Clone, PartialEq)]
pub enum LadderProgress {
    /// Reading the input for its features.
    Features,
    /// Trial encode `index` (0-based, counting encodes, not reused results) of at most `budget`.
    Trial {
        index: usize,
        budget: usize,
        family: String,
        profile: String,
        encode: Progress,
    },
}

/// A ladder job.
pub struct LadderJob {
    /// A file (the input is read once per trial encode, so not stdin).
    pub input: String,
    pub outdir: PathBuf,
    /// The base of every trial: `profile` (encoder, effort, device), `analysis`, `quality`,
    /// `transport`, `scheduler`. Chunking, the swarm policy and any `[target]` are set by the
    /// ladder job.
    pub config: Config,
    /// A model file from [`train`]; `None`: the clip is one family.
    pub model: Option<PathBuf>,
    pub options: LadderOptions,
    pub ffmpeg: Option<PathBuf>,
    /// Prefix of the trials' job ids.
    pub job_id: String,
    /// Keep the trials of an earlier run into `outdir` (the search, being seeded, proposes the
    /// same trials in the same order): a finished trial of the same input and candidate is
    /// reused as it is, an unfinished one encodes only the chunks its journal lacks, any other
    /// is encoded afresh.
    pub resume: bool,
    pub progress: Arc<dyn Fn(&LadderProgress) + Send + Sync>,
}

/// A cluster of the model and its probability for the clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterChoice {
    pub cluster: usize,
    pub probability: f64,
    /// A bitstream family was searched for it.
    pub selected: bool,
    pub delivery: DeliveryProfile,
}

/// One trial encode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    pub id: usize,
    /// The family whose search proposed it first.
    pub family: String,
    pub candidate: Candidate,
    /// Profile name (`360p-openh264-qp30`).
    pub profile: String,
    pub kbps: f64,
    /// The target metric's mean over frames.
    pub quality: f64,
    pub vmaf: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssim: Option<f64>,
    pub bytes: u64,
    /// Wall time of the trial's encode job (for a reused trial: of the earlier run's).
    pub wall_s: f64,
    /// Taken as it was from an earlier run's outputs (`--resume`), not encoded by this run.
    pub reused: bool,
    /// Output folder, relative to OUTDIR.
    pub dir: String,
}

/// A chosen rung.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RungRecord {
    /// `<family>-<k>`, k = 0 the lowest.
    pub id: String,
    pub trial: usize,
    pub candidate: Candidate,
    pub profile: String,
    pub kbps: f64,
    pub quality: f64,
    /// Output folder, relative to OUTDIR.
    pub dir: String,
}

/// One bitstream family: a cluster's search (or the clip's, without a model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyReport {
    pub name: String,
    pub cluster: Option<usize>,
    pub probability: f64,
    pub device: DeviceClass,
    pub budget: usize,
    /// The first generation: the candidates predicted from the clip's features interleaved
    /// with the cluster's centroid ladder (scaled to the clip), inside the bounds.
    pub initial: Vec<Candidate>,
    /// Trial ids the search was told, in order (some may come from another family).
    pub trials: Vec<usize>,
    /// Trial ids of the upper rate-quality hull, by rate.
    pub hull: Vec<usize>,
    pub rungs: Vec<RungRecord>,
}

/// Frames of one segment (chunk); every rung has the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentSpan {
    pub first_frame: u64,
    pub frames: u32,
}

/// Output paths, relative to OUTDIR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LadderOutputs {
    pub ladder: String,
    pub abr_ladder: String,
    pub plot: String,
    /// One folder per rung with `stream.mp4`, the elementary stream and `report.json`.
    pub rungs: Vec<String>,
}

/// `ladder.json`: everything a ladder job did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LadderReport {
    pub format: String,
    pub input: String,
    pub source: VideoInfo,
    pub frames: u64,
    pub encoder: EncoderKind,
    pub metric: TargetMetric,
    pub target: f64,
    pub budget: usize,
    /// Keyframe interval of every bitstream, frames.
    pub gop: u32,
    /// Frames of a full segment (chunks are shorter before a scene cut and at the end).
    pub segment_frames: u32,
    /// The model file, if one was used.
    pub model: Option<String>,
    pub features: ClipFeatures,
    /// Every cluster of the model, most likely first (empty without a model).
    pub clusters: Vec<ClusterChoice>,
    pub families: Vec<FamilyReport>,
    pub trials: Vec<TrialRecord>,
    pub segments: Vec<SegmentSpan>,
    pub outputs: LadderOutputs,
    pub wall_s: f64,
}

impl LadderReport {
    /// A few lines for a terminal.
    pub fn human_summary(&self) -> String {
        let mut out = format!(
            "{}: {} frames, {} scenes, {} trial encodes, {} segments of up to {} frames\n",
            self.input,
            self.frames,
            self.features.scenes.len(),
            self.trials.len(),
            self.segments.len(),
            self.segment_frames
        );
        for c in &self.clusters {
            out.push_str(&format!(
                "  cluster {}: probability {:.3}{}\n",
                c.cluster,
                c.probability,
                if c.selected { " (family)" } else { "" }
            ));
        }
        for f in &self.families {
            out.push_str(&format!(
                "  family {}: {} trials, {} hull vertices\n",
                f.name,
                f.trials.len(),
                f.hull.len()
            ));
            for r in &f.rungs {
                out.push_str(&format!(
                    "    {:<10} {:<24} {:>9.1} kbit/s  {} {:.3}\n",
                    r.id,
                    r.profile,
                    r.kbps,
                    self.metric.name(),
                    r.quality
                ));
            }
        }
        out.push_str(&format!(
            "  wrote {}, {}, {} and rungs/ in {:.1} s",
            self.outputs.ladder, self.outputs.abr_ladder, self.outputs.plot, self.wall_s
        ));
        out
    }
}

/// A trial's record with what the outputs need of its report.
struct TrialRun {
    record: TrialRecord,
    outputs: Outputs,
    chunks: Vec<ChunkScore>,
}

struct ChunkScore {
    span: SegmentSpan,
    bytes: u64,
    vmaf: f64,
    ssim: Option<f64>,
}

/// A family to search.
#[derive(Debug, Clone, PartialEq)]
struct FamilyPlan {
    name: String,
    cluster: Option<usize>,
    probability: f64,
    device: DeviceClass,
    budget: usize,
    /// The cluster's centroid ladder (for the reference source).
    seeds: Vec<Candidate>,
}

/// Runs a ladder job to the end on the servers of `url` and writes its outputs.
pub async fn run(url: BrokerUrl, job: LadderJob) -> Result<LadderReport> {
    let started = Instant::now();
    let LadderJob {
        input,
        outdir,
        config,
        model,
        options,
        ffmpeg,
        job_id,
        resume,
        progress,
    } = job;
    options.validate()?;
    config.validate()?;
    if input == "-" {
        return Err(Error::Config(
            "ladder: the input is read once per trial encode, so it cannot be stdin (give a file)"
                .into(),
        ));
    }
    let loaded = match &model {
        Some(path) => Some(LadderModel::load(path).map_err(|e| Error::Config(e.to_string()))?),
        None => None,
    };
    if let Some(m) = &loaded {
        if m.feature_names != FEATURE_NAMES {
            return Err(Error::Config(format!(
                "the model was fitted on features {:?}; this build computes {FEATURE_NAMES:?}",
                m.feature_names
            )));
        }
    }

    progress(&LadderProgress::Features);
    let features = {
        let (input, analysis, ffmpeg) = (input.clone(), config.analysis.clone(), ffmpeg.clone());
        tokio::task::spawn_blocking(move || extract_features(&input, &analysis, ffmpeg.as_deref()))
            .await
            .map_err(|e| Error::Job(format!("feature extraction stopped: {e}")))??
    };
    let source = features.source;
    let gop = segment_gop(options.segment_s, &source);
    let (clusters, plans) = plan_families(
        loaded.as_ref(),
        &features.clip,
        &options,
        config.profile.device,
    )?;

    for dir in ["trials", "rungs"] {
        let path = outdir.join(dir);
        if path.exists() && !(resume && dir == "trials") {
            std::fs::remove_dir_all(&path).map_err(|e| output_error(&path, &e))?;
        }
        std::fs::create_dir_all(&path).map_err(|e| output_error(&path, &e))?;
    }
    let trials_config = trial_config(&config, options.metric);
    let base = TrialBase {
        url,
        input: &input,
        outdir: &outdir,
        config: &trials_config,
        ffmpeg: ffmpeg.as_deref(),
        job_id: &job_id,
        metric: options.metric,
        budget: options.budget,
        resume,
        progress: &progress,
    };
    let mut trials: Vec<TrialRun> = Vec::new();
    let mut families = Vec::with_capacity(plans.len());
    for (k, plan) in plans.into_iter().enumerate() {
        let seed = options.seed.wrapping_add(k as u64);
        let family =
            search_family(&base, plan, &features, gop, &options, seed, &mut trials).await?;
        families.push(family);
    }
    if resume {
        remove_stale_trials(&outdir, trials.len())?;
    }

    let mut rung_dirs = Vec::new();
    for rung in families.iter().flat_map(|f| &f.rungs) {
        let trial = &trials[rung.trial];
        publish_rung(
            &outdir.join(&trial.record.dir),
            &outdir.join(&rung.dir),
            &trial.outputs,
        )?;
        rung_dirs.push(rung.dir.clone());
    }
    let (abr, segments) = abr_ladder(&families, &trials, &source, config.profile.encoder.codec())?;
    write(&outdir.join(ABR_LADDER_JSON), abr.to_json().as_bytes())?;
    write(
        &outdir.join(RD_PLOT),
        plot(&families, &trials, &options).as_bytes(),
    )?;
    let report = LadderReport {
        format: RUN_FORMAT.into(),
        input,
        source,
        frames: features.frames,
        encoder: config.profile.encoder,
        metric: options.metric,
        target: options.target,
        budget: options.budget,
        gop,
        segment_frames: gop * GOPS_PER_SEGMENT,
        model: model.map(|p| p.display().to_string()),
        features,
        clusters,
        families,
        trials: trials.into_iter().map(|t| t.record).collect(),
        segments,
        outputs: LadderOutputs {
            ladder: LADDER_JSON.into(),
            abr_ladder: ABR_LADDER_JSON.into(),
            plot: RD_PLOT.into(),
            rungs: rung_dirs,
        },
        wall_s: started.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_vec_pretty(&report)
        .map_err(|e| Error::Output(format!("{LADDER_JSON}: {e}")))?;
    write(&outdir.join(LADDER_JSON), &json)?;
    Ok(report)
}

fn output_error(path: &Path, e: &dyn std::fmt::Display) -> Error {
    Error::Output(format!("{}: {e}", path.display()))
}

fn write(path: &Path, data: &[u8]) -> Result<()> {
    std::fs::write(path, data).map_err(|e| output_error(path, &e))
}

/// The families for a clip with features `clip`: every cluster at or above the threshold
/// (at most `budget` of them, the most likely first), or the clip alone without a model.
fn plan_families(
    model: Option<&LadderModel>,
    clip: &bitswarm_ladder::SceneFeatures,
    options: &LadderOptions,
    device: DeviceClass,
) -> Result<(Vec<ClusterChoice>, Vec<FamilyPlan>)> {
    let Some(model) = model else {
        let clip_family = FamilyPlan {
            name: "clip".into(),
            cluster: None,
            probability: 1.0,
            device,
            budget: options.budget,
            seeds: Vec::new(),
        };
        return Ok((Vec::new(), vec![clip_family]));
    };
    let x = clip.to_vector();
    let mut chosen = model.swarm(&x, options.threshold).map_err(ladder_error)?;
    chosen.truncate(options.budget);
    let budgets = split_budget(
        options.budget,
        &chosen.iter().map(|&(_, p)| p).collect::<Vec<_>>(),
    );
    let cluster = |j: usize| {
        model
            .clusters
            .get(j)
            .ok_or_else(|| Error::Job(format!("the model has no cluster {j}")))
    };
    let choices = model
        .assign(&x)
        .map_err(ladder_error)?
        .into_iter()
        .map(|(j, probability)| {
            Ok(ClusterChoice {
                cluster: j,
                probability,
                selected: chosen.iter().any(|&(c, _)| c == j),
                delivery: cluster(j)?.delivery,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let plans = chosen
        .iter()
        .zip(budgets)
        .map(|(&(j, probability), budget)| {
            let info = cluster(j)?;
            Ok(FamilyPlan {
                name: format!("c{j}"),
                cluster: Some(j),
                probability,
                device: info.delivery.device,
                budget,
                seeds: info.centroid_ladder.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((choices, plans))
}

/// `budget` split in proportion to `weights` by largest remainders, at least 1 each (the
/// caller keeps at most `budget` weights); larger weights never get less.
fn split_budget(budget: usize, weights: &[f64]) -> Vec<usize> {
    let n = weights.len();
    let total: f64 = weights.iter().sum();
    let shares: Vec<f64> = weights
        .iter()
        .map(|w| {
            let share = if total > 0.0 {
                w / total
            } else {
                1.0 / n as f64
            };
            budget as f64 * share
        })
        .collect();
    // Floors of shares in 0..=budget.
    let mut out: Vec<usize> = shares.iter().map(|s| (s.floor() as usize).max(1)).collect();
    // The rest by the largest shortfall of the assigned count (stable: the first on ties).
    let mut order: Vec<usize> = (0..n).collect();
    let shortfall = |i: usize| shares[i] - out[i] as f64;
    order.sort_by(|&a, &b| shortfall(b).total_cmp(&shortfall(a)));
    let assigned: usize = out.iter().sum();
    for &i in order.iter().take(budget.saturating_sub(assigned)) {
        out[i] += 1;
    }
    // The minimum of 1 may have overspent: take back from the largest (the last of equals).
    for _ in budget..out.iter().sum() {
        if let Some(i) = (0..n).filter(|&i| out[i] > 1).max_by_key(|&i| (out[i], i)) {
            out[i] -= 1;
        }
    }
    out
}

/// `config` as every trial uses it: chunks of two GOPs, no per-chunk quality target, the
/// target metric and VMAF measured.
fn trial_config(config: &Config, metric: TargetMetric) -> Config {
    let mut c = config.clone();
    c.chunking.gops_per_chunk = GOPS_PER_SEGMENT;
    c.target = None;
    for name in ["vmaf", metric.name()] {
        if !c
            .quality
            .metrics
            .iter()
            .any(|m| m.eq_ignore_ascii_case(name))
        {
            c.quality.metrics.push(name.into());
        }
    }
    c
}

/// What every trial of a job shares.
struct TrialBase<'a> {
    url: BrokerUrl,
    input: &'a str,
    outdir: &'a Path,
    config: &'a Config,
    ffmpeg: Option<&'a Path>,
    job_id: &'a str,
    metric: TargetMetric,
    budget: usize,
    resume: bool,
    progress: &'a Arc<dyn Fn(&LadderProgress) + Send + Sync>,
}

impl TrialBase<'_> {
    /// The report of a finished trial in `trial_dir` that was the job `identity` and measured
    /// every score a trial needs. A trial whose journal is still there had not finished: a job
    /// removes its journal only after writing its outputs.
    fn finished(&self, trial_dir: &Path, codec: Codec, identity: &JobIdentity) -> Option<Report> {
        if Journal::owner(trial_dir).is_some() {
            return None;
        }
        let outputs = Outputs::for_codec(codec);
        let text = std::fs::read(trial_dir.join(&outputs.report)).ok()?;
        let report: Report = serde_json::from_slice(&text).ok()?;
        let complete = report.identity == *identity
            && report.outputs == outputs
            && [&outputs.stream, &outputs.mp4]
                .iter()
                .all(|name| trial_dir.join(name).is_file())
            && ["vmaf", self.metric.name()]
                .iter()
                .all(|name| report.quality.contains_key(*name));
        complete.then_some(report)
    }

    /// Encodes `candidate` with the swarm as trial `id`.
    async fn encode(&self, id: usize, family: &str, candidate: Candidate) -> Result<TrialRun> {
        let mut config = self.config.clone();
        config.profile = candidate.to_profile(&self.config.profile);
        // Pinned: the candidate's effort on every chunk, whatever the fleet's load.
        config.policy = SwarmPolicy {
            rules: Vec::new(),
            fallback: SwarmConfig {
                swarm_size: WHOLE_FLEET,
                complexity_level: candidate.complexity,
                redundancy: 0,
            },
        };
        let profile = config.profile.name.clone();
        let dir = format!("trials/{id:03}");
        let trial_dir = self.outdir.join(&dir);
        let identity = JobIdentity::of(self.input, &config);
        let earlier = self
            .resume
            .then(|| self.finished(&trial_dir, config.profile.encoder.codec(), &identity))
            .flatten();
        let reused = earlier.is_some();
        let report = match earlier {
            Some(report) => {
                tracing::info!(id, %profile, "trial reused from the earlier run");
                report
            }
            None => {
                // Continue this job's journal; one of another job (another candidate or input)
                // is discarded.
                let resume = self.resume && Journal::owner(&trial_dir) == Some(identity);
                let progress = self.progress.clone();
                let (budget, family_name, profile_name) =
                    (self.budget, family.to_owned(), profile.clone());
                let job = EncodeJob {
                    input: self.input.to_owned(),
                    outdir: trial_dir,
                    config,
                    resume,
                    ffmpeg: self.ffmpeg.map(Path::to_path_buf),
                    job_id: format!("{}-t{id}", self.job_id),
                    progress: Box::new(move |p: &Progress| {
                        progress(&LadderProgress::Trial {
                            index: id,
                            budget,
                            family: family_name.clone(),
                            profile: profile_name.clone(),
                            encode: p.clone(),
                        })
                    }),
                };
                controller::run(self.url.clone(), job)
                    .await
                    .map_err(|e| Error::Job(format!("trial {id} ({profile}): {e}")))?
            }
        };
        let mean = |name: &str| report.quality.get(name).map(|p| p.mean);
        let missing = |name: &str| {
            Error::Job(format!(
                "trial {id} ({profile}): the report has no {name} score"
            ))
        };
        let quality = mean(self.metric.name()).ok_or_else(|| missing(self.metric.name()))?;
        let vmaf = mean("vmaf").ok_or_else(|| missing("vmaf"))?;
        let chunks = report
            .chunks
            .iter()
            .map(|c| {
                Ok(ChunkScore {
                    span: SegmentSpan {
                        first_frame: c.first_frame,
                        frames: c.frames,
                    },
                    bytes: c.bytes,
                    vmaf: *c.quality.get("vmaf").ok_or_else(|| missing("chunk vmaf"))?,
                    ssim: c.quality.get("ssim").copied(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        tracing::info!(id, %profile, kbps = report.bitrate_kbps, quality, "trial encode done");
        Ok(TrialRun {
            record: TrialRecord {
                id,
                family: family.to_owned(),
                candidate,
                profile,
                kbps: report.bitrate_kbps,
                quality,
                vmaf,
                ssim: mean("ssim"),
                bytes: report.bytes,
                wall_s: report.wall_s,
                reused,
                dir,
            },
            outputs: report.outputs,
            chunks,
        })
    }
}

/// Index in `trials` of the trial of `candidate`.
fn trial_of(trials: &[TrialRun], candidate: &Candidate) -> Option<usize> {
    trials.iter().position(|t| t.record.candidate == *candidate)
}

/// One family's search, to its budget or until its hull stops improving.
async fn search_family(
    base: &TrialBase<'_>,
    plan: FamilyPlan,
    features: &ClipFeatures,
    gop: u32,
    options: &LadderOptions,
    seed: u64,
    trials: &mut Vec<TrialRun>,
) -> Result<FamilyReport> {
    let source = features.source;
    let mut bounds =
        Bounds::new(source, &[base.config.profile.encoder], plan.device).map_err(ladder_error)?;
    bounds.gop = gop..=gop;
    let effort = base.config.profile.complexity;
    bounds.complexity = effort..=effort;
    let predicted = initial_candidates(
        &features.clip,
        options.initial_vmaf(),
        options.objective(),
        &bounds,
    )
    .map_err(ladder_error)?;
    let centroid: Vec<Candidate> = plan
        .seeds
        .iter()
        .map(|c| adapt_centroid(c, &source))
        .collect();
    // Interleaved, the clip's own prediction first, so that a small budget tries both.
    let mut initial: Vec<Candidate> = Vec::new();
    for k in 0..predicted.len().max(centroid.len()) {
        for c in [predicted.get(k), centroid.get(k)].into_iter().flatten() {
            let c = bounds.clamp(c);
            if !initial.contains(&c) {
                initial.push(c);
            }
        }
    }
    let mut search = Search::new(
        bounds,
        Mutation::default(),
        initial.clone(),
        plan.budget,
        seed,
    )
    .map_err(ladder_error)?;
    let mut told = Vec::new();
    while let Some(batch) = search.ask() {
        // The generation's new candidates (another family may have tried some) run at once,
        // numbered in the order the search proposed them.
        let first = trials.len();
        let mut fresh: Vec<Candidate> = Vec::new();
        let ids: Vec<usize> = batch
            .iter()
            .map(|c| {
                trial_of(trials, c).unwrap_or_else(|| {
                    fresh.push(*c);
                    first + fresh.len() - 1
                })
            })
            .collect();
        let runs: Vec<TrialRun> = stream::iter(fresh.into_iter().enumerate())
            .map(|(k, candidate)| base.encode(first + k, &plan.name, candidate))
            .buffered(options.parallel)
            .try_collect()
            .await?;
        trials.extend(runs);
        for (candidate, id) in batch.iter().zip(ids) {
            let r = &trials[id].record;
            search
                .tell(candidate, r.kbps, r.quality)
                .map_err(|e| Error::Job(format!("trial {id} ({}): {e}", r.profile)))?;
            told.push(id);
        }
    }
    let ids = |list: Vec<Trial>| -> Vec<usize> {
        list.iter()
            .filter_map(|t| trial_of(trials, &t.candidate))
            .collect()
    };
    let hull = ids(search.hull());
    let chosen = search.rungs(&RungTargets {
        count: options.rungs,
        spread: Spread::LogRate,
        top_quality: Some(options.target),
    });
    let rungs = ids(chosen)
        .into_iter()
        .enumerate()
        .map(|(k, trial)| {
            let t = &trials[trial].record;
            let id = format!("{}-{k}", plan.name);
            RungRecord {
                dir: format!("rungs/{id}"),
                id,
                trial,
                candidate: t.candidate,
                profile: t.profile.clone(),
                kbps: t.kbps,
                quality: t.quality,
            }
        })
        .collect();
    Ok(FamilyReport {
        name: plan.name,
        cluster: plan.cluster,
        probability: plan.probability,
        device: plan.device,
        budget: plan.budget,
        initial,
        trials: told,
        hull,
        rungs,
    })
}

/// Removes the trial folders of an earlier run that this run did not reach (`trials/NNN` with
/// `NNN >= count`).
fn remove_stale_trials(outdir: &Path, count: usize) -> Result<()> {
    let dir = outdir.join("trials");
    let entries = std::fs::read_dir(&dir).map_err(|e| output_error(&dir, &e))?;
    for entry in entries {
        let path = entry.map_err(|e| output_error(&dir, &e))?.path();
        let stale = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|id| id >= count);
        if stale {
            std::fs::remove_dir_all(&path).map_err(|e| output_error(&path, &e))?;
        }
    }
    Ok(())
}

/// Links (or, across file systems, copies) a trial's outputs into a rung's folder.
fn publish_rung(trial_dir: &Path, rung_dir: &Path, outputs: &Outputs) -> Result<()> {
    std::fs::create_dir_all(rung_dir).map_err(|e| output_error(rung_dir, &e))?;
    for name in [&outputs.mp4, &outputs.stream, &outputs.report] {
        let (from, to) = (trial_dir.join(name), rung_dir.join(name));
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(|e| {
                output_error(&to, &format!("cannot copy from {}: {e}", from.display()))
            })?;
        }
    }
    Ok(())
}

/// The ABR ladder of the chosen bitstreams (each once, by ascending rate) and the segments.
fn abr_ladder(
    families: &[FamilyReport],
    trials: &[TrialRun],
    source: &VideoInfo,
    codec: Codec,
) -> Result<(Ladder, Vec<SegmentSpan>)> {
    let mut chosen: Vec<(&RungRecord, &TrialRun)> = Vec::new();
    for rung in families.iter().flat_map(|f| &f.rungs) {
        if !chosen.iter().any(|(r, _)| r.trial == rung.trial) {
            chosen.push((rung, &trials[rung.trial]));
        }
    }
    chosen.sort_by(|a, b| a.1.record.kbps.total_cmp(&b.1.record.kbps));
    let Some((first_rung, first)) = chosen.first() else {
        return Err(Error::Job("the search chose no rungs".into()));
    };
    let segments: Vec<SegmentSpan> = first.chunks.iter().map(|c| c.span).collect();
    for (rung, t) in &chosen {
        let spans: Vec<SegmentSpan> = t.chunks.iter().map(|c| c.span).collect();
        if spans != segments {
            return Err(Error::Job(format!(
                "rung {} was cut into other chunks than rung {}: their keyframes would not align",
                rung.id, first_rung.id
            )));
        }
    }
    let frames: u64 = segments.iter().map(|s| u64::from(s.frames)).sum();
    let duration_s = frames as f64 / source.fps.as_f64();
    let video_codec = match codec {
        Codec::H264 => VideoCodec::H264,
        Codec::Hevc => VideoCodec::Hevc,
        Codec::Av1 => VideoCodec::Av1,
    };
    let with_ssim = chosen
        .iter()
        .all(|(_, t)| t.chunks.iter().all(|c| c.ssim.is_some()));
    let file = LadderFile {
        format: LADDER_FORMAT.into(),
        // The ABR format has one segment duration: the mean, so that the segments add up to
        // the title's duration (chunks before a scene cut are shorter than the nominal one).
        segment_duration_s: duration_s / segments.len().max(1) as f64,
        rungs: chosen
            .iter()
            .map(|(rung, t)| Rung {
                id: rung.id.clone(),
                bitrate_kbps: t.record.kbps,
                codec: video_codec,
                width: t.record.candidate.width,
                height: t.record.candidate.height,
                fps: source.fps.as_f64(),
            })
            .collect(),
        segments: (0..segments.len())
            .map(|s| SegmentRow {
                bytes: chosen.iter().map(|(_, t)| t.chunks[s].bytes).collect(),
                // Pooled scores stay in range; the clamps only absorb float rounding.
                vmaf: Some(
                    chosen
                        .iter()
                        .map(|(_, t)| t.chunks[s].vmaf.clamp(0.0, 100.0))
                        .collect(),
                ),
                ssim: with_ssim.then(|| {
                    chosen
                        .iter()
                        .map(|(_, t)| t.chunks[s].ssim.unwrap_or(0.0).clamp(0.0, 1.0))
                        .collect()
                }),
            })
            .collect(),
    };
    let ladder = Ladder::new(ABR_LADDER_JSON, file)
        .map_err(|e| Error::Output(format!("{ABR_LADDER_JSON}: {e}")))?;
    Ok((ladder, segments))
}

/// `rd.svg` of the job.
fn plot(families: &[FamilyReport], trials: &[TrialRun], options: &LadderOptions) -> String {
    let metric = options.metric.name();
    let point = |t: &TrialRecord, label: String| PlotPoint {
        kbps: t.kbps,
        quality: t.quality,
        label,
    };
    let describe = |t: &TrialRecord| {
        format!(
            "{}: {:.1} kbit/s, {metric} {:.3}",
            t.profile, t.kbps, t.quality
        )
    };
    let all: Vec<PlotPoint> = trials
        .iter()
        .map(|t| point(&t.record, describe(&t.record)))
        .collect();
    let series: Vec<PlotSeries> = families
        .iter()
        .map(|f| PlotSeries {
            name: format!("{} (p {:.2})", f.name, f.probability),
            hull: f
                .hull
                .iter()
                .map(|&i| point(&trials[i].record, describe(&trials[i].record)))
                .collect(),
            rungs: f
                .rungs
                .iter()
                .map(|r| {
                    let t = &trials[r.trial].record;
                    point(t, format!("{} = {}", r.id, describe(t)))
                })
                .collect(),
        })
        .collect();
    rd_svg(metric, options.target, &all, &series)
}

/// Scene features of synthetic content whose motion and cost follow `ti` and `complexity`
/// (for the tests of this module and of `train`).
#[cfg(test)]
pub(crate) fn synthetic_features(
    ti: f64,
    complexity: f64,
    cut_rate: f64,
) -> bitswarm_ladder::SceneFeatures {
    bitswarm_ladder::SceneFeatures {
        si_mean: 60.0,
        si_std: 2.0,
        ti_mean: ti,
        ti_std: 1.0,
        mv_mean_len: ti / 2.0,
        mv_std_len: 1.0,
        mv_moving_share: (ti / 20.0).min(1.0),
        complexity,
        probe_bits_per_pixel: 0.01 * complexity,
        cut_rate,
    }
}

/// A 640x360, 25 fps clip of 10-frame scenes with [`synthetic_features`] `(ti, complexity)`
/// each (for the tests of this module and of `train`).
#[cfg(test)]
pub(crate) fn synthetic_clip(name: &str, scenes: &[(f64, f64)], cut_rate: f64) -> ClipFeatures {
    let rows: Vec<SceneFeatureRow> = scenes
        .iter()
        .enumerate()
        .map(|(i, &(ti, complexity))| SceneFeatureRow {
            start: 10 * i as u64,
            frames: 10,
            features: synthetic_features(ti, complexity, cut_rate),
        })
        .collect();
    ClipFeatures {
        input: name.into(),
        source: VideoInfo::new(640, 360, bitswarm_core::Rational::new(25, 1).unwrap()).unwrap(),
        frames: 10 * rows.len() as u64,
        probe_size: (320, 180),
        clip: weighted_mean(&rows).unwrap(),
        scenes: rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::Rational;
    use bitswarm_ladder::SceneFeatures;

    #[test]
    fn budgets_follow_the_probabilities_and_add_up() {
        assert_eq!(split_budget(10, &[0.7, 0.3]), [7, 3]);
        assert_eq!(split_budget(6, &[0.5, 0.3, 0.2]), [3, 2, 1]);
        assert_eq!(split_budget(4, &[0.4, 0.4, 0.2]), [2, 1, 1]);
        assert_eq!(split_budget(3, &[0.98, 0.01, 0.01]), [1, 1, 1]);
        assert_eq!(split_budget(5, &[1.0]), [5]);
        assert_eq!(split_budget(7, &[0.0, 0.0]), [4, 3]);
        assert!(split_budget(4, &[]).is_empty());
        for budget in 3..40 {
            let split = split_budget(budget, &[0.6, 0.25, 0.15]);
            assert_eq!(split.iter().sum::<usize>(), budget, "{split:?}");
            assert!(split.windows(2).all(|w| w[0] >= w[1]), "{split:?}");
        }
    }

    #[test]
    fn options_are_checked_against_the_metric() {
        LadderOptions::default().validate().unwrap();
        let err = |o: LadderOptions| o.validate().unwrap_err().to_string();
        assert_eq!(
            err(LadderOptions {
                metric: TargetMetric::Ssim,
                ..LadderOptions::default()
            }),
            "invalid configuration: ladder: invalid target 95 (expected 0..=1 for ssim)"
        );
        assert_eq!(
            err(LadderOptions {
                budget: 0,
                ..LadderOptions::default()
            }),
            "invalid configuration: ladder: invalid budget 0 (expected >= 1 trial encode)"
        );
        assert_eq!(
            err(LadderOptions {
                parallel: 0,
                ..LadderOptions::default()
            }),
            "invalid configuration: ladder: invalid parallel 0 (expected >= 1 trial encode at once)"
        );
        assert_eq!(
            err(LadderOptions {
                segment_s: f64::NAN,
                ..LadderOptions::default()
            }),
            "invalid configuration: ladder: invalid segment_s NaN (expected seconds > 0)"
        );
    }

    #[test]
    fn segments_are_two_gops() {
        let info = |num, den| VideoInfo::new(640, 360, Rational::new(num, den).unwrap()).unwrap();
        assert_eq!(segment_gop(4.0, &info(25, 1)), 50);
        assert_eq!(segment_gop(4.0, &info(30000, 1001)), 60);
        assert_eq!(segment_gop(0.01, &info(25, 1)), 1);
        assert_eq!(segment_gop(1e9, &info(25, 1)), 1000);
    }

    fn features(ti: f64, complexity: f64) -> SceneFeatures {
        synthetic_features(ti, complexity, 1.0)
    }

    fn model() -> LadderModel {
        let clip = |name: &str, scenes: &[(f64, f64)]| synthetic_clip(name, scenes, 1.0);
        train(
            &[
                clip("calm", &[(1.0, 2.0), (1.2, 2.1), (0.9, 1.9), (1.1, 2.0)]),
                clip(
                    "busy",
                    &[(15.0, 8.0), (16.0, 8.2), (14.0, 7.9), (15.5, 8.1)],
                ),
            ],
            &TrainOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn families_come_from_the_clusters_above_the_threshold() {
        let model = model();
        let options = LadderOptions {
            budget: 10,
            ..LadderOptions::default()
        };
        let (choices, plans) = plan_families(
            Some(&model),
            &features(15.0, 8.0),
            &options,
            DeviceClass::Desktop,
        )
        .unwrap();
        assert_eq!(choices.len(), 2);
        assert!((choices.iter().map(|c| c.probability).sum::<f64>() - 1.0).abs() < 1e-9);
        // Busy content: one cluster is nearly certain, so one family with the whole budget.
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].cluster, Some(choices[0].cluster));
        assert_eq!(plans[0].name, format!("c{}", choices[0].cluster));
        assert_eq!(plans[0].budget, 10);
        assert_eq!(
            plans[0].seeds,
            model.clusters[choices[0].cluster].centroid_ladder
        );
        assert!(choices[0].selected && !choices[1].selected);

        // A threshold of 0 keeps both clusters, and the budget is split.
        let everything = LadderOptions {
            threshold: 0.0,
            ..options.clone()
        };
        let (_, plans) = plan_families(
            Some(&model),
            &features(8.0, 5.0),
            &everything,
            DeviceClass::Desktop,
        )
        .unwrap();
        assert_eq!(plans.len(), 2);
        assert_eq!(plans.iter().map(|p| p.budget).sum::<usize>(), 10);
        assert!(plans.iter().all(|p| p.budget >= 1));

        // Without a model: the clip is the one family.
        let (choices, plans) =
            plan_families(None, &features(8.0, 5.0), &options, DeviceClass::Mobile).unwrap();
        assert!(choices.is_empty());
        assert_eq!(plans.len(), 1);
        assert_eq!(
            (plans[0].name.as_str(), plans[0].device, plans[0].budget),
            ("clip", DeviceClass::Mobile, 10)
        );
    }

    #[test]
    fn trials_measure_vmaf_and_the_target_metric_in_two_gop_chunks() {
        let mut base = Config::default();
        base.quality.metrics = vec!["SSIM".into()];
        base.target = Some(bitswarm_controller::TargetConfig::new(
            TargetMetric::Vmaf,
            90.0,
        ));
        let c = trial_config(&base, TargetMetric::Ssim);
        assert_eq!(c.quality.metrics, ["SSIM", "vmaf"]);
        assert_eq!(c.chunking.gops_per_chunk, GOPS_PER_SEGMENT);
        assert_eq!(c.target, None);
        c.validate().unwrap();
    }
}
