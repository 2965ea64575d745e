//! Calibration of the complexity score (docs/ANALYSIS.md, "Calibration"): encodes every clip of
//! the shared clip folder with OpenH264 at QP 34, one chunk per detected scene (as the swarm
//! does), at its own size and at half its width and height, and prints
//!
//! 1. the least-squares fit of `ln bpp = a + b ln(E + 0.5) + c ln(P)` over every frame, with
//!    its R^2, next to the constants the crate uses;
//! 2. one row per clip (and per scene of clips with cuts): measured and predicted bits per pixel
//!    and kbit/s, the score of both rates, and the complexity level.
//!
//! `cargo run --release -p bitswarm-analysis --example calibrate` (clip folder: `BITSWARM_CLIPS`,
//! else `../shared/clips`). About six seconds once built.

use std::error::Error;
use std::path::PathBuf;

use bitswarm_analysis::complexity::{
    self, ENERGY_EXPONENT, ENERGY_OFFSET, LN_BPP_INTERCEPT, PIXELS_EXPONENT,
};
use bitswarm_analysis::{Analysis, AnalysisConfig, Analyzer};
use bitswarm_codec::{open_encoder, Encoder, EncoderConfig};
use bitswarm_core::{scale, Profile, RateControl, VideoInfo};
use bitswarm_media::{open_input, InputOptions};

/// The clips, by file name under the clip folder.
const CLIPS: [&str; 8] = [
    "screen_gnome_360p.y4m",
    "friday_360p.y4m",
    "foreman_288p.y4m",
    "bikes_272p.y4m",
    "bbb_360p.y4m",
    "city_360p.y4m",
    "mp4/bigbuckbunny.mp4",
    "mp4/bikes.mp4",
];
/// The reference QP of the score.
const QP: u8 = 34;
/// Encoder effort: level 7 is OpenH264's medium complexity mode (docs/CODEC.md).
const EFFORT: u8 = 7;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// One clip at one size: the analysis and the bits OpenH264 spent on every frame.
struct Encoded {
    name: String,
    analysis: Analysis,
    bits: Vec<u64>,
}

impl Encoded {
    fn pixels(&self) -> f64 {
        self.analysis.info.luma_len() as f64
    }

    /// Measured bits per pixel of frames `range`.
    fn bits_per_pixel(&self, range: std::ops::Range<usize>) -> f64 {
        let frames = range.len() as f64;
        self.bits[range].iter().sum::<u64>() as f64 / frames / self.pixels()
    }
}

fn clips_dir() -> PathBuf {
    std::env::var_os("BITSWARM_CLIPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/clips"))
}

/// Moves the packets `encoder` has ready into `bits`, as sizes in bits.
fn drain(encoder: &mut dyn Encoder, bits: &mut Vec<u64>) -> Result<()> {
    while let Some(packet) = encoder.receive_packet()? {
        bits.push(8 * packet.data.len() as u64);
    }
    Ok(())
}

/// Analyses and encodes clip `name`, scaled by `1 / divisor` in each dimension: a new encoder
/// (so an IDR) at every scene the analyser reports, as the swarm cuts chunks.
fn encode(name: &str, divisor: u32) -> Result<Encoded> {
    let path = clips_dir().join(name);
    let options = InputOptions {
        no_ffmpeg: true,
        ..InputOptions::default()
    };
    let mut source = open_input(&path.to_string_lossy(), &options)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let full = source.info();
    let even = |n: u32| n / divisor / 2 * 2;
    let info = VideoInfo::new(even(full.width), even(full.height), full.fps)?;
    let mut analyzer = Analyzer::new(info, AnalysisConfig::default())?;
    let chunk = EncoderConfig {
        profile: Profile {
            rate: RateControl::Qp { qp: QP },
            gop: *bitswarm_core::GOP_RANGE.end(),
            complexity: EFFORT,
            ..Profile::default()
        },
        source: info,
        threads: 1,
        ffmpeg: None,
    };
    let mut encoder: Option<Box<dyn Encoder>> = None;
    let mut bits = Vec::new();
    while let Some(frame) = source.next_frame()? {
        let frame = if divisor == 1 {
            frame
        } else {
            scale(&frame, info.width, info.height)
        };
        let stats = analyzer.push(&frame)?;
        if stats.scene_cut {
            if let Some(mut done) = encoder.take() {
                done.flush()?;
                drain(done.as_mut(), &mut bits)?;
            }
        }
        let current = match &mut encoder {
            Some(current) => current,
            None => encoder.insert(open_encoder(&chunk)?),
        };
        current.send_frame(&frame)?;
        drain(current.as_mut(), &mut bits)?;
    }
    if let Some(mut done) = encoder {
        done.flush()?;
        drain(done.as_mut(), &mut bits)?;
    }
    let analysis = analyzer.finish();
    if bits.len() != analysis.frames.len() {
        return Err(format!(
            "{name}: {} packets for {} frames",
            bits.len(),
            analysis.frames.len()
        )
        .into());
    }
    let size = format!("{}x{}", info.width, info.height);
    let name = name.trim_end_matches(".y4m");
    Ok(Encoded {
        name: format!("{name} {size}"),
        analysis,
        bits,
    })
}

