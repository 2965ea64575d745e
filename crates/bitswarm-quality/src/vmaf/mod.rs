//! VMAF v0.6.1 (Netflix): an SVM regression over six features of the luma planes, VIF at four
//! scales, ADM and motion, computed as libvmaf's default build does (its integer feature
//! extractors `integer_vif`, `integer_adm` and `integer_motion`, model `vmaf_v0.6.1`).
//!
//! Fields per frame: `vmaf`, then the model's inputs `adm2`, `motion2`, `vif_scale0` ..
//! `vif_scale3`. A frame's scores are final once the next frame has been pushed (its `motion2`
//! looks one frame ahead) or at [`Metric::finish`]. VIF, ADM and motion of a frame run in
//! parallel on the current rayon pool; run inside `ThreadPool::install` to bound the threads.
//! Frames must be larger than 32x32 (libvmaf's limit for ADM).

mod adm;
mod model;
mod motion;
mod vif;

use bitswarm_core::Frame;

use crate::{check_pair, Error, FrameScores, Metric, Result, Scores, Summary};

pub use adm::{Adm, AdmScores};
pub use model::{Features, Model};
pub use motion::Motion;
pub use vif::Vif;

const FIELDS: &[&str] = &[
    "vmaf",
    "adm2",
    "motion2",
    "vif_scale0",
    "vif_scale1",
    "vif_scale2",
    "vif_scale3",
];

/// The spatial features of a frame, waiting for the next frame's motion.
struct Pending {
    adm2: f64,
    vif: [f64; 4],
    /// Motion against the previous frame (0 for the first).
    motion: f64,
}

/// Streaming VMAF of frames of one size.
pub struct Vmaf {
    width: u32,
    height: u32,
    model: Model,
    vif: Vif,
    adm: Adm,
    motion: Motion,
    pending: Option<Pending>,
    /// Set by [`Metric::reference_before`]: the first frame scored is not the stream's first.
    continues: bool,
    scores: Scores,
}

impl Vmaf {
    /// VMAF with libvmaf's default model `vmaf_v0.6.1`.
    pub fn new(width: u32, height: u32) -> Result<Self> {
        Self::with_model(width, height, Model::vmaf_v0_6_1().clone())
    }

    /// VMAF with another model of the same features (see [`Model::from_json`]).
    pub fn with_model(width: u32, height: u32, model: Model) -> Result<Self> {
        if width <= 32 || height <= 32 {
            return Err(Error::TooSmall {
                metric: "vmaf",
                min: "33x33".into(),
                width,
                height,
            });
        }
        let (w, h) = (width as usize, height as usize);
        Ok(Self {
            width,
            height,
            model,
            vif: Vif::new(w, h),
            adm: Adm::new(w, h),
            motion: Motion::new(w, h),
            pending: None,
            continues: false,
            scores: Scores::new(FIELDS),
        })
    }

    /// Scores the held-back frame, now that the motion of the frame after it is known.
    fn release(&mut self, next_motion: Option<f64>) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let first = self.scores.frames() == 0 && !self.continues;
        let motion2 = match next_motion {
            _ if first => 0.0,
            Some(next) => p.motion.min(next),
            None => p.motion,
        };
        let features = Features {
            adm2: p.adm2,
            motion2,
            vif: p.vif,
        };
        let vmaf = self.model.predict(&features);
        let [v0, v1, v2, v3] = p.vif;
        self.scores
            .emit(vec![vmaf, p.adm2, motion2, v0, v1, v2, v3]);
    }
}

