//! `bitswarm abr`: evaluate ABR policies on network traces, train the RL agent, measure speed.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use bitswarm_abr::files::{load_client, load_ladder, load_traces};
use bitswarm_abr::plot::{line_chart, Series};
use bitswarm_abr::{
    baseline_policy, evaluate, AbrPolicy, AbrState, Choice, ClientCaps, EnvPool, Ladder, LinkModel,
    PoolConfig, Rng, SessionConfig, SessionResult, SimConfig, Simulator, Summary, Trace,
    BASELINE_POLICIES,
};
use bitswarm_abr_rl::{train, ActorCritic, CurvePoint, Phase, RlPolicy, TrainConfig, TrainData};

#[derive(clap::Subcommand)]
pub enum AbrCommand {
    /// Play every trace of a folder with each policy; print a table and write a QoE CDF plot.
    Eval {
        /// Policies, comma-separated or repeated: bb, rate, bola, mpc, mixing, rl, or `all`.
        #[arg(short, long, value_delimiter = ',', required = true)]
        policy: Vec<String>,
        /// Folder of traces (`<time_s> <Mbit/s>` per line), e.g. ../shared/traces/dev.
        #[arg(short, long)]
        traces: PathBuf,
        /// JSON ladder file, or a folder of Pensieve video_size_N files with Manifest.mpd.
        #[arg(short, long)]
        ladder: PathBuf,
        /// Client: desktop, phone, tv, legacy, or a JSON file of capabilities.
        #[arg(long, default_value = "desktop")]
        client: String,
        /// RL model for `rl` [default: the shipped model].
        #[arg(long)]
        model: Option<PathBuf>,
        /// Chunks per session [default: the ladder's playable segments; 48 for Pensieve's video].
        #[arg(long)]
        chunks: Option<usize>,
        /// Round-trip time of the link where the traces have no RTT column, ms.
        #[arg(long, default_value_t = 80.0)]
        rtt_ms: f64,
        /// Packet loss rate of the link where the traces have no loss column.
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        /// Write the CDF of per-trace QoE here (SVG).
        #[arg(long, default_value = "abr-qoe-cdf.svg")]
        plot: PathBuf,
        /// Do not write the plot.
        #[arg(long)]
        no_plot: bool,
        /// Print JSON (summaries and per-trace QoE) instead of the table.
        #[arg(long)]
        json: bool,
        /// Threads over traces.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Train the RL agent (PPO) on a trace folder; writes the model, its learning curve (SVG)
    /// and the curve's points (JSON).
    Train {
        /// Training traces, e.g. ../shared/traces/train.
        #[arg(short, long)]
        traces: PathBuf,
        #[arg(short, long)]
        ladder: PathBuf,
        /// Output model (safetensors).
        #[arg(short, long)]
        output: PathBuf,
        /// Checkpoints are chosen on these traces [default: the training traces, test conditions].
        #[arg(long)]
        validation: Option<PathBuf>,
        /// Also score these at every evaluation, for the learning curve only (e.g. dev).
        #[arg(long)]
        report: Option<PathBuf>,
        /// Clients drawn per episode (presets or JSON files, comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "desktop,phone,legacy")]
        clients: Vec<String>,
        /// PPO updates.
        #[arg(long)]
        iterations: Option<usize>,
        #[arg(long)]
        seed: Option<u64>,
        /// Training settings as JSON (fields of TrainConfig); flags above override it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Speed figures: simulator chunk-steps/s, policy decision times, pool stepping.
    Bench {
        #[arg(short, long)]
        traces: PathBuf,
        #[arg(short, long)]
        ladder: PathBuf,
    },
}

pub fn run(cmd: AbrCommand) -> Result<()> {
    match cmd {
        AbrCommand::Eval {
            policy,
            traces,
            ladder,
            client,
            model,
            chunks,
            rtt_ms,
            loss,
            plot,
            no_plot,
            json,
            threads,
        } => {
            let plot = (!no_plot).then_some(plot);
            eval(EvalArgs {
                policies: policy,
                traces,
                ladder,
                client,
                model,
                chunks,
                link: LinkModel { rtt_ms, loss },
                plot,
                json,
                threads,
            })
        }
        AbrCommand::Train {
            traces,
            ladder,
            output,
            validation,
            report,
            clients,
            iterations,
            seed,
            config,
        } => {
            let mut cfg = match &config {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    serde_json::from_str(&text).with_context(|| {
                        format!("{}: not a training configuration", path.display())
                    })?
                }
                None => TrainConfig::default(),
            };
            if let Some(n) = iterations {
                cfg.iterations = n;
            }
            if let Some(s) = seed {
                cfg.seed = s;
            }
            train_command(
                &traces,
                &ladder,
                &output,
                validation.as_deref(),
                report.as_deref(),
                &clients,
                &cfg,
            )
        }
        AbrCommand::Bench { traces, ladder } => bench(&traces, &ladder),
    }
}

struct EvalArgs {
    policies: Vec<String>,
    traces: PathBuf,
    ladder: PathBuf,
    client: String,
    model: Option<PathBuf>,
    chunks: Option<usize>,
    link: LinkModel,
    plot: Option<PathBuf>,
    json: bool,
    threads: usize,
}

/// Every policy name `eval` accepts.
fn policy_names() -> Vec<&'static str> {
    let mut names = BASELINE_POLICIES.to_vec();
    names.push("rl");
    names
}

