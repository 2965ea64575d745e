//! The swarm a command encodes with: an external broker, or an embedded one with local
//! encoding servers (one per core by default).

use std::path::PathBuf;

use anyhow::{bail, Result};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use bitswarm_swarm::broker::EmbeddedBroker;
use bitswarm_swarm::mqtt::BrokerUrl;
use bitswarm_swarm::worker::WorkerOptions;
use bitswarm_swarm::Config;

/// Where a command's encoding servers come from (`encode` and `ladder` flatten this in).
#[derive(clap::Args)]
pub struct SwarmArgs {
    /// Local encoding servers to start [default: one per core; 0 with --broker].
    #[arg(short, long)]
    pub workers: Option<usize>,
    /// Use this MQTT 5 broker (mqtt://HOST:PORT) instead of an embedded one.
    #[arg(short, long, env = "BITSWARM_BROKER")]
    pub broker: Option<String>,
}

/// A broker URL and the local encoding servers started on it.
pub struct LocalSwarm {
    pub url: BrokerUrl,
    stop: broadcast::Sender<()>,
    workers: Vec<JoinHandle<bitswarm_swarm::Result<()>>>,
}

impl LocalSwarm {
    /// With `--broker`: that broker and `--workers` local servers (default 0). Without: an
    /// embedded broker on a free loopback port and `--workers` servers (default one per core).
    /// Servers are named `<id_prefix>-local<i>`.
    pub fn start(
        args: &SwarmArgs,
        config: &Config,
        ffmpeg: Option<PathBuf>,
        id_prefix: &str,
    ) -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (url, local) = match &args.broker {
            Some(url) => (url.parse::<BrokerUrl>()?, args.workers.unwrap_or(0)),
            None => {
                let workers = args.workers.unwrap_or(cores);
                if workers == 0 {
                    bail!("--workers 0 needs --broker: an embedded broker has no other servers to use");
                }
                let broker = EmbeddedBroker::start("127.0.0.1:0".parse()?)?;
                (broker.url().parse::<BrokerUrl>()?, workers)
            }
        };
        let (stop, _) = broadcast::channel::<()>(1);
        let workers = (0..local)
            .map(|i| {
                let opts = WorkerOptions {
                    ffmpeg: ffmpeg.clone(),
                    ..WorkerOptions::new(format!("{id_prefix}-local{i}"), config)
                };
                let mut stopped = stop.subscribe();
                let url = url.clone();
                tokio::spawn(async move {
                    bitswarm_swarm::worker::run(url, opts, async move {
                        let _ = stopped.recv().await;
                    })
                    .await
                })
            })
            .collect();
        Ok(Self { url, stop, workers })
    }

    /// Stops the local servers and waits for them to leave.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        for task in self.workers {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(%e, "local server ended with an error"),
                Err(e) => tracing::warn!(%e, "local server task failed"),
            }
        }
    }
}
