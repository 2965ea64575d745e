//! Locating the shared traces: `BITSWARM_TRACES`, else `<workspace>/../shared/traces`.

use std::path::PathBuf;

pub fn traces_root() -> PathBuf {
    let root = std::env::var_os("BITSWARM_TRACES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces")
        });
    assert!(
        root.join("dev").is_dir() && root.join("video").is_dir(),
        "shared traces not found at {} (set BITSWARM_TRACES to the folder with dev/, train/ and video/)",
        root.display()
    );
    root
}
