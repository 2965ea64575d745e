//! The embedded MQTT 5 broker (rumqttd), for zero-setup runs and `bitswarm broker`.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Largest MQTT packet the embedded broker accepts (a data part plus headers fits easily).
pub const MAX_PACKET: usize = 8 << 20;

/// A running embedded broker. It lives until the process exits (rumqttd has no shutdown).
#[derive(Debug, Clone)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
}

impl EmbeddedBroker {
    /// Starts a broker on `listen`; port 0 picks a free port.
    pub fn start(listen: SocketAddr) -> Result<Self> {
        let addr = if listen.port() == 0 {
            // rumqttd cannot report the port it bound, so reserve one and hand it over.
            let probe = TcpListener::bind(listen)
                .map_err(|e| Error::Broker(format!("cannot bind {listen}: {e}")))?;
            probe.local_addr()?
        } else {
            listen
        };
        let settings = rumqttd::ServerSettings {
            name: "v5".into(),
            listen: addr,
            tls: None,
            next_connection_delay_ms: 0,
            connections: rumqttd::ConnectionSettings {
                connection_timeout_ms: 10_000,
                max_payload_size: MAX_PACKET,
                max_inflight_count: 1024,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        };
        let config = rumqttd::Config {
            id: 0,
            router: rumqttd::RouterConfig {
                max_connections: 10_000,
                max_outgoing_packet_count: 1024,
                // rumqttd keeps a log per subscription filter of at most size x count bytes;
                // this bounds the broker's memory however long the job (a frames topic holds at
                // most a server's chunks in flight, far below this).
                max_segment_size: 64 << 20,
                max_segment_count: 3,
                custom_segment: None,
                initialized_filters: None,
                shared_subscriptions_strategy: Default::default(),
            },
            v5: Some(HashMap::from([("v5".to_string(), settings)])),
            ..Default::default()
        };
        std::thread::Builder::new()
            .name("mqtt-broker".into())
            .spawn(move || {
                let mut broker = rumqttd::Broker::new(config);
                if let Err(e) = broker.start() {
                    tracing::error!(%e, "embedded broker stopped");
                }
            })?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                return Err(Error::Broker(format!(
                    "embedded broker did not start on {addr}"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        tracing::info!(%addr, "embedded MQTT 5 broker listening");
        Ok(Self { addr })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `mqtt://host:port` of this broker, for workers.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }
}
