//! The analysis of the real clips in the shared clip folder (`SOURCES.md` there describes them):
//! scene cuts where the footage has them and nowhere else, and complexity in the order of the
//! clips' measured encoding cost (`docs/ANALYSIS.md`).

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
    let mut analyzer = Analyzer::new(reader.info(), AnalysisConfig::default()).unwrap();
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
fn complexity_ranks_clips_by_their_measured_encoding_cost() {
    // OpenH264 at QP 34 spends, in bits per pixel: screen_gnome 0.0096, friday 0.035,
    // bbb 0.050, bikes 0.057, foreman 0.070, city 0.124 (docs/ANALYSIS.md).
    let by_cost = [
        "screen_gnome_360p",
        "friday_360p",
        "bbb_360p",
        "bikes_272p",
        "foreman_288p",
        "city_360p",
    ];
    let all = analyses();
    let scores: Vec<f64> = by_cost.iter().map(|name| all[name].score).collect();
    assert!(
        scores.windows(2).all(|w| w[0] < w[1]),
        "{by_cost:?}: {scores:?}"
    );
    // Screen content and low-motion dialogue below the street scene and the city pan.
    for easy in ["screen_gnome_360p", "friday_360p"] {
        for hard in ["bikes_272p", "city_360p"] {
            assert!(
                all[easy].complexity < all[hard].complexity,
                "{easy} vs {hard}"
            );
        }
    }
    // A spread that the swarm's policy thresholds (> 7, > 4) can use.
    assert!(all["city_360p"].complexity > 7);
    assert!(all["screen_gnome_360p"].complexity < 4);
    // The hardest bikes scene (people walking close to the camera) costs the most.
    let bikes: Vec<f64> = all["bikes_272p"].scenes.iter().map(|s| s.score).collect();
    assert!(bikes[2] > bikes[1] && bikes[1] > bikes[0], "{bikes:?}");
}

#[test]
fn bikes_source_has_five_hard_cuts() {
    // The 250-frame source of bikes_272p (its frames 100..200) has a cut at 3.04 s (frame 76)
    // besides the four near 1.2, 5.5, 7.5 and 9.7 s.
    let path = clips_dir().join("mp4/bikes.mp4");
    let options = InputOptions {
        no_ffmpeg: true,
        ..InputOptions::default()
    };
    let mut source = open_input(&path.to_string_lossy(), &options).unwrap();
    let mut analyzer = Analyzer::new(source.info(), AnalysisConfig::default()).unwrap();
    while let Some(frame) = source.next_frame().unwrap() {
        analyzer.push(&frame).unwrap();
    }
    let analysis = analyzer.finish();
    assert_eq!(analysis.frames.len(), 250);
    assert_eq!(cuts(&analysis), [0, 30, 76, 137, 187, 242]);
}
