//! The decoder backend trait.

use bitswarm_core::Frame;

use crate::Result;

/// A push decoder: bitstream in, frames out in display order.
pub trait Decoder: Send {
    /// Feed complete NAL units in Annex B form (one access unit or more); returns frames ready, in display order.
    fn decode(&mut self, annexb: &[u8]) -> Result<Vec<Frame>>;
    /// End of stream: frames still held for reordering.
    fn flush(&mut self) -> Result<Vec<Frame>>;
}
