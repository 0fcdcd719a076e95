//! Retry decisions: exponential backoff with jitter, `Retry-After` honoured and clamped.
//!
//! Pure functions, so the decisions are unit-tested without a network or a clock.

use std::time::Duration;

use http::HeaderMap;
use serde::{Deserialize, Serialize};

use super::error::ArmError;

/// Lower and upper bound applied to every server-requested wait (`Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryAfterBounds {
    /// Never wait less than this, even if the server says 0.
    #[serde(with = "secs")]
    pub min: Duration,
    /// Never wait more than this, whatever the server says.
    #[serde(with = "secs")]
    pub max: Duration,
}

impl Default for RetryAfterBounds {
    /// 1 s ..= 600 s (azure-arm-facts.md §6).
    fn default() -> Self {
        Self {
            min: Duration::from_secs(1),
            max: Duration::from_secs(600),
        }
    }
}

impl RetryAfterBounds {
    /// Clamps `d` into `[min, max]`.
    pub fn clamp(&self, d: Duration) -> Duration {
        d.clamp(self.min, self.max.max(self.min))
    }
}

/// How failed requests are retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Total attempts per request, including the first (1 = no retries).
    pub max_attempts: u32,
    /// First backoff when the server gives no `Retry-After`.
    #[serde(with = "secs")]
    pub initial_backoff: Duration,
    /// Backoff cap.
    #[serde(with = "secs")]
    pub max_backoff: Duration,
    /// Give up when the next wait would take the request past this much time in total.
    #[serde(with = "secs")]
    pub max_elapsed: Duration,
    /// Bounds for `Retry-After`.
    pub retry_after: RetryAfterBounds,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_elapsed: Duration::from_secs(15 * 60),
            retry_after: RetryAfterBounds::default(),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait this long, then send again.
    RetryAfter(Duration),
    /// Return the error.
    GiveUp,
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Exponential backoff for attempt `n` (1-based: the wait after the first failure is
    /// `n = 1`), with "equal jitter": half the exponential delay plus `jitter` (in `[0, 1)`)
    /// times the other half.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let base = self.initial_backoff.saturating_mul(1u32 << exp).min(self.max_backoff);
        let half = base / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// Decides whether attempt number `attempt` (1-based) that failed with `err`, `elapsed`
    /// after the first attempt began, is retried and after how long.
    pub fn decide(&self, attempt: u32, elapsed: Duration, err: &ArmError, jitter: f64) -> RetryDecision {
        if !err.is_retryable() || attempt >= self.max_attempts {
            return RetryDecision::GiveUp;
        }
        let wait = match err.retry_after() {
            Some(ra) => self.retry_after.clamp(ra),
            None => self.backoff(attempt, jitter),
        };
        if elapsed.saturating_add(wait) > self.max_elapsed {
            return RetryDecision::GiveUp;
        }
        RetryDecision::RetryAfter(wait)
    }
}

/// Reads the server's requested wait from `retry-after-ms` / `x-ms-retry-after-ms`
/// (milliseconds) or `Retry-After` (integer seconds, or an HTTP date relative to `now`).
/// Unclamped; `None` if absent or unparseable.
pub fn parse_retry_after(headers: &HeaderMap, now: jiff::Timestamp) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
        {
            return Some(Duration::from_millis(ms));
        }
    }
    let v = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    parse_retry_after_value(v, now)
}

/// Parses one `Retry-After` value: delta-seconds (ARM's form) or an HTTP date.
pub fn parse_retry_after_value(v: &str, now: jiff::Timestamp) -> Option<Duration> {
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let delta = when.duration_since(now);
    Some(if delta.is_negative() {
        Duration::ZERO
    } else {
        Duration::try_from(delta).unwrap_or(Duration::ZERO)
    })
}

