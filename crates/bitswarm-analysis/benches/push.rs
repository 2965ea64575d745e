//! Cost of `Analyzer::push` per frame on a real clip, printed against a baseline measured in the
//! same process: one read pass over the same luma planes (the least any analysis must do).
//!
//! `cargo bench -p bitswarm-analysis` (clip folder: `BITSWARM_CLIPS`, else `../shared/clips`).

use std::fs::File;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use bitswarm_analysis::{AnalysisConfig, Analyzer};
use bitswarm_media::y4m::Y4mReader;

const ROUNDS: u32 = 20;

fn main() {
    let dir = std::env::var_os("BITSWARM_CLIPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clips"));
    for name in ["bbb_360p", "foreman_288p"] {
        let path = dir.join(format!("{name}.y4m"));
        let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut reader = Y4mReader::new(file).expect("a Y4M clip");
        let info = reader.info();
        let mut frames = Vec::new();
        while let Some(frame) = reader.next_frame().expect("a readable clip") {
            frames.push(frame);
        }
        let count = f64::from(ROUNDS) * frames.len() as f64;

        let start = Instant::now();
        for _ in 0..ROUNDS {
            for frame in &frames {
                black_box(frame.y.iter().map(|&p| u32::from(p)).sum::<u32>());
            }
        }
        let baseline = start.elapsed().as_secs_f64() / count;

        let start = Instant::now();
        for _ in 0..ROUNDS {
            let mut analyzer = Analyzer::new(info, AnalysisConfig::default()).expect("valid");
            for frame in &frames {
                black_box(analyzer.push(frame).expect("same geometry"));
            }
        }
        let push = start.elapsed().as_secs_f64() / count;
        println!(
            "{name} {}x{}: push {:.3} ms/frame = {:.1} x one read pass ({:.4} ms)",
            info.width,
            info.height,
            push * 1e3,
            push / baseline,
            baseline * 1e3
        );
    }
}
