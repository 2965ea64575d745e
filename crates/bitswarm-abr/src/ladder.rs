//! Bitrate ladders: the bitstreams (rungs) a client can choose from and the size of every
//! segment of every rung, with VMAF and SSIM per segment when they are known.
//!
//! Two sources: the JSON ladder file that bitswarm encode jobs emit (format in docs/ABR.md) and
//! Pensieve's chunk-size folder (`video_size_0` .. `video_size_N`, one byte count per line,
//! level 0 lowest, plus `Manifest.mpd` for the bitrates, resolutions and codec).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Version tag of the JSON ladder format.
pub const LADDER_FORMAT: &str = "bitswarm-ladder/1";

/// Video coding standard of a rung; decides whether a client can decode it and its decode cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    H264,
    Hevc,
    Vp9,
    Av1,
}

impl VideoCodec {
    pub const ALL: [VideoCodec; 4] = [
        VideoCodec::H264,
        VideoCodec::Hevc,
        VideoCodec::Vp9,
        VideoCodec::Av1,
    ];

    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "h264",
            VideoCodec::Hevc => "hevc",
            VideoCodec::Vp9 => "vp9",
            VideoCodec::Av1 => "av1",
        }
    }

    /// Relative decoding cost per pixel (H.264 = 1), used by the capability profile of a rung.
    pub fn decode_cost(self) -> f64 {
        match self {
            VideoCodec::H264 => 1.0,
            VideoCodec::Hevc | VideoCodec::Vp9 => 1.5,
            VideoCodec::Av1 => 2.0,
        }
    }

    /// The codec of an RFC 6381 `codecs` string (`avc1.4D401E`, `hvc1...`, `vp09...`, `av01...`)
    /// or of a plain name (`h264`, `hevc`, `vp9`, `av1`).
    pub fn from_name(text: &str) -> Option<VideoCodec> {
        let lower = text.trim().to_ascii_lowercase();
        let family = lower.split('.').next().unwrap_or_default();
        match family {
            "h264" | "avc" | "avc1" | "avc3" => Some(VideoCodec::H264),
            "hevc" | "h265" | "hvc1" | "hev1" => Some(VideoCodec::Hevc),
            "vp9" | "vp09" => Some(VideoCodec::Vp9),
            "av1" | "av01" => Some(VideoCodec::Av1),
            _ => None,
        }
    }
}

/// One bitstream of the ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rung {
    /// Unique name of the bitstream (`"720p-2850"`, a swarm cluster id).
    pub id: String,
    /// Nominal bitrate, kbit/s: the quality term of QoE_lin.
    pub bitrate_kbps: f64,
    pub codec: VideoCodec,
    pub width: u32,
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
}

/// Per-segment sizes and optional quality scores, one entry per rung.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentRow {
    pub bytes: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmaf: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssim: Option<Vec<f64>>,
}

/// The JSON ladder file, as written and read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LadderFile {
    /// Always [`LADDER_FORMAT`].
    pub format: String,
    /// Duration of every segment, seconds.
    pub segment_duration_s: f64,
    /// Rungs by ascending bitrate.
    pub rungs: Vec<Rung>,
    pub segments: Vec<SegmentRow>,
}

/// A validated ladder.
#[derive(Debug, Clone, PartialEq)]
pub struct Ladder {
    name: String,
    segment_s: f64,
    rungs: Vec<Rung>,
    segments: Vec<SegmentRow>,
    playable: usize,
    has_vmaf: bool,
    has_ssim: bool,
}

