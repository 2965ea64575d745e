//! Golden values without FFmpeg: every metric on a small synthetic clip (tests/common/
//! fixture.rs) against the values FFmpeg's libvmaf, psnr and ssim filters give for the same
//! frames, pinned in the fixture (and recomputed by `tests/ffmpeg_crosscheck.rs` when an
//! FFmpeg with libvmaf is there). FFmpeg prints 6 decimals (PSNR rounded through single
//! precision), hence the tolerances.

#[path = "common/fixture.rs"]
mod fixture;

use bitswarm_quality::vmaf::{Adm, Vif};
use bitswarm_quality::{MetricKind, QualityMeter};

#[test]
fn every_metric_matches_its_golden_values() {
    let pairs = fixture::frames();
    let kinds = MetricKind::ALL;
    let mut meter = QualityMeter::new(&kinds, fixture::WIDTH, fixture::HEIGHT).unwrap();
    for (r, d) in &pairs {
        meter.push(r, d).unwrap();
    }
    let summaries = meter.finish().unwrap();
    let fields = meter.fields().to_vec();
    let mut frames = 0;
    while let Some(scores) = meter.pop() {
        let golden = fixture::GOLDEN[scores.frame as usize];
        for (name, g) in fixture::FIELDS.iter().zip(golden) {
            let i = fields.iter().position(|f| f == name).unwrap();
            let tolerance = if name.starts_with("psnr") { 1e-5 } else { 1e-6 };
            let ours = scores.values[i];
            assert!(
                (ours - g).abs() <= tolerance,
                "frame {} {name}: ours {ours}, golden {g}",
                scores.frame
            );
        }
        frames += 1;
    }
    assert_eq!(frames, pairs.len());
    let vmaf = summaries[0].field("vmaf").unwrap();
    let golden_mean = fixture::GOLDEN.iter().map(|g| g[0]).sum::<f64>() / 5.0;
    assert!((vmaf.mean - golden_mean).abs() < 1e-6);
    assert!((vmaf.min - 59.511899).abs() < 1e-6);
    assert!(vmaf.p5 < vmaf.mean && vmaf.p5 > vmaf.min);
}

#[test]
fn identical_frames_score_as_libvmaf_scores_them() {
    // VIF and ADM are 1 at every scale (to the fixed-point rounding) and VMAF is libvmaf's
    // 97.43 with motion 0: the model's ceiling for a still picture, not 100.
    let (r, _) = &fixture::frames()[0];
    let mut vmaf = MetricKind::Vmaf
        .create(fixture::WIDTH, fixture::HEIGHT)
        .unwrap();
    vmaf.push(r, r).unwrap();
    vmaf.finish().unwrap();
    let scores = vmaf.pop().unwrap().values;
    assert!(
        (scores[0] - fixture::IDENTICAL_VMAF).abs() < 1e-6,
        "{scores:?}"
    );
    let (w, h) = (fixture::WIDTH as usize, fixture::HEIGHT as usize);
    assert!(Vif::new(w, h)
        .compute(&r.y, &r.y)
        .iter()
        .all(|&v| (v - 1.0).abs() < 1e-5));
    assert!((Adm::new(w, h).compute(&r.y, &r.y).adm2 - 1.0).abs() < 1e-4);
}
