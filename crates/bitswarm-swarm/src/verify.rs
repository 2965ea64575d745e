//! Every finished chunk is decoded in-process (or by FFmpeg for HEVC) and measured against its
//! source frames: the decode must give the chunk's frame count, and PSNR plus the configured
//! metrics (VMAF, SSIM, MS-SSIM) are computed per frame.
//!
//! Chunks are measured apart, on the controller's blocking threads, yet score exactly as the
//! whole stream would: each is given the source frame just before it and just after it, which
//! VMAF's motion feature looks at ([`bitswarm_quality::Metric::reference_before`]). A profile at
//! another resolution is scaled back to the source's size before measuring, as libvmaf users do.

use std::path::Path;

use bitswarm_codec::{decode_stream, open_decoder, Ffmpeg};
use bitswarm_core::{Codec, Frame, VideoInfo};
use bitswarm_quality::{MetricKind, QualityMeter};

use crate::{Error, Result};

/// The scores of one decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameQuality {
    /// PSNR of Y, U and V in dB (identical planes count as 100).
    pub psnr: [f64; 3],
    /// One value per metric of [`Verifier::metrics`], in that order (VMAF 0-100, SSIM and
    /// MS-SSIM 0-1 over all planes).
    pub scores: Vec<f64>,
}

/// The source frames around a chunk (packed), for metrics with temporal features.
#[derive(Debug, Clone, Copy, Default)]
pub struct Neighbours<'a> {
    pub before: Option<&'a [u8]>,
    pub after: Option<&'a [u8]>,
}

/// Decodes and measures chunks of one job.
#[derive(Debug, Clone)]
pub struct Verifier {
    info: VideoInfo,
    codec: Codec,
    ffmpeg: Option<Ffmpeg>,
    metrics: Vec<MetricKind>,
}

impl Verifier {
    /// A verifier for chunks of `codec` made from a source of geometry `info`, reporting
    /// `metrics` besides PSNR. Fails at once when this machine cannot decode `codec` (HEVC needs
    /// FFmpeg) or a metric cannot measure frames of this size.
    pub fn new(
        info: VideoInfo,
        codec: Codec,
        ffmpeg: Option<&Path>,
        metrics: &[MetricKind],
    ) -> Result<Self> {
        let ffmpeg = ffmpeg.map(Ffmpeg::new);
        open_decoder(codec, ffmpeg.as_ref()).map_err(|e| {
            Error::Job(format!(
                "the controller decodes every chunk to measure it, and cannot decode {codec}: {e}"
            ))
        })?;
        let metrics: Vec<MetricKind> = metrics
            .iter()
            .copied()
            .filter(|m| *m != MetricKind::Psnr)
            .collect();
        QualityMeter::new(&Self::kinds(&metrics), info.width, info.height)
            .map_err(|e| Error::Config(format!("quality: {e}")))?;
        Ok(Self {
            info,
            codec,
            ffmpeg,
            metrics,
        })
    }

    /// The metrics reported besides PSNR, in the order of [`FrameQuality::scores`].
    pub fn metrics(&self) -> &[MetricKind] {
        &self.metrics
    }

    fn kinds(metrics: &[MetricKind]) -> Vec<MetricKind> {
        std::iter::once(MetricKind::Psnr)
            .chain(metrics.iter().copied())
            .collect()
    }

    /// Decodes `encoded` (one closed-GOP chunk of `frames` frames) and measures every frame
    /// against `source` (the chunk's frames packed end to end).
    pub fn verify(
        &self,
        frames: u32,
        source: &[u8],
        encoded: &[u8],
        neighbours: Neighbours<'_>,
    ) -> std::result::Result<Vec<FrameQuality>, String> {
        let info = &self.info;
        let mut decoder =
            open_decoder(self.codec, self.ffmpeg.as_ref()).map_err(|e| e.to_string())?;
        let decoded = decode_stream(decoder.as_mut(), encoded).map_err(|e| e.to_string())?;
        if decoded.len() != frames as usize || source.len() != frames as usize * info.frame_len() {
            return Err(format!(
                "decoded {} frames, expected {frames}",
                decoded.len()
            ));
        }
        let mut meter = QualityMeter::new(&Self::kinds(&self.metrics), info.width, info.height)
            .map_err(|e| e.to_string())?;
        let packed = |raw: &[u8]| Frame::from_packed(info, raw).map_err(|e| e.to_string());
        if let Some(before) = neighbours.before {
            meter
                .reference_before(&packed(before)?)
                .map_err(|e| e.to_string())?;
        }
        for (raw, out) in source.chunks_exact(info.frame_len()).zip(&decoded) {
            let reference = packed(raw)?;
            let result = if (out.width, out.height) == (info.width, info.height) {
                meter.push(&reference, out)
            } else {
                meter.push(
                    &reference,
                    &bitswarm_core::scale(out, info.width, info.height),
                )
            };
            result.map_err(|e| e.to_string())?;
        }
        if let Some(after) = neighbours.after {
            meter
                .reference_after(&packed(after)?)
                .map_err(|e| e.to_string())?;
        }
        meter.finish().map_err(|e| e.to_string())?;
        // Per metric, the index of its overall field ("psnr_y", "ssim", "vmaf", ...).
        let fields = meter.fields().to_vec();
        let at = |name: &str| fields.iter().position(|f| *f == name);
        let psnr = [at("psnr_y"), at("psnr_u"), at("psnr_v")];
        let scores: Vec<Option<usize>> = self.metrics.iter().map(|m| at(m.field())).collect();
        let mut out = Vec::with_capacity(frames as usize);
        while let Some(s) = meter.pop() {
            let value = |i: Option<usize>| i.map_or(f64::NAN, |i| s.values[i]);
            out.push(FrameQuality {
                psnr: psnr.map(value),
                scores: scores.iter().map(|&i| value(i)).collect(),
            });
        }
        Ok(out)
    }
}
