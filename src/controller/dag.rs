//! Runs independent steps in parallel and dependent steps in order: each node starts as soon as
//! every node it depends on succeeded; a node whose dependency failed does not run.

use std::collections::{HashMap, HashSet};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};

/// How a node ended.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeEnd {
    Done,
    /// Did not finish yet (an operation still running, another object or resource to wait for,
    /// a name taken); the message says why.
    NotDone(String),
    /// Azure refused the write or its operation failed; the message carries Azure's code and
    /// message (the same text for the same failure). The object backs off before trying again.
    Failed(String),
    /// Not run because a dependency did not finish.
    Blocked(String),
}

impl NodeEnd {
    /// Why the node did not finish (None when it did).
    pub fn problem(&self) -> Option<&str> {
        match self {
            NodeEnd::Done => None,
            NodeEnd::NotDone(m) | NodeEnd::Failed(m) | NodeEnd::Blocked(m) => Some(m),
        }
    }

    pub fn is_failed(&self) -> bool {
        matches!(self, NodeEnd::Failed(_))
    }
}

pub struct Node<'a> {
    pub key: String,
    pub deps: Vec<String>,
    pub run: Box<dyn FnOnce() -> BoxFuture<'a, NodeEnd> + Send + 'a>,
}

/// Runs the graph; dependencies on keys that are not nodes count as satisfied.
pub async fn run<'a>(nodes: Vec<Node<'a>>) -> HashMap<String, NodeEnd> {
    let keys: HashSet<String> = nodes.iter().map(|n| n.key.to_ascii_lowercase()).collect();
    let mut pending: Vec<Node<'a>> = nodes
        .into_iter()
        .map(|mut n| {
            n.key = n.key.to_ascii_lowercase();
            n.deps = n.deps.iter().map(|d| d.to_ascii_lowercase()).filter(|d| keys.contains(d)).collect();
            n
        })
        .collect();
    let mut ended: HashMap<String, NodeEnd> = HashMap::new();
    let mut running = FuturesUnordered::new();
    loop {
        // Start what is ready; block what can no longer run.
        let mut i = 0;
        while i < pending.len() {
            let n = &pending[i];
            // Decided once every dependency has ended, so that what a blocked node names does
            // not depend on which failure came first (status text stays the same from one pass
            // to the next).
            if !n.deps.iter().all(|d| ended.contains_key(d)) {
                i += 1;
                continue;
            }
            let mut bad: Vec<&String> = n.deps.iter().filter(|d| ended.get(*d) != Some(&NodeEnd::Done)).collect();
            if !bad.is_empty() {
                bad.sort();
                bad.dedup();
                let why = format!("waiting for {}", bad.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "));
                let n = pending.swap_remove(i);
                ended.insert(n.key, NodeEnd::Blocked(why));
                continue;
            }
            let n = pending.swap_remove(i);
            let key = n.key;
            let fut = (n.run)();
            running.push(async move { (key, fut.await) });
        }
        match running.next().await {
            Some((key, end)) => {
                ended.insert(key, end);
            }
            None => break,
        }
    }
    for n in pending {
        ended.insert(n.key, NodeEnd::Blocked("dependency cycle".into()));
    }
    ended
}

/// The longest chain through a dependency graph: its length and its nodes, first to last.
#[derive(Debug, Clone, PartialEq)]
pub struct CriticalPath {
    pub length: f64,
    pub chain: Vec<String>,
}

/// Longest path through the graph (`(key, deps)` pairs), weighting each node by `cost`: the
/// least time any schedule needs. Dependencies on keys that are not nodes cost nothing; keys
/// compare case-insensitively (they are ARM ids); a cycle is cut where it closes.
pub fn critical_path(nodes: &[(String, Vec<String>)], cost: impl Fn(&str) -> f64) -> CriticalPath {
    // (length ending at the node, the dependency it came through)
    type Memo = HashMap<String, (f64, Option<String>)>;
    fn longest(k: &str, deps: &HashMap<String, Vec<String>>, cost: &dyn Fn(&str) -> f64, memo: &mut Memo) -> f64 {
        if let Some((v, _)) = memo.get(k) {
            return *v;
        }
        memo.insert(k.to_string(), (0.0, None));
        let mut best: (f64, Option<String>) = (0.0, None);
        for d in deps.get(k).into_iter().flatten() {
            let v = longest(d, deps, cost, memo);
            if best.1.is_none() || v > best.0 {
                best = (v, Some(d.clone()));
            }
        }
        let v = best.0 + cost(k);
        memo.insert(k.to_string(), (v, best.1));
        v
    }
    let deps: HashMap<String, Vec<String>> = nodes
        .iter()
        .map(|(k, d)| (k.to_ascii_lowercase(), d.iter().map(|x| x.to_ascii_lowercase()).collect()))
        .collect();
    let mut memo = Memo::new();
    let mut keys: Vec<&String> = deps.keys().collect();
    keys.sort();
    let mut end: Option<(f64, String)> = None;
    for k in keys {
        let v = longest(k, &deps, &cost, &mut memo);
        if end.as_ref().is_none_or(|(best, _)| v > *best) {
            end = Some((v, k.clone()));
        }
    }
    let Some((length, last)) = end else {
        return CriticalPath { length: 0.0, chain: vec![] };
    };
    let mut chain = vec![last];
    while let Some((_, Some(prev))) = chain.last().and_then(|k| memo.get(k)) {
        if chain.contains(prev) {
            break;
        }
        chain.push(prev.clone());
    }
    chain.reverse();
    CriticalPath { length, chain }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn node<'a>(key: &str, deps: &[&str], end: NodeEnd, log: Arc<Mutex<Vec<String>>>) -> Node<'a> {
        let k = key.to_string();
        Node {
            key: key.into(),
            deps: deps.iter().map(|d| d.to_string()).collect(),
            run: Box::new(move || {
                Box::pin(async move {
                    log.lock().map(|mut l| l.push(k)).ok();
                    end
                })
            }),
        }
    }

    #[tokio::test]
    async fn dependents_run_after_and_failures_block() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let ends = run(vec![
            node("c", &["a", "b"], NodeEnd::Done, log.clone()),
            node("a", &[], NodeEnd::Done, log.clone()),
            node("b", &["A"], NodeEnd::NotDone("boom".into()), log.clone()),
            node("d", &["c"], NodeEnd::Done, log.clone()),
            node("e", &["missing-is-ok"], NodeEnd::Done, log.clone()),
        ])
        .await;
        assert_eq!(ends["a"], NodeEnd::Done);
        assert_eq!(ends["b"], NodeEnd::NotDone("boom".into()));
        assert_eq!(ends["c"], NodeEnd::Blocked("waiting for b".into()));
        assert!(matches!(ends["d"], NodeEnd::Blocked(_)));
        assert_eq!(ends["e"], NodeEnd::Done);
        let order = log.lock().map(|l| l.clone()).unwrap_or_default();
        assert!(order.iter().position(|k| k == "a") < order.iter().position(|k| k == "b"));
        assert!(!order.contains(&"c".to_string()));
    }

    #[test]
    fn critical_path_is_the_longest_chain() {
        let g = vec![
            ("vnet".to_string(), vec![]),
            ("subnet".to_string(), vec!["vnet".to_string()]),
            ("st".to_string(), vec![]),
            ("ws".to_string(), vec!["st".to_string()]),
            ("pe".to_string(), vec!["subnet".to_string(), "ws".to_string()]),
        ];
        let cp = critical_path(&g, |k| if k == "st" { 5.0 } else { 1.0 });
        assert_eq!(cp.length, 7.0);
        assert_eq!(cp.chain, ["st", "ws", "pe"]);
        let cp = critical_path(&g, |k| if k == "vnet" { 5.0 } else { 1.0 });
        assert_eq!(cp.length, 7.0);
        assert_eq!(cp.chain, ["vnet", "subnet", "pe"]);
        assert_eq!(critical_path(&[], |_| 1.0), CriticalPath { length: 0.0, chain: vec![] });
    }
}
