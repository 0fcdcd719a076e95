//! Azure's Activity Log, read as a change feed: which resources of a resource group were written
//! or deleted since a moment (`Activity Logs - List`, `Microsoft.Insights`, api-version
//! 2015-04-01). ARM records every write, delete and action it accepts there, whoever sent it
//! (portal, CLI, policy, another operator); reads are not recorded.
//!
//! Its `$filter` allows only a few fixed patterns; moat uses the resource group one:
//! `eventTimestamp ge '…' and eventTimestamp le '…' and resourceGroupName eq '…'`. `$select`
//! keeps the answer to the four fields moat reads.

use jiff::Timestamp;
use reqwest::Method;
use serde::Deserialize;

use super::client::ArmClient;
use super::models::Page;
use super::error::{ArmError, Result};
use super::Conditions;

/// The api-version of the Activity Logs API (its only stable one).
pub const API_VERSION: &str = "2015-04-01";

/// The fields moat asks for.
const SELECT: &str = "eventTimestamp,resourceId,operationName,status";

/// One event of the Activity Log: a write, delete or action on `resource_id` at `timestamp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEvent {
    pub resource_id: String,
    pub timestamp: Timestamp,
    /// e.g. `Microsoft.Network/networkSecurityGroups/securityRules/write`.
    pub operation: String,
    /// `Started`, `Accepted`, `Succeeded`, `Failed`.
    pub status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent {
    #[serde(default)]
    resource_id: Option<String>,
    #[serde(default)]
    event_timestamp: Option<String>,
    #[serde(default)]
    operation_name: Option<Localized>,
    #[serde(default)]
    status: Option<Localized>,
}

#[derive(Deserialize)]
struct Localized {
    #[serde(default)]
    value: Option<String>,
}

impl RawEvent {
    /// An event without a resource or a readable time is of no use to a change feed (ARM
    /// sends neither kind for writes).
    fn into_event(self) -> Option<ActivityEvent> {
        let resource_id = self.resource_id.filter(|r| !r.is_empty())?;
        let timestamp = self.event_timestamp.as_deref()?.parse::<Timestamp>().ok()?;
        Some(ActivityEvent {
            resource_id,
            timestamp,
            operation: self.operation_name.and_then(|o| o.value).unwrap_or_default(),
            status: self.status.and_then(|s| s.value).unwrap_or_default(),
        })
    }
}

/// The `$filter` for one resource group's events between `from` and `to`.
pub fn filter(resource_group: &str, from: Timestamp, to: Timestamp) -> String {
    // A quote in a resource group name is impossible (ARM's naming rules); doubled anyway, as
    // OData escapes it.
    let rg = resource_group.replace('\'', "''");
    format!("eventTimestamp ge '{from}' and eventTimestamp le '{to}' and resourceGroupName eq '{rg}'")
}

impl ArmClient {
    /// The events of `resource_group` in `subscription` between `from` and `to`, every page.
    /// Paced, retried and throttled like every other read.
    pub async fn activity_log(&self, subscription: &str, resource_group: &str, from: Timestamp, to: Timestamp) -> Result<Vec<ActivityEvent>> {
        let segments = ["subscriptions", subscription, "providers", "Microsoft.Insights", "eventtypes", "management", "values"];
        let mut url = self.path_url(segments, API_VERSION)?;
        url.query_pairs_mut().append_pair("$filter", &filter(resource_group, from, to)).append_pair("$select", SELECT);
        let mut out = Vec::new();
        loop {
            let raw = self.send(Method::GET, url, None, &Conditions::none()).await?;
            let body = raw.json()?.unwrap_or(serde_json::Value::Null);
            let page: Page<RawEvent> = serde_json::from_value(body)
                .map_err(|e| ArmError::protocol(format!("activity log answer from {} is not a page of events: {e}", raw.url)))?;
            out.extend(page.value.into_iter().filter_map(RawEvent::into_event));
            match page.next_link.filter(|l| !l.is_empty()) {
                Some(next) => url = self.vet_url(&next)?,
                None => return Ok(out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_is_the_documented_resource_group_pattern() {
        let from: Timestamp = "2026-12-06T03:00:00Z".parse().expect("time");
        let to: Timestamp = "2026-12-06T03:05:00.5Z".parse().expect("time");
        assert_eq!(
            filter("rg-ml", from, to),
            "eventTimestamp ge '2026-12-06T03:00:00Z' and eventTimestamp le '2026-12-06T03:05:00.5Z' and resourceGroupName eq 'rg-ml'"
        );
    }

    #[test]
    fn events_without_a_resource_or_a_time_are_dropped() {
        let page: Page<RawEvent> = serde_json::from_value(serde_json::json!({"value": [
            {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v", "eventTimestamp": "2026-12-06T03:01:02.1234567Z",
             "operationName": {"value": "Microsoft.Network/virtualNetworks/write"}, "status": {"value": "Succeeded"}},
            {"eventTimestamp": "2026-12-06T03:01:02Z"},
            {"resourceId": "/subscriptions/s/resourceGroups/rg", "eventTimestamp": "yesterday"}
        ]}))
        .expect("page");
        let events: Vec<ActivityEvent> = page.value.into_iter().filter_map(RawEvent::into_event).collect();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].operation, "Microsoft.Network/virtualNetworks/write");
        assert_eq!(events[0].status, "Succeeded");
        assert_eq!(events[0].timestamp, "2026-12-06T03:01:02.1234567Z".parse::<Timestamp>().expect("time"));
    }
}