fn load_model(path: Option<&Path>) -> Result<ActorCritic> {
    Ok(match path {
        Some(p) => ActorCritic::load(p)?,
        None => ActorCritic::shipped()?,
    })
}

/// A constructor of fresh policies of one kind, shareable between threads.
type PolicyFactory = Box<dyn Fn() -> bitswarm_abr::Result<Box<dyn AbrPolicy>> + Sync>;

fn policy_factory(name: &str, model: Option<&ActorCritic>) -> Result<PolicyFactory> {
    if name == "rl" {
        let model = model.context("internal: no model loaded for rl")?.clone();
        return Ok(Box::new(move || {
            Ok(Box::new(RlPolicy::new(model.clone())) as Box<dyn AbrPolicy>)
        }));
    }
    baseline_policy(name)?;
    let name = name.to_owned();
    Ok(Box::new(move || baseline_policy(&name)))
}

fn eval(args: EvalArgs) -> Result<()> {
    let mut names: Vec<String> = Vec::new();
    for p in &args.policies {
        if p == "all" {
            names.extend(policy_names().iter().map(|s| s.to_string()));
        } else if policy_names().contains(&p.as_str()) {
            names.push(p.clone());
        } else {
            bail!(
                "unknown policy {p:?} (known: {}, all)",
                policy_names().join(", ")
            );
        }
    }
    names.dedup();
    let traces = load_traces(&args.traces)?;
    let ladder = load_ladder(&args.ladder)?;
    let client = load_client(&args.client)?;
    let model = if names.iter().any(|n| n == "rl") {
        Some(load_model(args.model.as_deref())?)
    } else {
        None
    };
    args.link.validate()?;
    let cfg = SessionConfig {
        chunks: args.chunks,
        sim: SimConfig {
            link: args.link,
            ..SimConfig::default()
        },
        ..SessionConfig::default()
    };
    let mut results: Vec<(Summary, Vec<SessionResult>)> = Vec::new();
    for name in &names {
        let make = policy_factory(name, model.as_ref())?;
        let sessions = evaluate(&*make, &traces, &ladder, &client, &cfg, args.threads)
            .with_context(|| format!("policy {name}"))?;
        results.push((Summary::of(name, &sessions), sessions));
    }
    if let Some(path) = &args.plot {
        let series: Vec<Series> = results
            .iter()
            .map(|(s, sessions)| {
                Series::cdf(
                    &s.policy,
                    &sessions.iter().map(|r| r.qoe).collect::<Vec<_>>(),
                )
            })
            .collect();
        let title = format!(
            "QoE per trace: {} traces of {}",
            traces.len(),
            args.traces.display()
        );
        std::fs::write(
            path,
            line_chart(
                &title,
                "total QoE of a session",
                "share of traces",
                &series,
                None,
            ),
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        let report = json!({
            "traces": args.traces.display().to_string(),
            "ladder": ladder.name(),
            "client": client,
            "link": args.link,
            "summaries": results.iter().map(|(s, _)| s).collect::<Vec<_>>(),
            "per_trace_qoe": results.iter().map(|(s, sessions)| {
                (s.policy.clone(), sessions.iter().map(|r| json!({"trace": r.trace, "qoe": r.qoe})).collect::<serde_json::Value>())
            }).collect::<serde_json::Map<_, _>>(),
            "plot": args.plot.as_ref().map(|p| p.display().to_string()),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} traces of {}, ladder {} ({} rungs), client {}, link {} ms RTT, {} loss",
        traces.len(),
        args.traces.display(),
        ladder.name(),
        ladder.rung_count(),
        args.client,
        args.link.rtt_ms,
        args.link.loss
    );
    println!(
        "{:<8} {:>9} {:>13} {:>11} {:>9}",
        "policy", "mean QoE", "bitrate kbps", "rebuffer s", "switches"
    );
    for (s, _) in &results {
        println!(
            "{:<8} {:>9.2} {:>13.0} {:>11.2} {:>9.1}",
            s.policy, s.mean_qoe, s.mean_bitrate_kbps, s.mean_rebuffer_s, s.mean_switches
        );
    }
    if let Some(path) = &args.plot {
        println!("CDF of per-trace QoE: {}", path.display());
    }
    Ok(())
}

fn progress_bar(len: u64) -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} rounds+updates  {msg}",
            )
            .expect("valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    })
}

