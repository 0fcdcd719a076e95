//! One resource group's Activity Log, kept between queries so that each event is fetched about
//! once per publication lag, however many objects ask and however long ago their last full read.
//!
//! A resync check needs the events stamped at or after some moment (`since`) that ARM published
//! after the check before it (`super::resync`). ARM publishes an event some time after it
//! happened (the **lag**), and `$filter` selects on the time an event happened, never on when it
//! was published. So an answer fetched at `as_of` holds every event stamped at or after its
//! `from` that was published by `as_of`, and an event stamped before `as_of - lag` was published
//! by `as_of` (the lag bounds it). A [`Feed`] therefore:
//!
//! - answers any `since` at or after what it covers, from what it keeps, while its last query is
//!   at most `reuse_age` old (the objects of a workspace resync together, and waiting
//!   workspaces ask now and then: they share one query);
//! - otherwise asks only from its last query's time less the lag (the events that may have been
//!   published since), and keeps the older ones it holds;
//! - forgets what is older than `retain` before its last query (a check asks from its last
//!   answer less the lag: at most a couple of resync periods back); a `since` before what it
//!   covers is a query from that moment (less `slack`, so that the objects whose passes started a
//!   moment earlier find their baselines inside it), which the feed then keeps.
//!
//! Pure: the caller sends the query [`Feed::plan`] asks for and hands the answer to
//! [`Feed::merge`]. Before this, every check asked from its object's last full read: 500
//! workspaces in one resource group fetched up to an hour of the group's events at each check
//! (78.6 Activity Log requests per workspace, most of them pages).

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;

use super::arm::Changes;

/// How a resource group's feed queries and what it keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedConfig {
    /// How long after an event ARM may publish it, the clocks of moat and ARM included.
    pub lag: Duration,
    /// How old the last query may be for another check to be answered from the feed.
    pub reuse_age: Duration,
    /// How far before its last query the feed keeps events (at least `lag`).
    pub retain: Duration,
    /// How much earlier than asked a query for a moment the feed does not cover starts.
    pub slack: Duration,
}

impl FeedConfig {
    /// For reconciles whose steady-state answers may be `steady_max_age` old (half the resync
    /// period in `moat run`): answers shared for a tenth of a period (5 to 30 s), events kept
    /// for the lag and two periods.
    pub fn for_steady_age(steady_max_age: Duration, lag: Duration) -> Self {
        let reuse_age = (steady_max_age / 5).clamp(Duration::from_secs(5), Duration::from_secs(30));
        Self { lag, reuse_age, retain: lag + steady_max_age.saturating_mul(4) + reuse_age, slack: Duration::from_secs(60) }
    }
}

/// What a check of `since` takes from the feed.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// The feed answers (no request).
    Reuse(Changes),
    /// A query from `from`: `incremental` when the feed keeps what is older.
    Query { from: Timestamp, incremental: bool },
}

/// One resource group's events, as ARM had published them at `as_of`.
#[derive(Clone, Debug)]
pub struct Feed {
    /// Every event stamped at or after this, published by `as_of`, is here.
    covered_from: Timestamp,
    /// moat's clock when the last query was sent.
    as_of: Timestamp,
    /// When the last query was sent (for `reuse_age`).
    fetched: Instant,
    events: Arc<Vec<crate::azure::activity::ActivityEvent>>,
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

/// `t` less `d` (the earliest time there is, if that is before it).
pub(crate) fn before(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_sub(signed(d)).unwrap_or(Timestamp::MIN)
}

impl Feed {
    /// What a check of the events stamped at or after `since` needs, at `now`.
    pub fn plan(feed: Option<&Feed>, since: Timestamp, now: Instant, config: &FeedConfig) -> Plan {
        match feed {
            Some(f) if f.covered_from <= since => {
                if now.saturating_duration_since(f.fetched) <= config.reuse_age {
                    Plan::Reuse(f.changes())
                } else {
                    Plan::Query { from: before(f.as_of, config.lag).max(f.covered_from), incremental: true }
                }
            }
            _ => Plan::Query { from: before(since, config.slack), incremental: false },
        }
    }

    /// The feed after the query [`Feed::plan`] asked for (`from`, `incremental`) was answered
    /// with `answer`, sent at `fetched`; and what the check that asked gets.
    pub fn merge(old: Option<&Feed>, from: Timestamp, incremental: bool, answer: Changes, fetched: Instant, config: &FeedConfig) -> (Feed, Changes) {
        let (covered_from, events) = match old {
            Some(o) if incremental => {
                let mut events: Vec<_> = o.events.iter().filter(|e| e.timestamp < from).cloned().collect();
                events.extend(answer.events.iter().cloned());
                (o.covered_from.min(from), Arc::new(events))
            }
            _ => (from, answer.events.clone()),
        };
        let given = Changes { events: events.clone(), as_of: answer.as_of };
        // What a later check asks lies after its last answer less the lag: keep that, and more.
        let cutoff = before(answer.as_of, config.retain.max(config.lag));
        let feed = if covered_from < cutoff {
            let kept: Vec<_> = events.iter().filter(|e| e.timestamp >= cutoff).cloned().collect();
            Feed { covered_from: cutoff, as_of: answer.as_of, fetched, events: Arc::new(kept) }
        } else {
            Feed { covered_from, as_of: answer.as_of, fetched, events }
        };
        (feed, given)
    }

