//! Per-scene content features of real clips (analysis + probe encode), for per-title ladders.

use std::path::{Path, PathBuf};

use bitswarm_analysis::AnalysisConfig;
use bitswarm_swarm::ladder::{extract_features, ClipFeatures};

fn clip(name: &str) -> String {
    let dir = std::env::var_os("BITSWARM_CLIPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clips"));
    assert!(
        dir.is_dir(),
        "clips folder {} is missing (set BITSWARM_CLIPS)",
        dir.display()
    );
    dir.join(name).display().to_string()
}

fn features(name: &str) -> ClipFeatures {
    extract_features(&clip(name), &AnalysisConfig::default(), None).unwrap()
}

#[test]
fn scenes_follow_the_cuts_and_the_cut_rate_is_scenes_per_second() {
    let bikes = features("bikes_272p.y4m");
    assert_eq!(bikes.frames, 100);
    assert_eq!(bikes.probe_size, (320, 136));
    let spans: Vec<(u64, u64)> = bikes.scenes.iter().map(|s| (s.start, s.frames)).collect();
    assert_eq!(spans, [(0, 37), (37, 50), (87, 13)]);
    for s in &bikes.scenes {
        assert!((s.features.cut_rate - 25.0 / s.frames as f64).abs() < 1e-12);
        assert!(s.features.probe_bits_per_pixel > 0.0);
        s.features.validate().unwrap();
    }
    // 3 scenes in 4 s.
    assert!(
        (bikes.clip.cut_rate - 0.75).abs() < 1e-12,
        "{}",
        bikes.clip.cut_rate
    );
    // The clip vector is the frame-weighted mean of the scenes'.
    let weighted: f64 = bikes
        .scenes
        .iter()
        .map(|s| s.features.si_mean * s.frames as f64)
        .sum::<f64>()
        / 100.0;
    assert!((bikes.clip.si_mean - weighted).abs() < 1e-9);
}

#[test]
fn a_static_screencast_probes_cheaper_and_moves_less_than_a_city_pan() {
    let screen = features("screen_gnome_360p.y4m").clip;
    let city = features("city_360p.y4m").clip;
    assert!(
        screen.probe_bits_per_pixel * 3.0 < city.probe_bits_per_pixel,
        "screen {} vs city {} bits per pixel",
        screen.probe_bits_per_pixel,
        city.probe_bits_per_pixel
    );
    assert!(screen.ti_mean < city.ti_mean);
    assert!(screen.mv_moving_share < city.mv_moving_share);
    assert!(screen.complexity < city.complexity);
}