fn curve_svg(curve: &[CurvePoint], title: &str) -> String {
    let steps = |f: &dyn Fn(&CurvePoint) -> Option<f64>| {
        curve
            .iter()
            .filter_map(|p| f(p).map(|y| (p.env_steps as f64 / 1e6, y)))
            .collect::<Vec<_>>()
    };
    let mut series = vec![
        Series {
            name: "validation (greedy)".into(),
            points: steps(&|p| Some(p.validation_qoe)),
        },
        Series {
            name: "training episodes".into(),
            points: steps(&|p| Some(p.train_episode_qoe).filter(|q| q.is_finite())),
        },
    ];
    if curve.iter().any(|p| p.report_qoe.is_some()) {
        series.push(Series {
            name: "report set (greedy)".into(),
            points: steps(&|p| p.report_qoe),
        });
    }
    // The first evaluations of an untrained policy are far below the rest: span the y axis over
    // the points after the first tenth of training.
    let later = curve.len() / 10;
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().skip(later).map(|p| p.1))
        .collect();
    let (lo, hi) = ys
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &y| {
            (lo.min(y), hi.max(y))
        });
    let pad = (hi - lo).max(1.0) * 0.05;
    line_chart(
        title,
        "environment steps (millions)",
        "mean QoE per session",
        &series,
        Some((lo - pad, hi + pad)),
    )
}

