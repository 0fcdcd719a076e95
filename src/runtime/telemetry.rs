//! Logging: a `tracing` subscriber with an `RUST_LOG` filter and a text or JSON format.
//!
//! Log structured fields (`info!(name = %obj, ns, "...")`), not formatted strings, so that JSON
//! lines stay queryable. Never log secrets: the ARM token is a [`SecretToken`](super::config::SecretToken)
//! and credential Secrets' data must not reach a log field.

use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use super::config::LogFormat;

/// Filter used when `RUST_LOG` is unset or empty.
pub const DEFAULT_FILTER: &str = "info,moat=info";

/// The logging setup failed.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `RUST_LOG` does not parse as an `EnvFilter` directive list.
    #[error("RUST_LOG={value:?} is not a valid filter: {source}")]
    InvalidFilter {
        /// The offending value.
        value: String,
        /// Parser error.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global subscriber is already installed (telemetry initialised twice).
    #[error("a global tracing subscriber is already installed: {0}")]
    AlreadyInitialised(#[source] tracing_subscriber::util::TryInitError),
}

/// Builds the filter from a `RUST_LOG` value; `None` or blank gives [`DEFAULT_FILTER`].
pub fn filter(rust_log: Option<&str>) -> Result<EnvFilter, TelemetryError> {
    let value = rust_log.map(str::trim).filter(|v| !v.is_empty()).unwrap_or(DEFAULT_FILTER);
    EnvFilter::try_new(value)
        .map_err(|source| TelemetryError::InvalidFilter { value: value.to_owned(), source })
}

/// Installs the global subscriber: call it first in `moat run`, once.
///
/// Reads `RUST_LOG`; an invalid value is an error rather than a silent fallback.
pub fn init(format: LogFormat) -> Result<(), TelemetryError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(rust_log.as_deref())?;
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => registry.with(fmt::layer().with_target(true)).try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_target(true),
            )
            .try_init(),
    }
    .map_err(TelemetryError::AlreadyInitialised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_explicit_filters() {
        assert_eq!(filter(None).expect("default").to_string(), "moat=info,info");
        assert_eq!(filter(Some("  ")).expect("blank").to_string(), "moat=info,info");
        assert!(filter(Some("moat=debug")).is_ok());
        let err = filter(Some("moat=loud")).expect_err("invalid level");
        assert!(err.to_string().contains("moat=loud"));
    }
}
