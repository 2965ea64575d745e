//! Which encoders this machine can run, with versions, and why the others cannot run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use bitswarm_core::{Codec, EncoderKind};
use serde::Serialize;

use crate::ffmpeg::{Ffmpeg, WHERE_WE_LOOK};
use crate::ffmpeg_encoder::{require_encoder, test_encode};
use crate::Error;

/// One encoder's availability on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EncoderAvailability {
    #[serde(rename = "encoder")]
    pub kind: EncoderKind,
    pub codec: Codec,
    pub available: bool,
    /// The library's version (`x264 core 164 r3095 baee400`, `rav1e 0.8.1`), with the FFmpeg
    /// version for FFmpeg backends; `None` when unavailable.
    pub version: Option<String>,
    /// The FFmpeg binary an FFmpeg backend runs (found or not: where we looked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ffmpeg: Option<PathBuf>,
    /// Why an unavailable encoder is not available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Every encoder of [`EncoderKind::ALL`], in that order, with what this machine can do. The
/// in-process encoders are always there; an FFmpeg backend is available when FFmpeg is found
/// (`ffmpeg`, else `$BITSWARM_FFMPEG`, else `PATH`), lists the encoder, and passes a two-frame
/// test encode. Results are cached per FFmpeg path for the life of the process.
pub fn available_encoders(ffmpeg: Option<&Path>) -> Vec<EncoderAvailability> {
    let ffmpeg = Ffmpeg::locate(ffmpeg);
    std::thread::scope(|scope| {
        let handles: Vec<_> = EncoderKind::ALL
            .iter()
            .map(|&kind| {
                let ffmpeg = ffmpeg.as_ref();
                scope.spawn(move || availability(kind, ffmpeg))
            })
            .collect();
        handles
            .into_iter()
            .zip(EncoderKind::ALL)
            .map(|(handle, &kind)| {
                handle.join().unwrap_or_else(|_| EncoderAvailability {
                    kind,
                    codec: kind.codec(),
                    available: false,
                    version: None,
                    ffmpeg: None,
                    reason: Some("its availability check crashed".into()),
                })
            })
            .collect()
    })
}

fn availability(kind: EncoderKind, ffmpeg: Option<&Ffmpeg>) -> EncoderAvailability {
    let entry = |version: std::result::Result<String, String>, ffmpeg: Option<PathBuf>| {
        EncoderAvailability {
            kind,
            codec: kind.codec(),
            available: version.is_ok(),
            reason: version.as_ref().err().cloned(),
            version: version.ok(),
            ffmpeg,
        }
    };
    if kind.in_process() {
        return entry(Ok(in_process_version(kind)), None);
    }
    let Some(ffmpeg) = ffmpeg else {
        return entry(Err(format!("no ffmpeg found ({WHERE_WE_LOOK})")), None);
    };
    entry(ffmpeg_version(kind, ffmpeg), Some(ffmpeg.path.clone()))
}

fn in_process_version(kind: EncoderKind) -> String {
    match kind {
        EncoderKind::Rav1e => format!("rav1e {}", rav1e::version::short()),
        _ => {
            use openh264_sys2::API;
            // SAFETY: WelsGetCodecVersion only returns a constant struct.
            let v = unsafe { openh264_sys2::DynamicAPI::from_source().WelsGetCodecVersion() };
            format!("OpenH264 {}.{}.{}", v.uMajor, v.uMinor, v.uRevision)
        }
    }
}

/// Probes FFmpeg and test-encodes with `kind` (once per path and encoder).
fn ffmpeg_version(kind: EncoderKind, ffmpeg: &Ffmpeg) -> std::result::Result<String, String> {
    type Cache = Mutex<HashMap<(PathBuf, EncoderKind), std::result::Result<String, String>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Cache::default);
    let key = (ffmpeg.path.clone(), kind);
    if let Some(known) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return known.clone();
    }
    let result = check_ffmpeg_encoder(kind, ffmpeg);
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, result.clone());
    result
}

fn check_ffmpeg_encoder(kind: EncoderKind, ffmpeg: &Ffmpeg) -> std::result::Result<String, String> {
    let (name, probe) = require_encoder(kind, ffmpeg).map_err(|e| match e {
        Error::Unavailable { reason, .. } => reason,
        other => other.to_string(),
    })?;
    let library = test_encode(kind, ffmpeg).map_err(|e| format!("test encode failed: {e}"))?;
    let via = format!("FFmpeg {}", probe.version);
    Ok(match library {
        Some(library) => format!("{library} (via {via})"),
        None => format!("{name} (via {via})"),
    })
}
