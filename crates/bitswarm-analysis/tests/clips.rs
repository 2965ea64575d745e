//! The analysis of the real clips in the shared clip folder (`SOURCES.md` there describes them):
//! scene cuts where the footage has them and nowhere else, and complexity in the order of the
//! clips' measured encoding bit rate (`docs/ANALYSIS.md`).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::OnceLock;

use bitswarm_analysis::{Analysis, AnalysisConfig, Analyzer};
use bitswarm_media::y4m::Y4mReader;
use bitswarm_media::{open_input, InputOptions};

const CLIPS: [&str; 6] = [
    "bbb_360p",
    "bikes_272p",
    "city_360p",
    "foreman_288p",
    "friday_360p",
    "screen_gnome_360p",
];

fn clips_dir() -> PathBuf {
    let dir = std::env::var_os("BITSWARM_CLIPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clips"));
    assert!(
        dir.is_dir(),
        "clip folder {} not found: set BITSWARM_CLIPS to the folder with the test clips",
        dir.display()
    );
    dir
}

fn analyse_y4m(name: &str) -> Analysis {
    let path = clips_dir().join(format!("{name}.y4m"));
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = Y4mReader::new(file).unwrap();
    let cfg = AnalysisConfig {
        motion_statistics: true,
        ..AnalysisConfig::default()
    };
    let mut analyzer = Analyzer::new(reader.info(), cfg).unwrap();
    while let Some(frame) = reader.next_frame().unwrap() {
        analyzer.push(&frame).unwrap();
    }
    analyzer.finish()
}

/// Every clip analysed once (two at a time), shared by the tests.
fn analyses() -> &'static BTreeMap<&'static str, Analysis> {
    static ANALYSES: OnceLock<BTreeMap<&'static str, Analysis>> = OnceLock::new();
    ANALYSES.get_or_init(|| {
        let (first, second) = CLIPS.split_at(CLIPS.len() / 2);
        std::thread::scope(|s| {
            let other = s.spawn(|| {
                second
                    .iter()
                    .map(|&n| (n, analyse_y4m(n)))
                    .collect::<Vec<_>>()
            });
            let mut all: BTreeMap<_, _> = first.iter().map(|&n| (n, analyse_y4m(n))).collect();
            all.extend(other.join().unwrap());
            all
        })
    })
}

fn cuts(analysis: &Analysis) -> Vec<u64> {
    let cuts = analysis.frames.iter().filter(|f| f.scene_cut);
    cuts.map(|f| f.index).collect()
}

#[test]
fn bikes_has_exactly_the_hard_cuts_at_37_and_87() {
    let bikes = &analyses()["bikes_272p"];
    assert_eq!(bikes.frames.len(), 100);
    assert_eq!(cuts(bikes), [0, 37, 87]);
    let scenes: Vec<(u64, u64)> = bikes.scenes.iter().map(|s| (s.start, s.frames)).collect();
    assert_eq!(scenes, [(0, 37), (37, 50), (87, 13)]);
    // With a margin: the cuts change nearly every region, the busiest other frame under half.
    for f in &bikes.frames[1..] {
        if f.scene_cut {
            assert!(f.cut_score > 0.9, "frame {}: {}", f.index, f.cut_score);
        } else {
            assert!(f.cut_score < 0.5, "frame {}: {}", f.index, f.cut_score);
        }
    }
}

#[test]
fn single_shot_clips_have_no_cut() {
    // A camera pan over fine texture, a handheld camera, film grain, a screencast whose
    // windows open and close, and animation.
    for (name, analysis) in analyses().iter().filter(|(name, _)| **name != "bikes_272p") {
        assert_eq!(cuts(analysis), [0], "{name}");
        let busiest = analysis.frames[1..]
            .iter()
            .map(|f| f.cut_score)
            .fold(0.0, f64::max);
        assert!(busiest < 0.5, "{name}: cut score {busiest}");
    }
}