impl Metric for Vmaf {
    fn name(&self) -> &'static str {
        "vmaf"
    }

    fn fields(&self) -> &'static [&'static str] {
        FIELDS
    }

    fn push(&mut self, reference: &Frame, distorted: &Frame) -> Result<()> {
        check_pair(self.width, self.height, reference, distorted)?;
        let (r, d) = (&reference.y[..], &distorted.y[..]);
        let (vif, adm, motion) = (&mut self.vif, &mut self.adm, &mut self.motion);
        let (vif, (adm, motion)) = rayon::join(
            || vif.compute(r, d),
            || rayon::join(|| adm.compute(r, d), || motion.push(r)),
        );
        self.release(Some(motion));
        self.pending = Some(Pending {
            adm2: adm.adm2,
            vif,
            motion,
        });
        Ok(())
    }

    fn pop(&mut self) -> Option<FrameScores> {
        self.scores.pop()
    }

    fn finish(&mut self) -> Result<Summary> {
        self.release(None);
        self.scores.summary("vmaf", Vec::new())
    }

    fn reference_before(&mut self, reference: &Frame) -> Result<()> {
        check_pair(self.width, self.height, reference, reference)?;
        if self.pending.is_some() || self.scores.frames() > 0 {
            return Err(Error::Segment("reference_before after the first frame"));
        }
        self.motion.push(&reference.y);
        self.continues = true;
        Ok(())
    }

    fn reference_after(&mut self, reference: &Frame) -> Result<()> {
        check_pair(self.width, self.height, reference, reference)?;
        if self.pending.is_none() {
            return Err(Error::Segment("reference_after before any frame"));
        }
        let next = self.motion.push(&reference.y);
        self.release(Some(next));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::{Rational, VideoInfo};

    #[test]
    fn frames_come_out_one_push_late_and_all_at_finish() {
        let info = VideoInfo::new(64, 48, Rational::new(25, 1).unwrap()).unwrap();
        let mut vmaf = Vmaf::new(64, 48).unwrap();
        let f = Frame::filled(&info, 90, 128, 128);
        vmaf.push(&f, &f).unwrap();
        assert!(vmaf.pop().is_none());
        vmaf.push(&f, &f).unwrap();
        assert_eq!(vmaf.pop().map(|s| s.frame), Some(0));
        assert!(vmaf.pop().is_none());
        let summary = vmaf.finish().unwrap();
        assert_eq!(summary.frames, 2);
        assert_eq!(vmaf.pop().map(|s| s.frame), Some(1));
    }

    #[test]
    fn segments_with_their_context_score_as_the_whole_stream() {
        let info = VideoInfo::new(64, 48, Rational::new(25, 1).unwrap()).unwrap();
        let pairs: Vec<(Frame, Frame)> = (0..7)
            .map(|i| {
                let mut r = Frame::filled(&info, 0, 128, 128);
                r.y = crate::planes::textured(64, 48, i * 3);
                let mut d = r.clone();
                d.y = crate::planes::noisy(&r.y, 5 + i);
                (r, d)
            })
            .collect();
        let score = |vmaf: &mut Vmaf, out: &mut Vec<Vec<f64>>| {
            while let Some(s) = vmaf.pop() {
                out.push(s.values);
            }
        };
        let mut whole = Vmaf::new(64, 48).unwrap();
        let mut expected = Vec::new();
        for (r, d) in &pairs {
            whole.push(r, d).unwrap();
        }
        whole.finish().unwrap();
        score(&mut whole, &mut expected);

        let mut got = Vec::new();
        for range in [0..3, 3..4, 4..7] {
            let mut part = Vmaf::new(64, 48).unwrap();
            if range.start > 0 {
                part.reference_before(&pairs[range.start - 1].0).unwrap();
            }
            for (r, d) in &pairs[range.clone()] {
                part.push(r, d).unwrap();
            }
            if let Some((next, _)) = pairs.get(range.end) {
                part.reference_after(next).unwrap();
            }
            part.finish().unwrap();
            score(&mut part, &mut got);
        }
        assert_eq!(got, expected);
        // Without the context, the segment's edge frames get other motion values.
        let mut alone = Vmaf::new(64, 48).unwrap();
        for (r, d) in &pairs[3..4] {
            alone.push(r, d).unwrap();
        }
        alone.finish().unwrap();
        let mut lone = Vec::new();
        score(&mut alone, &mut lone);
        assert_ne!(lone[0], expected[3]);
        assert_eq!(
            alone.reference_before(&pairs[0].0).unwrap_err().to_string(),
            "segment context out of order: reference_before after the first frame"
        );
    }

    #[test]
    fn small_frames_are_refused() {
        assert_eq!(
            Vmaf::new(32, 64).err().map(|e| e.to_string()),
            Some("vmaf needs frames of at least 33x33 pixels (got 32x64)".into())
        );
    }
}