/// Least squares: the `beta` minimising `|X beta - y|^2`, from the normal equations (Gaussian
/// elimination with partial pivoting).
fn least_squares<const N: usize>(rows: &[([f64; N], f64)]) -> Result<[f64; N]> {
    let mut a = [[0.0; N]; N];
    let mut b = [0.0; N];
    for (x, y) in rows {
        for i in 0..N {
            b[i] += x[i] * y;
            for j in 0..N {
                a[i][j] += x[i] * x[j];
            }
        }
    }
    for col in 0..N {
        let pivot = (col..N)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        if a[pivot][col].abs() < 1e-12 {
            return Err("the fit's features are linearly dependent".into());
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (pivot_row, pivot_b) = (a[col], b[col]);
        for (row, (coefficients, rhs)) in a.iter_mut().zip(&mut b).enumerate() {
            if row != col {
                let f = coefficients[col] / pivot_row[col];
                for (c, p) in coefficients.iter_mut().zip(pivot_row) {
                    *c -= f * p;
                }
                *rhs -= f * pivot_b;
            }
        }
    }
    Ok(std::array::from_fn(|i| b[i] / a[i][i]))
}

/// Prints the fit over every frame of `clips`.
fn print_fit(clips: &[Encoded]) -> Result<()> {
    let rows: Vec<([f64; 3], f64)> = clips
        .iter()
        .flat_map(|clip| {
            let frames = clip.analysis.frames.iter().zip(&clip.bits);
            frames.map(|(f, &bits)| {
                let features = [1.0, (f.energy + ENERGY_OFFSET).ln(), clip.pixels().ln()];
                (features, (bits as f64 / clip.pixels()).ln())
            })
        })
        .collect();
    let beta = least_squares(&rows)?;
    let residuals: Vec<f64> = rows
        .iter()
        .map(|(x, y)| y - x.iter().zip(&beta).map(|(x, b)| x * b).sum::<f64>())
        .collect();
    let n = rows.len() as f64;
    let mean = rows.iter().map(|(_, y)| y).sum::<f64>() / n;
    let total: f64 = rows.iter().map(|(_, y)| (y - mean).powi(2)).sum();
    let unexplained: f64 = residuals.iter().map(|r| r * r).sum();
    // Duan's smearing estimate: the mean of exp(residual) turns the fit of ln bpp into an
    // unbiased prediction of bpp itself (what the score averages).
    let smearing = residuals.iter().map(|r| r.exp()).sum::<f64>() / n;
    println!("fit over {} frames of {} encodes:", rows.len(), clips.len());
    println!(
        "  ln bpp = {:.3} + {:.3} ln(E + {ENERGY_OFFSET}) + {:.3} ln(P)   R^2 {:.3}, residual sd {:.3}",
        beta[0],
        beta[1],
        beta[2],
        1.0 - unexplained / total,
        (unexplained / n).sqrt()
    );
    println!(
        "  smearing factor {smearing:.3}: intercept {:.3}",
        beta[0] + smearing.ln()
    );
    println!(
        "  the crate uses {LN_BPP_INTERCEPT:.3} + {ENERGY_EXPONENT:.3} ln(E + {ENERGY_OFFSET}) + \
         {PIXELS_EXPONENT:.3} ln(P)"
    );
    Ok(())
}

/// Prints one table row: measured against predicted cost of frames `range` of `clip`.
fn print_row(label: &str, clip: &Encoded, range: std::ops::Range<usize>, predicted_bpp: f64) {
    let info = &clip.analysis.info;
    let frames = range.len();
    let measured_bpp = clip.bits_per_pixel(range);
    let (measured, predicted) = (
        complexity::kbps(measured_bpp, info),
        complexity::kbps(predicted_bpp, info),
    );
    let score = complexity::score(predicted);
    println!(
        "{label:<38} {frames:>6} {measured_bpp:>8.4} {predicted_bpp:>8.4} {measured:>8.1} \
         {predicted:>8.1} {:>+6.0}% {:>6.2} {score:>6.2} {:>3}",
        100.0 * (predicted / measured - 1.0),
        complexity::score(measured),
        complexity::level(score),
    );
}

fn main() -> Result<()> {
    let mut clips = Vec::new();
    for name in CLIPS {
        for divisor in [1, 2] {
            clips.push(encode(name, divisor)?);
        }
    }
    print_fit(&clips)?;
    println!();
    println!(
        "{:<38} {:>6} {:>8} {:>8} {:>8} {:>8} {:>7} {:>6} {:>6} {:>3}",
        "clip", "frames", "bpp", "pred", "kbit/s", "pred", "error", "score", "pred", "lvl"
    );
    for clip in &clips {
        let analysis = &clip.analysis;
        let frames = 0..analysis.frames.len();
        print_row(&clip.name, clip, frames, analysis.bits_per_pixel);
        if analysis.scenes.len() > 1 {
            for scene in &analysis.scenes {
                let label = format!("  scene {}-{}", scene.start, scene.end() - 1);
                let frames = scene.start as usize..scene.end() as usize;
                print_row(&label, clip, frames, scene.bits_per_pixel);
            }
        }
    }
    Ok(())
}
