//! `bitswarm encoders`: the encoders this machine can run, with versions, and why the others
//! cannot run.

use std::path::PathBuf;

use anyhow::Result;
use bitswarm_codec::{available_encoders, EncoderAvailability};

/// Prints the table (or JSON with `--json`). `ffmpeg` overrides `$BITSWARM_FFMPEG` and `PATH`.
pub fn run(json: bool, ffmpeg: Option<PathBuf>) -> Result<()> {
    let list = available_encoders(ffmpeg.as_deref());
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        print!("{}", table(&list));
    }
    Ok(())
}

/// One line per encoder: name, codec, whether it runs here, then its version or the reason it
/// does not; the FFmpeg binary last.
fn table(list: &[EncoderAvailability]) -> String {
    let mut out = format!(
        "{:<10} {:<6} {:<4} {}\n",
        "ENCODER", "CODEC", "OK", "VERSION / REASON"
    );
    for a in list {
        let detail = match (&a.version, &a.reason) {
            (Some(version), _) => version.as_str(),
            (None, Some(reason)) => reason.as_str(),
            (None, None) => "",
        };
        let ok = if a.available { "yes" } else { "no" };
        out.push_str(&format!(
            "{:<10} {:<6} {:<4} {detail}\n",
            a.kind.name(),
            a.codec.name(),
            ok
        ));
    }
    match list.iter().find_map(|a| a.ffmpeg.as_ref()) {
        Some(path) => out.push_str(&format!("ffmpeg: {}\n", path.display())),
        None => out.push_str(
            "ffmpeg: none found (pass --ffmpeg PATH, set BITSWARM_FFMPEG, or put ffmpeg on PATH)\n",
        ),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::EncoderKind;

    #[test]
    fn the_table_shows_versions_and_reasons() {
        let entry =
            |kind: EncoderKind, version: Option<&str>, reason: Option<&str>| EncoderAvailability {
                kind,
                codec: kind.codec(),
                available: version.is_some(),
                version: version.map(str::to_owned),
                ffmpeg: (!kind.in_process()).then(|| PathBuf::from("/opt/ff/ffmpeg")),
                reason: reason.map(str::to_owned),
            };
        let list = [
            entry(EncoderKind::OpenH264, Some("OpenH264 2.6.0"), None),
            entry(
                EncoderKind::X265,
                None,
                Some("ffmpeg 5.1 at /opt/ff/ffmpeg has no libx265 encoder"),
            ),
        ];
        assert_eq!(
            table(&list),
            "ENCODER    CODEC  OK   VERSION / REASON\n\
             openh264   h264   yes  OpenH264 2.6.0\n\
             x265       hevc   no   ffmpeg 5.1 at /opt/ff/ffmpeg has no libx265 encoder\n\
             ffmpeg: /opt/ff/ffmpeg\n"
        );
    }
}
