//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the frame reader, which is
//! private, behind two thin wrappers. Not part of the API.

pub use crate::frame::{FrameError, Inbound, Reply};
use userstream_protocol::TimeUnit;

/// Classifies one text frame, as a session reads it.
pub fn parse_text(text: &str, unit: TimeUnit) -> Result<Inbound, FrameError> {
    crate::frame::parse(text, unit)
}

/// Classifies one binary frame of an SBE session.
pub fn parse_binary(frame: &[u8]) -> Result<Inbound, FrameError> {
    crate::frame::parse_binary(frame)
}