    /// What the feed holds, as an answer.
    pub fn changes(&self) -> Changes {
        Changes { events: self.events.clone(), as_of: self.as_of }
    }

    /// How many events it keeps.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::activity::ActivityEvent;

    fn event(id: &str, at: Timestamp) -> ActivityEvent {
        ActivityEvent { resource_id: id.into(), timestamp: at, operation: "x/write".into(), status: "Succeeded".into() }
    }

    fn config() -> FeedConfig {
        FeedConfig { lag: Duration::from_secs(300), reuse_age: Duration::from_secs(30), retain: Duration::from_secs(900), slack: Duration::from_secs(60) }
    }

    /// ARM's log as published: each event with the moment it became visible.
    struct Log(Vec<(ActivityEvent, Timestamp)>);

    impl Log {
        /// What a query from `from` sent at `as_of` returns.
        fn answer(&self, from: Timestamp, as_of: Timestamp) -> Changes {
            let events = self.0.iter().filter(|(e, published)| e.timestamp >= from && *published <= as_of).map(|(e, _)| e.clone()).collect();
            Changes { events: Arc::new(events), as_of }
        }
    }

    fn ids(c: &Changes) -> Vec<String> {
        let mut v: Vec<_> = c.events.iter().map(|e| e.resource_id.clone()).collect();
        v.sort();
        v
    }

    #[test]
    fn a_feed_asks_again_only_for_what_may_have_been_published_since_and_answers_the_rest_from_what_it_keeps() {
        let cfg = config();
        let t0: Timestamp = "2026-12-06T10:00:00Z".parse().expect("time");
        let at = |s: i64| t0 + SignedDuration::from_secs(s);
        let clock = Instant::now();
        let tick = |s: u64| clock + Duration::from_secs(s);
        // An old event, one published 200 s late, and a recent one.
        let log = Log(vec![(event("old", at(-1000)), at(-999)), (event("late", at(400)), at(600)), (event("new", at(1100)), at(1101))]);

        // Nothing kept: a query from the asked moment less the slack.
        let plan = Feed::plan(None, at(-1200), tick(0), &cfg);
        assert_eq!(plan, Plan::Query { from: at(-1260), incremental: false });
        let (feed, given) = Feed::merge(None, at(-1260), false, log.answer(at(-1260), at(500)), tick(0), &cfg);
        assert_eq!(ids(&given), ["old"], "the check that asked gets the whole answer");
        assert_eq!(given.as_of, at(500));
        assert_eq!(feed.len(), 0, "what is older than retain before the query is not kept");

        // Within the reuse age: answered from the feed.
        assert!(matches!(Feed::plan(Some(&feed), at(0), tick(20), &cfg), Plan::Reuse(c) if c.as_of == at(500)));
        // Before what the feed covers (it keeps from 500 - 900 s): a query of its own.
        assert_eq!(Feed::plan(Some(&feed), at(-500), tick(20), &cfg), Plan::Query { from: at(-560), incremental: false });

        // Later: only the lag before the last query is asked again, and the late event is in it.
        let plan = Feed::plan(Some(&feed), at(100), tick(700), &cfg);
        assert_eq!(plan, Plan::Query { from: at(200), incremental: true });
        let (feed, given) = Feed::merge(Some(&feed), at(200), true, log.answer(at(200), at(1200)), tick(700), &cfg);
        assert_eq!(ids(&given), ["late", "new"]);
        assert_eq!(feed.len(), 2);

        // Once more: the late event, stamped before the lag window, is kept, not fetched again.
        let plan = Feed::plan(Some(&feed), at(900), tick(800), &cfg);
        assert_eq!(plan, Plan::Query { from: at(900), incremental: true });
        let (_, given) = Feed::merge(Some(&feed), at(900), true, log.answer(at(900), at(1300)), tick(800), &cfg);
        assert_eq!(ids(&given), ["late", "new"], "kept from the last answer, and fetched again in the lag window");
        assert_eq!(given.events.iter().filter(|e| e.resource_id == "new").count(), 1, "an event in both is given once");
    }

    #[test]
    fn the_defaults_share_an_answer_for_a_tenth_of_a_resync_period_and_keep_two_periods_and_the_lag() {
        let cfg = FeedConfig::for_steady_age(Duration::from_secs(150), Duration::from_secs(310));
        assert_eq!(cfg.reuse_age, Duration::from_secs(30));
        assert_eq!(cfg.retain, Duration::from_secs(310 + 600 + 30));
        assert_eq!(FeedConfig::for_steady_age(Duration::from_secs(2), Duration::from_secs(10)).reuse_age, Duration::from_secs(5));
    }
}
