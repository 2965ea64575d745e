//! The topic tree: `{root}/servers/{server}/{status|telemetry|inbox|frames}` and
//! `{root}/jobs/{job}/{status|events|data}`. Every topic belongs to exactly one server or one
//! job, so the broker spreads load over many topics; the only wildcard subscriptions a
//! controller needs are the low-rate presence topics (`servers/+/status`) and, optionally,
//! telemetry.

use std::fmt;

use crate::{Error, JobId, Result, ServerId};

/// The root of the topic tree when none is configured.
pub const DEFAULT_ROOT: &str = "bitswarm/v1";

const SERVERS: &str = "servers";
const JOBS: &str = "jobs";
const MAX_ROOT_LEN: usize = 1024;

/// A topic of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerTopic {
    /// Retained presence and capabilities; the server's MQTT Last Will. Server -> controllers.
    Status,
    /// Load figures, QoS 0. Server -> controllers.
    Telemetry,
    /// Control messages for this server. Controllers -> server.
    Inbox,
    /// Source frames as binary data parts. Controllers -> server.
    Frames,
}

/// A topic of one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobTopic {
    /// Retained `job_end`; the controller's MQTT Last Will. Controller -> servers of the job.
    Status,
    /// Control messages about the job. Servers -> controller.
    Events,
    /// Encoded chunk data as binary data parts. Servers -> controller.
    Data,
}

impl ServerTopic {
    pub const ALL: [ServerTopic; 4] = [Self::Status, Self::Telemetry, Self::Inbox, Self::Frames];

    /// The last topic level.
    pub fn leaf(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Telemetry => "telemetry",
            Self::Inbox => "inbox",
            Self::Frames => "frames",
        }
    }

    /// MQTT QoS to publish and subscribe with: 0 for telemetry (a lost sample is replaced by the
    /// next one), 1 for everything else.
    pub fn qos(self) -> u8 {
        match self {
            Self::Telemetry => 0,
            Self::Status | Self::Inbox | Self::Frames => 1,
        }
    }

    /// Whether messages on this topic are published with the MQTT retain flag.
    pub fn retained(self) -> bool {
        self == Self::Status
    }

    /// Whether payloads are binary data parts (else JSON control messages).
    pub fn carries_data(self) -> bool {
        self == Self::Frames
    }
}

impl JobTopic {
    pub const ALL: [JobTopic; 3] = [Self::Status, Self::Events, Self::Data];

    /// The last topic level.
    pub fn leaf(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Events => "events",
            Self::Data => "data",
        }
    }

    /// MQTT QoS to publish and subscribe with (always 1).
    pub fn qos(self) -> u8 {
        1
    }

    /// Whether messages on this topic are published with the MQTT retain flag.
    pub fn retained(self) -> bool {
        self == Self::Status
    }

    /// Whether payloads are binary data parts (else JSON control messages).
    pub fn carries_data(self) -> bool {
        self == Self::Data
    }
}

/// A parsed topic: which kind it is and whose.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TopicRef {
    Server(ServerId, ServerTopic),
    Job(JobId, JobTopic),
}

impl TopicRef {
    pub fn qos(&self) -> u8 {
        match self {
            Self::Server(_, t) => t.qos(),
            Self::Job(_, t) => t.qos(),
        }
    }

    pub fn retained(&self) -> bool {
        match self {
            Self::Server(_, t) => t.retained(),
            Self::Job(_, t) => t.retained(),
        }
    }

    pub fn carries_data(&self) -> bool {
        match self {
            Self::Server(_, t) => t.carries_data(),
            Self::Job(_, t) => t.carries_data(),
        }
    }
}

/// Builds and parses the topic names under one root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    root: String,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            root: DEFAULT_ROOT.to_owned(),
        }
    }
}

impl fmt::Display for Topics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.root)
    }
}

