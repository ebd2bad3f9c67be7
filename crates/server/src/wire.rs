//! How a session speaks: JSON text frames with its time unit, or SBE binary frames at the schema
//! version it asked for (requests are JSON text frames either way).

use userstream_protocol::TimeUnit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    Json(TimeUnit),
    Sbe {
        version: u16,
        /// The version is served but no longer the latest: responses say so.
        deprecated: bool,
    },
}

impl WireFormat {
    /// The unit JSON timestamps use (SBE's are always microseconds).
    pub fn time_unit(self) -> TimeUnit {
        match self {
            WireFormat::Json(unit) => unit,
            WireFormat::Sbe { .. } => TimeUnit::Microsecond,
        }
    }

    /// A short name for logs and the admin API: `json` or `sbe 3:5`.
    pub fn describe(self) -> String {
        match self {
            WireFormat::Json(_) => "json".into(),
            WireFormat::Sbe { version, .. } => format!("sbe 3:{version}"),
        }
    }
}
