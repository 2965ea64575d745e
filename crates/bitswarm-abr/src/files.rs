//! The crate's only file-system code: reading trace folders, ladders and client descriptions
//! for the command line and the trainer. Everything else takes file contents.

use std::path::Path;

use crate::client::ClientCaps;
use crate::ladder::Ladder;
use crate::trace::Trace;
use crate::{Error, Result};

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Every regular file of `dir` (hidden ones excepted) as a trace, sorted by file name.
pub fn load_traces(dir: &Path) -> Result<Vec<Trace>> {
    let io = |source| Error::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.file_type().map_err(io)?.is_file() {
            paths.push(entry.path());
        }
    }
    if paths.is_empty() {
        return Err(Error::Config {
            field: "trace folder",
            value: dir.display().to_string(),
            expected: "a folder with trace files (`<time_s> <Mbit/s>` per line)".into(),
        });
    }
    paths.sort();
    paths
        .iter()
        .map(|p| Trace::parse(&file_name(p), &read(p)?))
        .collect()
}

/// A ladder: a JSON ladder file, or a folder with Pensieve's `video_size_0` ..
/// `video_size_N` files and `Manifest.mpd`.
pub fn load_ladder(path: &Path) -> Result<Ladder> {
    let name = file_name(path);
    if !path.is_dir() {
        return Ladder::parse_json(&name, &read(path)?);
    }
    let mut sizes = Vec::new();
    while path.join(format!("video_size_{}", sizes.len())).is_file() {
        let file = format!("video_size_{}", sizes.len());
        let text = read(&path.join(&file))?;
        sizes.push((file, text));
    }
    if sizes.is_empty() {
        return Err(Error::ladder(
            &name,
            "folder has no video_size_0 (expected video_size_0 .. video_size_N and Manifest.mpd, or give a JSON ladder file)".into(),
        ));
    }
    let manifest_path = path.join("Manifest.mpd");
    if !manifest_path.is_file() {
        return Err(Error::ladder(
            &name,
            "folder has video_size files but no Manifest.mpd (it gives the bitrates and resolutions)".into(),
        ));
    }
    let manifest = read(&manifest_path)?;
    let borrowed: Vec<(&str, &str)> = sizes
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    Ladder::from_chunk_sizes(&name, &borrowed, &manifest)
}

/// A client: a preset name (`desktop`, `phone`, `tv`, `legacy`) or a JSON file.
pub fn load_client(spec: &str) -> Result<ClientCaps> {
    let path = Path::new(spec);
    if path.is_file() {
        ClientCaps::parse_json(&file_name(path), &read(path)?)
    } else {
        ClientCaps::preset(spec)
    }
}