impl Topics {
    /// A tree under `root` (one or more non-empty levels, no wildcards, not starting with `$`,
    /// no leading or trailing `/`), e.g. `"bitswarm/v1"` or `"site-a/bitswarm/v1"`.
    pub fn new(root: impl Into<String>) -> Result<Self> {
        let root = root.into();
        let reason = if root.is_empty() {
            Some("empty")
        } else if root.len() > MAX_ROOT_LEN {
            Some("longer than 1024 bytes")
        } else if root.contains(['+', '#']) {
            Some("contains an MQTT wildcard (+ or #)")
        } else if root.contains('\0') {
            Some("contains a NUL character")
        } else if root.starts_with('$') {
            Some("starts with '$' (reserved for broker topics)")
        } else if root.split('/').any(str::is_empty) {
            Some("has an empty level (leading, trailing or double '/')")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::InvalidRoot { root, reason }),
            None => Ok(Self { root }),
        }
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    /// The topic of one server.
    pub fn server(&self, server: &ServerId, topic: ServerTopic) -> String {
        format!("{}/{SERVERS}/{server}/{}", self.root, topic.leaf())
    }

    /// The topic of one job.
    pub fn job(&self, job: &JobId, topic: JobTopic) -> String {
        format!("{}/{JOBS}/{job}/{}", self.root, topic.leaf())
    }

    /// The topic name of a parsed topic (the inverse of [`Topics::parse`]).
    pub fn build(&self, topic: &TopicRef) -> String {
        match topic {
            TopicRef::Server(server, t) => self.server(server, *t),
            TopicRef::Job(job, t) => self.job(job, *t),
        }
    }

    /// `{root}/servers/{server}/status`
    pub fn server_status(&self, server: &ServerId) -> String {
        self.server(server, ServerTopic::Status)
    }

    /// `{root}/servers/{server}/telemetry`
    pub fn server_telemetry(&self, server: &ServerId) -> String {
        self.server(server, ServerTopic::Telemetry)
    }

    /// `{root}/servers/{server}/inbox`
    pub fn server_inbox(&self, server: &ServerId) -> String {
        self.server(server, ServerTopic::Inbox)
    }

    /// `{root}/servers/{server}/frames`
    pub fn server_frames(&self, server: &ServerId) -> String {
        self.server(server, ServerTopic::Frames)
    }

    /// `{root}/jobs/{job}/status`
    pub fn job_status(&self, job: &JobId) -> String {
        self.job(job, JobTopic::Status)
    }

    /// `{root}/jobs/{job}/events`
    pub fn job_events(&self, job: &JobId) -> String {
        self.job(job, JobTopic::Events)
    }

    /// `{root}/jobs/{job}/data`
    pub fn job_data(&self, job: &JobId) -> String {
        self.job(job, JobTopic::Data)
    }

    /// Subscription filter for one topic of every server: `{root}/servers/+/{leaf}`.
    pub fn all_servers(&self, topic: ServerTopic) -> String {
        format!("{}/{SERVERS}/+/{}", self.root, topic.leaf())
    }

    /// Subscription filter for one topic of every job: `{root}/jobs/+/{leaf}`.
    pub fn all_jobs(&self, topic: JobTopic) -> String {
        format!("{}/{JOBS}/+/{}", self.root, topic.leaf())
    }

    /// Subscription filter for the whole tree, for debugging (`mosquitto_sub -t`): `{root}/#`.
    pub fn everything(&self) -> String {
        format!("{}/#", self.root)
    }