#[test]
fn complexity_ranks_clips_by_their_measured_bit_rate() {
    // OpenH264 at QP 34, one chunk per scene, spends in kbit/s: screen_gnome 21.7, friday 160.8,
    // foreman 195.5, bikes 223.4, bbb 259.7, city 651.3 (docs/ANALYSIS.md; `cargo run --release
    // -p bitswarm-analysis --example calibrate` measures it again).
    let by_rate = [
        "screen_gnome_360p",
        "friday_360p",
        "foreman_288p",
        "bikes_272p",
        "bbb_360p",
        "city_360p",
    ];
    let all = analyses();
    let scores: Vec<f64> = by_rate.iter().map(|name| all[name].score).collect();
    assert!(
        scores.windows(2).all(|w| w[0] < w[1]),
        "{by_rate:?}: {scores:?}"
    );
    // Screen content and talking heads below the street scene and the city pan, by at least
    // 0.2 points (the closest pair, foreman and bikes, is 0.26 apart: 20 % in bit rate).
    for easy in ["screen_gnome_360p", "friday_360p", "foreman_288p"] {
        for hard in ["bikes_272p", "city_360p"] {
            let (easy_score, hard_score) = (all[easy].score, all[hard].score);
            assert!(
                easy_score + 0.2 < hard_score,
                "{easy} {easy_score} vs {hard} {hard_score}"
            );
        }
    }
    // The seed policy's classes (levels above 7, above 4): the city pan alone in the top one,
    // screen content in the bottom one.
    let level = |name: &str| all[name].complexity;
    assert_eq!(level("city_360p"), 8);
    assert_eq!(level("screen_gnome_360p"), 4);
    for middle in ["friday_360p", "foreman_288p", "bikes_272p", "bbb_360p"] {
        assert!(
            (5..=7).contains(&level(middle)),
            "{middle}: {}",
            level(middle)
        );
    }
    // The hardest bikes scene (people walking close to the camera) costs the most.
    let bikes: Vec<f64> = all["bikes_272p"].scenes.iter().map(|s| s.score).collect();
    assert!(bikes[2] > bikes[1] && bikes[1] > bikes[0], "{bikes:?}");
}

/// Analyses a file through the MP4 reader (OpenH264 decoding, no ffmpeg).
fn analyse_mp4(name: &str) -> Analysis {
    let path = clips_dir().join(name);
    let options = InputOptions {
        no_ffmpeg: true,
        ..InputOptions::default()
    };
    let mut source = open_input(&path.to_string_lossy(), &options).unwrap();
    let mut analyzer = Analyzer::new(source.info(), AnalysisConfig::default()).unwrap();
    while let Some(frame) = source.next_frame().unwrap() {
        analyzer.push(&frame).unwrap();
    }
    analyzer.finish()
}

#[test]
fn complexity_is_a_cost_per_second_not_per_pixel() {
    // The same animation at 1280x720 (the MP4 source) and at 640x360: each pixel of the larger
    // picture is cheaper, but it has four times as many, so the stream costs more per second
    // (OpenH264 at QP 34: 474.5 against 259.7 kbit/s, 0.021 against 0.045 bits per pixel).
    let large = analyse_mp4("mp4/bigbuckbunny.mp4");
    let small = &analyses()["bbb_360p"];
    assert_eq!((large.info.width, large.info.height), (1280, 720));
    assert!(
        large.bits_per_pixel < 0.6 * small.bits_per_pixel,
        "{} vs {}",
        large.bits_per_pixel,
        small.bits_per_pixel
    );
    assert!(
        large.score > small.score + 0.5,
        "{} vs {}",
        large.score,
        small.score
    );
}

#[test]
fn bikes_source_has_five_hard_cuts() {
    // The 250-frame source of bikes_272p (its frames 100..200) has a cut at 3.04 s (frame 76)
    // besides the four near 1.2, 5.5, 7.5 and 9.7 s.
    let analysis = analyse_mp4("mp4/bikes.mp4");
    assert_eq!(analysis.frames.len(), 250);
    assert_eq!(cuts(&analysis), [0, 30, 76, 137, 187, 242]);
}

#[test]
fn motion_statistics_are_finite_and_rank_the_clips() {
    let bikes = &analyses()["bikes_272p"];
    for f in &bikes.frames {
        let values = [f.motion_mean, f.motion_std, f.moving_share];
        assert!(
            values.iter().all(|v| v.is_finite()),
            "frame {}: {values:?}",
            f.index
        );
        assert!((0.0..=1.0).contains(&f.moving_share), "frame {}", f.index);
        // No vector is longer than the search reaches: 16 pixels per axis, plus two steps.
        assert!(f.motion_mean <= 18.0 * 2f64.sqrt(), "frame {}", f.index);
    }
    // Every bikes scene has people or a camera moving.
    for scene in &bikes.scenes {
        let values = [scene.motion_mean, scene.motion_std, scene.moving_share];
        assert!(values.iter().all(|v| v.is_finite()), "{values:?}");
        assert!(
            scene.moving_share > 0.05 && scene.motion_mean >= 1.0,
            "{values:?}"
        );
    }
    // A mostly static screencast moves far less of its picture than the handheld foreman.
    let share = |name: &str| analyses()[name].moving_share;
    assert!(
        share("screen_gnome_360p") * 10.0 < share("foreman_288p"),
        "{} vs {}",
        share("screen_gnome_360p"),
        share("foreman_288p")
    );
}