/// serde helper: durations as whole seconds.
pub(crate) mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::error::{ArmErrorBody, ArmErrorKind};

    fn err(status: u16, code: &str, retry_after: Option<u64>) -> ArmError {
        ArmError::from(ArmErrorKind::Http {
            method: http::Method::GET,
            url: "u".into(),
            status,
            error: (!code.is_empty()).then(|| ArmErrorBody {
                code: code.into(),
                message: "m".into(),
                ..Default::default()
            }),
            body_excerpt: None,
            request_id: None,
            retry_after: retry_after.map(Duration::from_secs),
        })
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let p = RetryPolicy {
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(20),
            ..Default::default()
        };
        assert_eq!(p.backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(p.backoff(1, 1.0), Duration::from_secs(2));
        assert_eq!(p.backoff(2, 0.0), Duration::from_secs(2));
        assert_eq!(p.backoff(3, 0.5), Duration::from_secs(6));
        assert_eq!(p.backoff(10, 0.999).as_secs(), 19);
        assert_eq!(p.backoff(100, 1.0), Duration::from_secs(20));
        for a in 1..12 {
            for j in [0.0, 0.3, 0.99] {
                let d = p.backoff(a, j);
                assert!(d <= p.max_backoff && d >= p.backoff(a, 0.0));
            }
        }
    }

    #[test]
    fn decisions() {
        let p = RetryPolicy::default();
        let z = Duration::ZERO;
        // Retry-After wins over backoff and is clamped.
        assert_eq!(p.decide(1, z, &err(429, "", Some(7)), 0.5), RetryDecision::RetryAfter(Duration::from_secs(7)));
        assert_eq!(p.decide(1, z, &err(429, "", Some(0)), 0.5), RetryDecision::RetryAfter(Duration::from_secs(1)));
        assert_eq!(
            p.decide(1, z, &err(503, "", Some(100_000)), 0.5),
            RetryDecision::RetryAfter(Duration::from_secs(600))
        );
        // ... unless that wait would overrun the elapsed budget (15 min by default).
        assert_eq!(
            p.decide(1, Duration::from_secs(400), &err(503, "", Some(100_000)), 0.5),
            RetryDecision::GiveUp
        );
        // Backoff when no Retry-After.
        assert_eq!(p.decide(2, z, &err(500, "", None), 0.0), RetryDecision::RetryAfter(Duration::from_secs(1)));
        assert_eq!(
            p.decide(1, z, &err(409, "AnotherOperationInProgress", None), 1.0),
            RetryDecision::RetryAfter(Duration::from_secs(1))
        );
        // Not retryable.
        assert_eq!(p.decide(1, z, &err(400, "InvalidParameter", None), 0.0), RetryDecision::GiveUp);
        assert_eq!(p.decide(1, z, &err(404, "ResourceNotFound", None), 0.0), RetryDecision::GiveUp);
        // Attempts and elapsed budget.
        assert_eq!(p.decide(8, z, &err(500, "", None), 0.0), RetryDecision::GiveUp);
        assert_eq!(
            p.decide(2, Duration::from_secs(899), &err(429, "", Some(5)), 0.0),
            RetryDecision::GiveUp
        );
        assert_eq!(RetryPolicy::none().decide(1, z, &err(500, "", None), 0.0), RetryDecision::GiveUp);
    }

    #[test]
    fn retry_after_parsing() {
        let now: jiff::Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h, now), None);
        h.insert("retry-after", "17".parse().unwrap());
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(17)));
        h.insert("retry-after", " 2.5 ".parse().unwrap());
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_millis(2500)));
        h.insert("retry-after", "Wed, 01 May 2024 12:00:30 GMT".parse().unwrap());
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert("retry-after", "Wed, 01 May 2024 11:00:00 GMT".parse().unwrap());
        assert_eq!(parse_retry_after(&h, now), Some(Duration::ZERO));
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(parse_retry_after(&h, now), None);
        h.insert("retry-after", "-3".parse().unwrap());
        assert_eq!(parse_retry_after(&h, now), None);
        h.insert("x-ms-retry-after-ms", "250".parse().unwrap());
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_millis(250)));

        let b = RetryAfterBounds::default();
        assert_eq!(b.clamp(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(b.clamp(Duration::from_secs(42)), Duration::from_secs(42));
        assert_eq!(b.clamp(Duration::from_secs(9999)), Duration::from_secs(600));
    }
}
