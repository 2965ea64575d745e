//! Online chunk planning: cut the frame stream into chunks at scene cuts and every
//! `gops_per_chunk` GOPs, deciding as each frame arrives.
//!
//! Chunk boundaries are a pure function of the scene cuts and the configuration, so every
//! bitstream of a swarm (and a resumed run) has its closed GOPs at the same frame indices.

use serde::{Deserialize, Serialize};

/// A planned chunk: a run of frames that one encoder instance encodes as closed GOPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkSpan {
    pub index: u32,
    pub first_frame: u64,
    pub frames: u32,
    /// Index of the scene the chunk belongs to (chunks never straddle a scene cut).
    pub scene: u32,
}

/// Cuts the stream as frames arrive.
#[derive(Debug, Clone)]
pub struct Chunker {
    max_frames: u32,
    next_index: u32,
    start: u64,
    len: u32,
    scene: u32,
    seen_any: bool,
}

impl Chunker {
    /// A chunker that closes chunks at scene cuts and after `max_frames` frames.
    pub fn new(max_frames: u32) -> Self {
        Self {
            max_frames: max_frames.max(1),
            next_index: 0,
            start: 0,
            len: 0,
            scene: 0,
            seen_any: false,
        }
    }

    /// Takes the next frame's scene-cut flag; returns the chunk this frame closed, if any
    /// (the returned chunk ends just before this frame).
    pub fn push(&mut self, scene_cut: bool) -> Option<ChunkSpan> {
        let closed = if self.len > 0 && (scene_cut || self.len >= self.max_frames) {
            self.close()
        } else {
            None
        };
        if scene_cut && self.seen_any {
            self.scene += 1;
        }
        self.seen_any = true;
        self.len += 1;
        closed
    }

    /// End of stream: the last, possibly short, chunk.
    pub fn finish(&mut self) -> Option<ChunkSpan> {
        (self.len > 0).then(|| self.close()).flatten()
    }

    fn close(&mut self) -> Option<ChunkSpan> {
        let span = ChunkSpan {
            index: self.next_index,
            first_frame: self.start,
            frames: self.len,
            scene: self.scene,
        };
        self.next_index += 1;
        self.start += u64::from(self.len);
        self.len = 0;
        Some(span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn plan(cuts: &[u64], total: u64, max: u32) -> Vec<ChunkSpan> {
        let mut c = Chunker::new(max);
        let mut out: Vec<_> = (0..total)
            .filter_map(|i| c.push(i == 0 || cuts.contains(&i)))
            .collect();
        out.extend(c.finish());
        out
    }

    #[test]
    fn chunks_start_at_cuts_and_every_max_frames() {
        let spans = plan(&[37, 87], 100, 25);
        let starts: Vec<_> = spans
            .iter()
            .map(|s| (s.first_frame, s.frames, s.scene))
            .collect();
        assert_eq!(
            starts,
            vec![
                (0, 25, 0),
                (25, 12, 0),
                (37, 25, 1),
                (62, 25, 1),
                (87, 13, 2)
            ]
        );
        assert!(spans.iter().enumerate().all(|(i, s)| s.index as usize == i));
    }

    #[test]
    fn empty_stream_has_no_chunk() {
        assert!(plan(&[], 0, 10).is_empty());
    }

    proptest! {
        #[test]
        fn chunks_tile_the_stream(total in 1u64..400, max in 1u32..60, cuts in proptest::collection::vec(0u64..400, 0..8)) {
            let spans = plan(&cuts, total, max);
            let mut next = 0;
            for s in &spans {
                prop_assert_eq!(s.first_frame, next);
                prop_assert!(s.frames >= 1 && s.frames <= max);
                next += u64::from(s.frames);
                // no chunk straddles a cut
                prop_assert!(!cuts.iter().any(|&c| c > s.first_frame && c < s.first_frame + u64::from(s.frames)));
            }
            prop_assert_eq!(next, total);
        }
    }
}