impl Ladder {
    /// Validates a ladder: at least one rung and one segment, rungs by ascending bitrate with
    /// unique ids and positive geometry, a positive byte count for every rung of every segment,
    /// VMAF in 0..=100 and SSIM in 0..=1 given for all segments or none.
    pub fn new(name: &str, file: LadderFile) -> Result<Ladder> {
        let fail = |msg: String| Err(Error::ladder(name, msg));
        if file.format != LADDER_FORMAT {
            return fail(format!(
                "format {:?} (expected {LADDER_FORMAT:?})",
                file.format
            ));
        }
        if !(file.segment_duration_s.is_finite() && file.segment_duration_s > 0.0) {
            return fail(format!(
                "segment_duration_s {} (expected a positive number of seconds)",
                file.segment_duration_s
            ));
        }
        if file.rungs.is_empty() {
            return fail("has no rungs".into());
        }
        if file.segments.is_empty() {
            return fail("has no segments".into());
        }
        for (i, r) in file.rungs.iter().enumerate() {
            if !(r.bitrate_kbps.is_finite() && r.bitrate_kbps > 0.0) {
                return fail(format!(
                    "rung {i} ({}): bitrate_kbps {} (expected > 0)",
                    r.id, r.bitrate_kbps
                ));
            }
            if r.width == 0 || r.height == 0 || !(r.fps.is_finite() && r.fps > 0.0) {
                return fail(format!(
                    "rung {i} ({}): {}x{} at {} fps (expected positive width, height and fps)",
                    r.id, r.width, r.height, r.fps
                ));
            }
            if let Some(prev) = i.checked_sub(1).map(|p| &file.rungs[p]) {
                if r.bitrate_kbps < prev.bitrate_kbps {
                    return fail(format!(
                        "rung {i} ({}) has {} kbit/s, below the previous rung's {} (list rungs by ascending bitrate)",
                        r.id, r.bitrate_kbps, prev.bitrate_kbps
                    ));
                }
            }
            if file.rungs[..i].iter().any(|o| o.id == r.id) {
                return fail(format!("rung id {:?} appears twice", r.id));
            }
        }
        let n = file.rungs.len();
        let has_vmaf = file.segments[0].vmaf.is_some();
        let has_ssim = file.segments[0].ssim.is_some();
        for (s, row) in file.segments.iter().enumerate() {
            if row.bytes.len() != n {
                return fail(format!(
                    "segment {s} has {} byte counts for {n} rungs",
                    row.bytes.len()
                ));
            }
            if let Some(r) = row.bytes.iter().position(|&b| b == 0) {
                return fail(format!("segment {s}, rung {r}: 0 bytes (expected > 0)"));
            }
            for (metric, values, max, present) in [
                ("vmaf", &row.vmaf, 100.0, has_vmaf),
                ("ssim", &row.ssim, 1.0, has_ssim),
            ] {
                match values {
                    None if present => {
                        return fail(format!(
                            "segment {s} has no {metric} but segment 0 has (give it for all segments or none)"
                        ))
                    }
                    Some(_) if !present => {
                        return fail(format!(
                            "segment {s} has {metric} but segment 0 has not (give it for all segments or none)"
                        ))
                    }
                    Some(v) if v.len() != n => {
                        return fail(format!(
                            "segment {s} has {} {metric} values for {n} rungs",
                            v.len()
                        ))
                    }
                    Some(v) => {
                        if let Some(x) = v.iter().find(|x| !(0.0..=max).contains(*x)) {
                            return fail(format!(
                                "segment {s}: {metric} {x} out of range (expected 0..={max})"
                            ));
                        }
                    }
                    None => {}
                }
            }
        }
        Ok(Ladder {
            name: name.to_owned(),
            segment_s: file.segment_duration_s,
            rungs: file.rungs,
            playable: file.segments.len(),
            segments: file.segments,
            has_vmaf,
            has_ssim,
        })
    }

    /// Parses a JSON ladder file (format in docs/ABR.md).
    pub fn parse_json(name: &str, text: &str) -> Result<Ladder> {
        if text.trim().is_empty() {
            return Err(Error::ladder(
                name,
                "empty file (expected a JSON ladder)".into(),
            ));
        }
        let file: LadderFile = serde_json::from_str(text)
            .map_err(|e| Error::ladder(name, format!("not a JSON ladder: {e}")))?;
        Ladder::new(name, file)
    }

