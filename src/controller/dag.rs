//! Runs independent steps in parallel and dependent steps in order: each node starts as soon as
//! every node it depends on succeeded; a node whose dependency failed does not run.

use std::collections::{HashMap, HashSet};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};

/// How a node ended.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeEnd {
    Done,
    /// Did not finish (waiting on Azure, refused, failed); the message says why.
    NotDone(String),
    /// Not run because a dependency did not finish.
    Blocked(String),
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
            if let Some(bad) = n.deps.iter().find(|d| matches!(ended.get(*d), Some(e) if *e != NodeEnd::Done)) {
                let bad = bad.clone();
                let n = pending.swap_remove(i);
                ended.insert(n.key, NodeEnd::Blocked(format!("waiting for {bad}")));
                continue;
            }
            if n.deps.iter().all(|d| ended.get(d) == Some(&NodeEnd::Done)) {
                let n = pending.swap_remove(i);
                let key = n.key;
                let fut = (n.run)();
                running.push(async move { (key, fut.await) });
                continue;
            }
            i += 1;
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

/// Longest path through the graph, weighting each node by `cost`: the critical path.
pub fn critical_path(nodes: &[(String, Vec<String>)], cost: impl Fn(&str) -> f64) -> f64 {
    fn longest(
        k: &str,
        deps: &HashMap<String, Vec<String>>,
        cost: &dyn Fn(&str) -> f64,
        memo: &mut HashMap<String, f64>,
    ) -> f64 {
        if let Some(v) = memo.get(k) {
            return *v;
        }
        memo.insert(k.to_string(), 0.0);
        let before = deps.get(k).map(|ds| ds.iter().map(|d| longest(d, deps, cost, memo)).fold(0.0, f64::max)).unwrap_or(0.0);
        let v = before + cost(k);
        memo.insert(k.to_string(), v);
        v
    }
    let deps: HashMap<String, Vec<String>> = nodes
        .iter()
        .map(|(k, d)| (k.to_ascii_lowercase(), d.iter().map(|x| x.to_ascii_lowercase()).collect()))
        .collect();
    let mut memo = HashMap::new();
    deps.keys().map(|k| longest(k, &deps, &cost, &mut memo)).fold(0.0, f64::max)
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
        assert_eq!(critical_path(&g, |k| if k == "st" { 5.0 } else { 1.0 }), 7.0);
    }
}
