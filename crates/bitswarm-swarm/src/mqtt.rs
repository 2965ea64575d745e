//! MQTT 5 client set-up shared by the controller and the encoding servers.

use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::LastWill;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, EventLoop, MqttOptions};

use crate::broker::MAX_PACKET;
use crate::{Error, Result};

/// A broker address from `mqtt://host:port` (port 1883 when left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
}

impl std::str::FromStr for BrokerUrl {
    type Err = Error;
    fn from_str(url: &str) -> Result<Self> {
        let bad =
            |why: &str| Error::BrokerUrl(format!("{url:?}: {why} (expected mqtt://HOST[:PORT])"));
        let rest = url
            .strip_prefix("mqtt://")
            .or_else(|| url.strip_prefix("tcp://"))
            .ok_or_else(|| bad("unsupported scheme"))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h, p.parse().map_err(|_| bad("bad port"))?)
            }
            _ => (rest, 1883),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mqtt://{}:{}", self.host, self.port)
    }
}

/// A retained message the broker publishes for us if the connection dies.
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
}

/// Options for one MQTT 5 session.
pub fn options(url: &BrokerUrl, client_id: &str, will: Option<Will>) -> MqttOptions {
    let mut opts = MqttOptions::new(client_id, url.host.clone(), url.port);
    opts.set_keep_alive(Duration::from_secs(5));
    opts.set_max_packet_size(Some(MAX_PACKET as u32));
    opts.set_clean_start(true);
    if let Some(w) = will {
        opts.set_last_will(LastWill::new(
            w.topic,
            w.payload,
            QoS::AtLeastOnce,
            true,
            None,
        ));
    }
    opts
}

/// Connects (lazily: the event loop connects on its first poll).
pub fn connect(url: &BrokerUrl, client_id: &str, will: Option<Will>) -> (AsyncClient, EventLoop) {
    AsyncClient::new(options(url, client_id, will), 256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_parse_with_clear_errors() {
        assert_eq!(
            "mqtt://127.0.0.1:1884".parse::<BrokerUrl>().unwrap(),
            BrokerUrl {
                host: "127.0.0.1".into(),
                port: 1884
            }
        );
        assert_eq!("mqtt://broker".parse::<BrokerUrl>().unwrap().port, 1883);
        assert_eq!("mqtt://[::1]:9".parse::<BrokerUrl>().unwrap().host, "::1");
        let err = "http://x:1".parse::<BrokerUrl>().unwrap_err().to_string();
        assert_eq!(
            err,
            "bad broker URL \"http://x:1\": unsupported scheme (expected mqtt://HOST[:PORT])"
        );
        assert!("mqtt://x:notaport".parse::<BrokerUrl>().is_err());
    }
}