    /// Builds a ladder from Pensieve's chunk-size files, in level order (level 0 = lowest), and
    /// the DASH manifest that gives each level's bitrate, resolution, frame rate and codec
    /// (matched by ascending `bandwidth`). Segments are 4 s, as in Pensieve, and a session plays
    /// all segments but the last: Pensieve's test video has 49 size lines and 48 chunks.
    pub fn from_chunk_sizes(name: &str, sizes: &[(&str, &str)], manifest: &str) -> Result<Ladder> {
        let reps = parse_manifest(name, manifest)?;
        if reps.len() != sizes.len() {
            return Err(Error::ladder(
                name,
                format!(
                    "Manifest.mpd lists {} representations but there are {} video_size files",
                    reps.len(),
                    sizes.len()
                ),
            ));
        }
        let mut columns = Vec::with_capacity(sizes.len());
        for (file, text) in sizes {
            let mut column = Vec::new();
            for (index, line) in text.lines().enumerate() {
                let line_text = line.trim();
                if line_text.is_empty() {
                    continue;
                }
                let bytes: u64 = line_text.parse().map_err(|_| {
                    Error::ladder(
                        name,
                        format!(
                            "{file}: line {}: {line_text:?} is not a byte count (expected one non-negative integer per line)",
                            index + 1
                        ),
                    )
                })?;
                column.push(bytes);
            }
            if column.is_empty() {
                return Err(Error::ladder(
                    name,
                    format!("{file}: empty (expected one byte count per segment)"),
                ));
            }
            columns.push(column);
        }
        let segments = columns[0].len();
        if let Some((file, col)) = sizes
            .iter()
            .zip(&columns)
            .find(|(_, c)| c.len() != segments)
        {
            return Err(Error::ladder(
                name,
                format!(
                    "{} has {} segments but {} has {segments}",
                    file.0,
                    col.len(),
                    sizes[0].0
                ),
            ));
        }
        let file = LadderFile {
            format: LADDER_FORMAT.into(),
            segment_duration_s: 4.0,
            rungs: reps,
            segments: (0..segments)
                .map(|s| SegmentRow {
                    bytes: columns.iter().map(|c| c[s]).collect(),
                    vmaf: None,
                    ssim: None,
                })
                .collect(),
        };
        let mut ladder = Ladder::new(name, file)?;
        ladder.playable = (segments - 1).max(1);
        Ok(ladder)
    }

    /// The ladder as a JSON ladder file.
    pub fn to_file(&self) -> LadderFile {
        LadderFile {
            format: LADDER_FORMAT.into(),
            segment_duration_s: self.segment_s,
            rungs: self.rungs.clone(),
            segments: self.segments.clone(),
        }
    }

    /// Pretty JSON of [`Ladder::to_file`].
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.to_file()).expect("a ladder serialises")
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn segment_s(&self) -> f64 {
        self.segment_s
    }

    pub fn rungs(&self) -> &[Rung] {
        &self.rungs
    }

    pub fn rung_count(&self) -> usize {
        self.rungs.len()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Segments a session plays by default: all of them for a JSON ladder, all but the last for
    /// a Pensieve chunk-size folder (see [`Ladder::from_chunk_sizes`]).
    pub fn playable_segments(&self) -> usize {
        self.playable
    }

    /// Bytes of segment `segment` of rung `rung`.
    pub fn bytes(&self, segment: usize, rung: usize) -> u64 {
        self.segments[segment].bytes[rung]
    }

    /// VMAF of a segment, when the ladder has it.
    pub fn vmaf(&self, segment: usize, rung: usize) -> Option<f64> {
        self.segments[segment].vmaf.as_ref().map(|v| v[rung])
    }

    /// SSIM of a segment, when the ladder has it.
    pub fn ssim(&self, segment: usize, rung: usize) -> Option<f64> {
        self.segments[segment].ssim.as_ref().map(|v| v[rung])
    }

    pub fn has_vmaf(&self) -> bool {
        self.has_vmaf
    }

    pub fn has_ssim(&self) -> bool {
        self.has_ssim
    }

    /// Nominal bitrate of rung `rung`, Mbit/s.
    pub fn mbps(&self, rung: usize) -> f64 {
        self.rungs[rung].bitrate_kbps / 1000.0
    }
}

/// Attribute `key="value"` of an XML start tag's text.
fn attribute<'a>(tag: &'a str, key: &str) -> Option<&'a str> {
    let mut rest = tag;
    while let Some(pos) = rest.find(key) {
        let before_ok = pos == 0 || rest.as_bytes()[pos - 1].is_ascii_whitespace();
        let after = &rest[pos + key.len()..];
        if before_ok {
            if let Some(value) = after.trim_start().strip_prefix('=') {
                let value = value.trim_start();
                let quote = value.chars().next()?;
                if quote == '"' || quote == '\'' {
                    let inner = &value[1..];
                    return inner.find(quote).map(|end| &inner[..end]);
                }
            }
        }
        rest = after;
    }
    None
}