    /// Which topic `topic` is, or `None` for a topic outside this tree, of an unknown kind or
    /// with an invalid id (including wildcard filters).
    pub fn parse(&self, topic: &str) -> Option<TopicRef> {
        let rest = topic.strip_prefix(self.root.as_str())?.strip_prefix('/')?;
        let mut levels = rest.split('/');
        let (scope, id, leaf) = (levels.next()?, levels.next()?, levels.next()?);
        if levels.next().is_some() {
            return None;
        }
        match scope {
            SERVERS => {
                let kind = ServerTopic::ALL.into_iter().find(|t| t.leaf() == leaf)?;
                Some(TopicRef::Server(ServerId::new(id).ok()?, kind))
            }
            JOBS => {
                let kind = JobTopic::ALL.into_iter().find(|t| t.leaf() == leaf)?;
                Some(TopicRef::Job(JobId::new(id).ok()?, kind))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_refs() -> Vec<TopicRef> {
        let server = ServerId::new("enc-01").unwrap();
        let job = JobId::new("job.7").unwrap();
        ServerTopic::ALL
            .into_iter()
            .map(|t| TopicRef::Server(server.clone(), t))
            .chain(
                JobTopic::ALL
                    .into_iter()
                    .map(|t| TopicRef::Job(job.clone(), t)),
            )
            .collect()
    }

    #[test]
    fn every_topic_round_trips_under_any_root() {
        for root in [DEFAULT_ROOT, "x", "site-a/bitswarm/v1"] {
            let topics = Topics::new(root).unwrap();
            for r in all_refs() {
                let name = topics.build(&r);
                assert!(name.starts_with(&format!("{root}/")), "{name}");
                assert_eq!(topics.parse(&name), Some(r.clone()), "{name}");
            }
        }
    }

    #[test]
    fn topic_names_are_as_documented() {
        let t = Topics::default();
        let s = ServerId::new("enc-01").unwrap();
        let j = JobId::new("job.7").unwrap();
        assert_eq!(t.server_status(&s), "bitswarm/v1/servers/enc-01/status");
        assert_eq!(
            t.server_telemetry(&s),
            "bitswarm/v1/servers/enc-01/telemetry"
        );
        assert_eq!(t.server_inbox(&s), "bitswarm/v1/servers/enc-01/inbox");
        assert_eq!(t.server_frames(&s), "bitswarm/v1/servers/enc-01/frames");
        assert_eq!(t.job_status(&j), "bitswarm/v1/jobs/job.7/status");
        assert_eq!(t.job_events(&j), "bitswarm/v1/jobs/job.7/events");
        assert_eq!(t.job_data(&j), "bitswarm/v1/jobs/job.7/data");
        assert_eq!(
            t.all_servers(ServerTopic::Status),
            "bitswarm/v1/servers/+/status"
        );
        assert_eq!(t.all_jobs(JobTopic::Status), "bitswarm/v1/jobs/+/status");
        assert_eq!(t.everything(), "bitswarm/v1/#");
    }

    #[test]
    fn delivery_properties() {
        let retained: Vec<_> = all_refs().into_iter().filter(TopicRef::retained).collect();
        assert_eq!(retained.len(), 2);
        assert!(retained.iter().all(|r| matches!(
            r,
            TopicRef::Server(_, ServerTopic::Status) | TopicRef::Job(_, JobTopic::Status)
        )));
        let qos0: Vec<_> = all_refs().into_iter().filter(|r| r.qos() == 0).collect();
        assert!(matches!(
            qos0[..],
            [TopicRef::Server(_, ServerTopic::Telemetry)]
        ));
        let data: Vec<_> = all_refs()
            .into_iter()
            .filter(TopicRef::carries_data)
            .collect();
        assert!(matches!(
            data[..],
            [
                TopicRef::Server(_, ServerTopic::Frames),
                TopicRef::Job(_, JobTopic::Data)
            ]
        ));
    }

    #[test]
    fn foreign_and_malformed_topics_are_not_parsed() {
        let t = Topics::default();
        for bad in [
            "bitswarm/v2/servers/enc-01/status",
            "bitswarm/v1x/servers/enc-01/status",
            "bitswarm/v1",
            "bitswarm/v1/",
            "bitswarm/v1/servers/enc-01",
            "bitswarm/v1/servers/enc-01/status/extra",
            "bitswarm/v1/servers/enc-01/events",
            "bitswarm/v1/jobs/j/inbox",
            "bitswarm/v1/workers/enc-01/status",
            "bitswarm/v1/servers/+/status",
            "bitswarm/v1/servers//status",
            "bitswarm/v1/jobs/#",
        ] {
            assert_eq!(t.parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn roots_are_validated() {
        let cases = [
            ("", "empty"),
            ("a/+/b", "contains an MQTT wildcard (+ or #)"),
            ("$SYS/x", "starts with '$' (reserved for broker topics)"),
            (
                "/abs",
                "has an empty level (leading, trailing or double '/')",
            ),
            (
                "a//b",
                "has an empty level (leading, trailing or double '/')",
            ),
            ("a/", "has an empty level (leading, trailing or double '/')"),
        ];
        for (root, reason) in cases {
            assert_eq!(
                Topics::new(root).unwrap_err().to_string(),
                format!("invalid topic root {root:?}: {reason}")
            );
        }
    }
}