fn train_command(
    traces: &Path,
    ladder: &Path,
    output: &Path,
    validation: Option<&Path>,
    report: Option<&Path>,
    clients: &[String],
    cfg: &TrainConfig,
) -> Result<()> {
    let train_traces = load_traces(traces)?;
    let validation_traces = match validation {
        Some(dir) => load_traces(dir)?,
        None => train_traces.clone(),
    };
    let report_traces = report.map(load_traces).transpose()?;
    let ladder = load_ladder(ladder)?;
    let clients = clients
        .iter()
        .map(|c| load_client(c))
        .collect::<bitswarm_abr::Result<Vec<ClientCaps>>>()?;
    let data = TrainData {
        traces: &train_traces,
        validation: &validation_traces,
        report: report_traces.as_deref(),
        ladder: &ladder,
        clients: &clients,
    };
    let bar = progress_bar((cfg.imitation_rounds + cfg.iterations) as u64);
    let started = Instant::now();
    let outcome = train(&data, cfg, &mut |iteration, point| {
        if let Some(bar) = &bar {
            bar.set_position(iteration as u64);
        }
        if let Some(p) = point {
            let phase = match p.phase {
                Phase::Imitation => "imitation round",
                Phase::Ppo => "ppo update",
            };
            let line = format!(
                "{phase} {:>5}  steps {:>9}  train episodes {:>7.2}  validation {:>7.2}{}",
                p.iteration,
                p.env_steps,
                p.train_episode_qoe,
                p.validation_qoe,
                p.report_qoe
                    .map(|q| format!("  report {q:>7.2}"))
                    .unwrap_or_default()
            );
            match &bar {
                Some(bar) => {
                    bar.set_message(format!("validation {:.2}", p.validation_qoe));
                    bar.println(line);
                }
                None => eprintln!("{line}"),
            }
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let elapsed = started.elapsed();
    outcome.best.save(output)?;
    let curve_json = output.with_extension("curve.json");
    let curve_plot = output.with_extension("curve.svg");
    let summary = json!({
        "config": cfg,
        "traces": traces.display().to_string(),
        "ladder": ladder.name(),
        "best_iteration": outcome.best_iteration,
        "seconds": elapsed.as_secs_f64(),
        "curve": outcome.curve,
    });
    std::fs::write(&curve_json, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", curve_json.display()))?;
    let title = format!(
        "{} imitation rounds + {} PPO updates on {} (seed {})",
        cfg.imitation_rounds,
        cfg.iterations,
        traces.display(),
        cfg.seed
    );
    std::fs::write(&curve_plot, curve_svg(&outcome.curve, &title))
        .with_context(|| format!("cannot write {}", curve_plot.display()))?;
    let best = outcome
        .curve
        .iter()
        .find(|p| p.iteration == outcome.best_iteration);
    println!(
        "trained {} imitation rounds + {} PPO updates ({} env steps) in {:.1} s; best validation QoE {:.2} at {}",
        cfg.imitation_rounds,
        cfg.iterations,
        outcome.curve.last().map_or(0, |p| p.env_steps),
        elapsed.as_secs_f64(),
        best.map_or(f64::NAN, |p| p.validation_qoe),
        best.map_or_else(String::new, |p| format!(
            "{} {}",
            match p.phase {
                Phase::Imitation => "imitation round",
                Phase::Ppo => "PPO update",
            },
            p.iteration
        ))
    );
    println!(
        "model {} ({} parameters), curve {} and {}",
        output.display(),
        outcome.best.parameter_count(),
        curve_plot.display(),
        curve_json.display()
    );
    Ok(())
}

/// Wraps a policy and times its decisions.
struct Timed {
    inner: Box<dyn AbrPolicy>,
    decisions: u64,
    spent: Duration,
}

impl AbrPolicy for Timed {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn reset(&mut self) {
        self.inner.reset();
    }
    fn choose(&mut self, state: &AbrState) -> Choice {
        let t = Instant::now();
        let c = self.inner.choose(state);
        self.spent += t.elapsed();
        self.decisions += 1;
        c
    }
    fn startup_rung(&self) -> usize {
        self.inner.startup_rung()
    }
    fn check_ladder(&self, ladder: &Ladder) -> bitswarm_abr::Result<()> {
        self.inner.check_ladder(ladder)
    }
}

/// Mean decision time of `policy` over one pass of `traces`, microseconds.
fn decision_us(policy: Box<dyn AbrPolicy>, traces: &[Trace], ladder: &Ladder) -> Result<f64> {
    let mut timed = Timed {
        inner: policy,
        decisions: 0,
        spent: Duration::ZERO,
    };
    let client = ClientCaps::default();
    for (i, t) in traces.iter().enumerate() {
        bitswarm_abr::run_session(
            &mut timed,
            t,
            ladder,
            &client,
            &SessionConfig::default(),
            Rng::new(i as u64),
        )?;
    }
    Ok(timed.spent.as_secs_f64() * 1e6 / timed.decisions.max(1) as f64)
}

fn bench(traces: &Path, ladder: &Path) -> Result<()> {
    let traces = load_traces(traces)?;
    let ladder = load_ladder(ladder)?;
    // Raw simulator: chunk downloads per second, cycling through the rungs.
    let started = Instant::now();
    let mut steps = 0u64;
    while started.elapsed() < Duration::from_secs(2) {
        for (i, t) in traces.iter().enumerate() {
            let chunks = ladder.playable_segments();
            let mut sim =
                Simulator::new(t, &ladder, SimConfig::default(), chunks, Rng::new(i as u64))?;
            for c in 0..chunks {
                sim.download(c % ladder.rung_count())?;
            }
            steps += chunks as u64;
        }
    }
    let sim_rate = steps as f64 / started.elapsed().as_secs_f64();
    println!(
        "simulator: {:.2} M chunk-steps/s (one thread, {} traces, no policy)",
        sim_rate / 1e6,
        traces.len()
    );

    // Sessions with a cheap policy, one thread and two.
    for threads in [1, 2] {
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < Duration::from_secs(2) {
            let s = evaluate(
                || baseline_policy("bb"),
                &traces,
                &ladder,
                &ClientCaps::default(),
                &SessionConfig::default(),
                threads,
            )?;
            n += s.iter().map(|r| r.chunks.len() as u64).sum::<u64>();
        }
        println!(
            "sessions with bb, {threads} thread(s): {:.2} M chunk-steps/s",
            n as f64 / started.elapsed().as_secs_f64() / 1e6
        );
    }

    // Training pool: 32 environments, 1 and 2 stepping threads.
    let clients = [ClientCaps::default()];
    for threads in [1, 2] {
        let cfg = PoolConfig {
            envs: 32,
            threads,
            ..PoolConfig::default()
        };
        let mut pool = EnvPool::new(&traces, &ladder, &clients, cfg)?;
        let choices = vec![Choice::select(1); 32];
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < Duration::from_secs(1) {
            pool.step(&choices)?;
            n += 32;
        }
        println!(
            "training pool, 32 envs, {threads} thread(s): {:.2} M env-steps/s",
            n as f64 / started.elapsed().as_secs_f64() / 1e6
        );
    }

    for name in ["bb", "rate", "bola", "mixing", "mpc"] {
        println!(
            "{name:<6} decision: {:>8.2} us",
            decision_us(baseline_policy(name)?, &traces, &ladder)?
        );
    }
    let rl = RlPolicy::new(ActorCritic::shipped()?);
    if rl.check_ladder(&ladder).is_ok() {
        println!(
            "{:<6} decision: {:>8.2} us (batch of 1, candle CPU)",
            "rl",
            decision_us(Box::new(rl), &traces, &ladder)?
        );
    }
    Ok(())
}
