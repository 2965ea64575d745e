//! The bitswarm runtime: everything that touches sockets, processes, files and clocks.
//!
//! - [`broker`]: the embedded MQTT 5 broker (rumqttd).
//! - [`worker`]: an encoding server: joins the swarm, encodes assigned chunks with the codec
//!   backends, streams partial encoded data back, publishes telemetry, leaves gracefully.
//! - [`controller`]: one encode job: reads and analyses the input as a stream, drives the
//!   [`bitswarm_controller::Scheduler`] with wall-clock time, moves source frames and encoded
//!   parts over MQTT, reassembles the stream in order, writes the outputs and the report.
//! - [`journal`]: finished chunks on disk, for `--resume`.
//! - [`verify`]: decoding every finished chunk and measuring it (PSNR, VMAF, SSIM).
//!
//! The pure decisions (policy, chunking, scheduling) live in `bitswarm-controller`; the wire
//! format in `bitswarm-proto`. This crate only wires them to the world.
//!
//! ```no_run
//! # async fn run() -> bitswarm_swarm::Result<()> {
//! use bitswarm_swarm::{broker::EmbeddedBroker, Config};
//! let broker = EmbeddedBroker::start("127.0.0.1:0".parse().unwrap())?;
//! println!("workers can join with: bitswarm worker --broker {}", broker.url());
//! # Ok(()) }
//! ```

pub mod broker;
pub mod config;
pub mod controller;
pub mod journal;
pub mod ladder;
pub mod mqtt;
pub mod report;
pub mod verify;
pub mod worker;

pub use config::Config;

/// Errors of the runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("bad broker URL {0}")]
    BrokerUrl(String),
    #[error("broker: {0}")]
    Broker(String),
    #[error("MQTT: {0}")]
    Mqtt(String),
    #[error("cannot resume: {0}")]
    Resume(String),
    #[error("input: {0}")]
    Input(#[from] bitswarm_media::Error),
    #[error("encoder: {0}")]
    Codec(#[from] bitswarm_codec::Error),
    #[error("protocol: {0}")]
    Proto(#[from] bitswarm_proto::Error),
    #[error("output: {0}")]
    Output(String),
    #[error("job failed: {0}")]
    Job(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<bitswarm_controller::Error> for Error {
    fn from(e: bitswarm_controller::Error) -> Self {
        match e {
            bitswarm_controller::Error::Config(message) => Error::Config(message),
        }
    }
}