/// The video representations of a DASH manifest as rungs, by ascending bandwidth.
fn parse_manifest(name: &str, text: &str) -> Result<Vec<Rung>> {
    let fail = |msg: String| Error::ladder(name, format!("Manifest.mpd: {msg}"));
    let mut rungs = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<Representation") {
        let tag_and_more = &rest[start..];
        let end = tag_and_more
            .find('>')
            .ok_or_else(|| fail("unterminated <Representation> tag".into()))?;
        let tag = &tag_and_more[..end];
        rest = &tag_and_more[end..];
        let get = |key: &str| {
            attribute(tag, key)
                .ok_or_else(|| fail(format!("a <Representation> has no {key} attribute")))
        };
        let number = |key: &str| -> Result<f64> {
            let v = get(key)?;
            v.parse::<f64>()
                .map_err(|_| fail(format!("{key}={v:?} is not a number")))
        };
        let id = get("id")?.to_owned();
        let codecs = get("codecs")?;
        let codec = VideoCodec::from_name(codecs).ok_or_else(|| {
            fail(format!("codec {codecs:?} of {id} is not supported (expected avc1, hvc1/hev1, vp09 or av01)"))
        })?;
        let fps = match attribute(tag, "frameRate") {
            None => 30.0,
            Some(f) => match f.split_once('/') {
                Some((n, d)) => match (n.parse::<f64>(), d.parse::<f64>()) {
                    (Ok(n), Ok(d)) if d > 0.0 => n / d,
                    _ => return Err(fail(format!("frameRate={f:?} is not a number or fraction"))),
                },
                None => f
                    .parse()
                    .map_err(|_| fail(format!("frameRate={f:?} is not a number or fraction")))?,
            },
        };
        rungs.push(Rung {
            id,
            bitrate_kbps: number("bandwidth")? / 1000.0,
            codec,
            width: number("width")? as u32,
            height: number("height")? as u32,
            fps,
        });
    }
    if rungs.is_empty() {
        return Err(fail("no <Representation> elements".into()));
    }
    rungs.sort_by(|a, b| a.bitrate_kbps.total_cmp(&b.bitrate_kbps));
    Ok(rungs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"<MPD><Period><AdaptationSet>
        <Representation id="hi" bandwidth="1200000" codecs="avc1.4D401E" width="768" height="432" frameRate="30000/1001" />
        <Representation id="lo" bandwidth="300000" codecs="avc1.4D401E" width="320" height="180" frameRate="30000/1001"/>
    </AdaptationSet></Period></MPD>"#;

    #[test]
    fn chunk_size_folder_with_manifest() {
        let l = Ladder::from_chunk_sizes(
            "v",
            &[
                ("video_size_0", "100\n110\n"),
                ("video_size_1", "400\n440\n"),
            ],
            MANIFEST,
        )
        .unwrap();
        assert_eq!(l.rung_count(), 2);
        assert_eq!((l.segment_count(), l.playable_segments()), (2, 1));
        assert_eq!(l.rungs()[0].id, "lo");
        assert_eq!((l.rungs()[1].width, l.rungs()[1].height), (768, 432));
        assert!((l.rungs()[0].fps - 29.97).abs() < 0.01);
        assert_eq!(l.bytes(1, 1), 440);
        assert_eq!(l.mbps(0), 0.3);
        assert_eq!(l.segment_s(), 4.0);
    }

    #[test]
    fn chunk_size_errors() {
        let err = |sizes: &[(&str, &str)], m: &str| {
            Ladder::from_chunk_sizes("v", sizes, m)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&[("video_size_0", "100\nabc\n"), ("video_size_1", "1\n2\n")], MANIFEST),
            "ladder v: video_size_0: line 2: \"abc\" is not a byte count (expected one non-negative integer per line)"
        );
        assert_eq!(
            err(&[("video_size_0", "-5\n"), ("video_size_1", "1\n")], MANIFEST),
            "ladder v: video_size_0: line 1: \"-5\" is not a byte count (expected one non-negative integer per line)"
        );
        assert_eq!(
            err(&[("video_size_0", ""), ("video_size_1", "1\n")], MANIFEST),
            "ladder v: video_size_0: empty (expected one byte count per segment)"
        );
        assert_eq!(
            err(
                &[("video_size_0", "1\n2\n"), ("video_size_1", "1\n")],
                MANIFEST
            ),
            "ladder v: video_size_1 has 1 segments but video_size_0 has 2"
        );
        assert_eq!(
            err(&[("video_size_0", "1\n")], MANIFEST),
            "ladder v: Manifest.mpd lists 2 representations but there are 1 video_size files"
        );
        assert_eq!(
            err(&[("video_size_0", "1\n")], "<MPD/>"),
            "ladder v: Manifest.mpd: no <Representation> elements"
        );
    }

    fn file() -> LadderFile {
        LadderFile {
            format: LADDER_FORMAT.into(),
            segment_duration_s: 2.0,
            rungs: vec![
                Rung {
                    id: "a".into(),
                    bitrate_kbps: 500.0,
                    codec: VideoCodec::H264,
                    width: 640,
                    height: 360,
                    fps: 25.0,
                },
                Rung {
                    id: "b".into(),
                    bitrate_kbps: 2000.0,
                    codec: VideoCodec::Av1,
                    width: 1280,
                    height: 720,
                    fps: 25.0,
                },
            ],
            segments: vec![
                SegmentRow {
                    bytes: vec![100, 400],
                    vmaf: Some(vec![70.0, 90.0]),
                    ssim: None,
                },
                SegmentRow {
                    bytes: vec![120, 500],
                    vmaf: Some(vec![72.0, 93.0]),
                    ssim: None,
                },
            ],
        }
    }

    #[test]
    fn json_round_trip() {
        let l = Ladder::new("j", file()).unwrap();
        let back = Ladder::parse_json("j", &l.to_json()).unwrap();
        assert_eq!(back, l);
        assert_eq!(back.playable_segments(), 2);
        assert_eq!(back.vmaf(1, 1), Some(93.0));
        assert_eq!(back.ssim(0, 0), None);
        assert!(back.has_vmaf() && !back.has_ssim());
    }

    #[test]
    fn json_errors() {
        let err = |f: LadderFile| Ladder::new("j", f).unwrap_err().to_string();
        let mut f = file();
        f.rungs.swap(0, 1);
        assert_eq!(err(f), "ladder j: rung 1 (a) has 500 kbit/s, below the previous rung's 2000 (list rungs by ascending bitrate)");
        let mut f = file();
        f.segments[1].vmaf = None;
        assert_eq!(
            err(f),
            "ladder j: segment 1 has no vmaf but segment 0 has (give it for all segments or none)"
        );
        let mut f = file();
        f.segments[0].bytes[1] = 0;
        assert_eq!(
            err(f),
            "ladder j: segment 0, rung 1: 0 bytes (expected > 0)"
        );
        let mut f = file();
        f.segments[0].vmaf = Some(vec![70.0, 120.0]);
        assert_eq!(
            err(f),
            "ladder j: segment 0: vmaf 120 out of range (expected 0..=100)"
        );
        let mut f = file();
        f.segments.clear();
        assert_eq!(err(f), "ladder j: has no segments");
        assert_eq!(
            Ladder::parse_json("j", "").unwrap_err().to_string(),
            "ladder j: empty file (expected a JSON ladder)"
        );
        let bad = Ladder::parse_json("j", "{\"format\": 3}")
            .unwrap_err()
            .to_string();
        assert!(
            bad.starts_with("ladder j: not a JSON ladder: invalid type"),
            "{bad}"
        );
        let neg = file_json().replace("[100, 400]", "[-100, 400]");
        let bad = Ladder::parse_json("j", &neg).unwrap_err().to_string();
        assert!(
            bad.starts_with("ladder j: not a JSON ladder: invalid value: integer `-100`"),
            "{bad}"
        );
    }

    fn file_json() -> String {
        serde_json::to_string(&file())
            .unwrap()
            .replace("[100,400]", "[100, 400]")
    }

    #[test]
    fn codec_names() {
        assert_eq!(VideoCodec::from_name("avc1.4D401E"), Some(VideoCodec::H264));
        assert_eq!(
            VideoCodec::from_name("hev1.1.6.L93"),
            Some(VideoCodec::Hevc)
        );
        assert_eq!(VideoCodec::from_name("AV1"), Some(VideoCodec::Av1));
        assert_eq!(VideoCodec::from_name("mp4a.40.2"), None);
    }
}
