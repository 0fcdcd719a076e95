//! Logging: a `tracing` subscriber on stderr with a filter and a text or JSON format.
//!
//! * Filter: a non-empty `RUST_LOG` wins, then `--log-level`, then [`DEFAULT_FILTER`]. Both take
//!   the `EnvFilter` syntax (`debug`, `info,moat=debug,kube=warn`); an invalid one is an error
//!   that names where it came from, never a silent fallback.
//! * `text`: human-readable lines, with ANSI colour only when stderr is a terminal and `NO_COLOR`
//!   is unset, so piped or collected logs carry no escape codes.
//! * `json`: one JSON object per line (`timestamp`, `level`, `target`, `message` and the event's
//!   fields flattened beside them, `span` for the current span), never coloured.
//!
//! Log structured fields (`info!(name = %obj, ns, "...")`), not formatted strings, so that JSON
//! lines stay queryable. Never log secrets: the ARM token is a [`SecretToken`](super::config::SecretToken)
//! and credential Secrets' data must not reach a log field.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use super::config::LogFormat;

/// Filter used when neither `RUST_LOG` nor `--log-level` is set.
pub const DEFAULT_FILTER: &str = "info,moat=info";

/// Where a log filter came from, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterOrigin {
    /// The `RUST_LOG` environment variable.
    Env,
    /// The `--log-level` flag.
    Flag,
    /// [`DEFAULT_FILTER`].
    Default,
}

impl std::fmt::Display for FilterOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FilterOrigin::Env => "RUST_LOG",
            FilterOrigin::Flag => "--log-level",
            FilterOrigin::Default => "the default log filter",
        })
    }
}

/// The logging setup failed.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The filter does not parse as an `EnvFilter` directive list.
    #[error("{origin}={value:?} is not a valid log filter ({source}); use a level such as `debug` or directives such as `info,moat=debug`")]
    InvalidFilter {
        /// `RUST_LOG` or `--log-level`.
        origin: FilterOrigin,
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

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

/// The filter text and where it came from: a non-empty `rust_log` (the environment), else a
/// non-empty `flag` (`--log-level`), else [`DEFAULT_FILTER`].
pub fn choose_filter<'a>(rust_log: Option<&'a str>, flag: Option<&'a str>) -> (&'a str, FilterOrigin) {
    match (non_empty(rust_log), non_empty(flag)) {
        (Some(env), _) => (env, FilterOrigin::Env),
        (None, Some(flag)) => (flag, FilterOrigin::Flag),
        (None, None) => (DEFAULT_FILTER, FilterOrigin::Default),
    }
}

/// Builds the filter from a `RUST_LOG` value and the `--log-level` flag (see [`choose_filter`]).
pub fn filter(rust_log: Option<&str>, flag: Option<&str>) -> Result<EnvFilter, TelemetryError> {
    let (value, origin) = choose_filter(rust_log, flag);
    EnvFilter::try_new(value).map_err(|source| TelemetryError::InvalidFilter { origin, value: value.to_owned(), source })
}

/// Whether text logs on stderr are coloured: stderr is a terminal and `NO_COLOR` is unset or empty
/// (<https://no-color.org>).
pub fn use_ansi(stderr_is_terminal: bool, no_color: Option<&str>) -> bool {
    stderr_is_terminal && no_color.is_none_or(str::is_empty)
}

/// Installs the global subscriber: call it first, once.
///
/// Reads `RUST_LOG` and `NO_COLOR`; `level` is `--log-level`.
pub fn init(format: LogFormat, level: Option<&str>) -> Result<(), TelemetryError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(rust_log.as_deref(), level)?;
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => {
            let ansi = use_ansi(std::io::stderr().is_terminal(), std::env::var("NO_COLOR").ok().as_deref());
            registry.with(fmt::layer().with_writer(std::io::stderr).with_ansi(ansi).with_target(true)).try_init()
        }
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_ansi(false)
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
        assert_eq!(filter(None, None).expect("default").to_string(), "moat=info,info");
        assert_eq!(filter(Some("  "), Some("")).expect("blank").to_string(), "moat=info,info");
        assert!(filter(Some("moat=debug"), None).is_ok());
        let err = filter(Some("moat=loud"), None).expect_err("invalid level");
        assert!(err.to_string().contains("RUST_LOG=\"moat=loud\""), "{err}");
        let err = filter(None, Some("moat=loud")).expect_err("invalid level");
        assert!(err.to_string().contains("--log-level=\"moat=loud\""), "{err}");
    }

    #[test]
    fn rust_log_wins_over_the_flag_which_wins_over_the_default() {
        assert_eq!(choose_filter(Some("warn"), Some("debug")), ("warn", FilterOrigin::Env));
        assert_eq!(choose_filter(Some(" "), Some("debug")), ("debug", FilterOrigin::Flag));
        assert_eq!(choose_filter(None, None), (DEFAULT_FILTER, FilterOrigin::Default));
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_ansi(true, None));
        assert!(use_ansi(true, Some("")));
        assert!(!use_ansi(true, Some("1")));
        assert!(!use_ansi(false, None));
    }
}
