//! Every rule of the catalog cites its document verbatim: each quote is checked, whitespace-
//! normalised, against the document it names (seeds and facts under `shared/`, CRDs under
//! `crds/`). `shared/` is found beside the repository or above it; set MOAT_SHARED_DIR to point
//! elsewhere.

use moat::constraints::{CATALOG, Citation, DOCUMENTS, SUPERSEDED, UNCHECKED, normalize_whitespace};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

fn shared_dir() -> PathBuf {
    if let Ok(d) = std::env::var("MOAT_SHARED_DIR") {
        return PathBuf::from(d);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in root.ancestors() {
        let cand = dir.join("shared");
        if cand.join("seeds").is_dir() {
            return cand;
        }
    }
    panic!("no shared/seeds found above {}: set MOAT_SHARED_DIR to the folder that holds seeds/ and docs/", root.display());
}

fn load(doc: &str) -> String {
    let d = DOCUMENTS.iter().find(|d| d.name == doc).unwrap_or_else(|| panic!("{doc} is cited but not listed in DOCUMENTS"));
    let path = match d.dir {
        "crds" => Path::new(env!("CARGO_MANIFEST_DIR")).join("crds").join(doc),
        "shared/seeds" => shared_dir().join("seeds").join(doc),
        "shared/sources" => shared_dir().join("sources").join(doc),
        "shared/docs" => shared_dir().join("docs").join(doc),
        other => panic!("unknown document folder {other}"),
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    normalize_whitespace(&text)
}

#[test]
fn every_quote_appears_verbatim_in_its_document() {
    let mut cache: HashMap<&str, String> = HashMap::new();
    let mut citations: Vec<(String, Citation)> = Vec::new();
    for r in CATALOG {
        citations.push((r.id.to_string(), Citation { doc: r.source.seed, quote: r.source.quote }));
        for a in r.source.also {
            citations.push((r.id.to_string(), *a));
        }
    }
    for s in SUPERSEDED {
        citations.push(("superseded".into(), s.old));
        citations.push(("superseded".into(), s.new));
    }
    for u in UNCHECKED {
        citations.push(("unchecked".into(), u.cite));
    }
    let mut missing = Vec::new();
    for (id, c) in &citations {
        let text = cache.entry(c.doc).or_insert_with(|| load(c.doc));
        if !text.contains(&normalize_whitespace(c.quote)) {
            missing.push(format!("{id}: {:?} not found in {}", c.quote, c.doc));
        }
    }
    assert!(missing.is_empty(), "quotes that are not in their documents:\n{}", missing.join("\n"));
}

#[test]
fn the_seed_dates_in_documents_match_their_front_matter() {
    for d in DOCUMENTS.iter().filter(|d| d.dir == "shared/seeds") {
        let raw = std::fs::read_to_string(shared_dir().join("seeds").join(d.name)).unwrap();
        let date = raw.lines().find_map(|l| l.strip_prefix("ms.date:")).map(str::trim).map(|s| {
            let p: Vec<&str> = s.split('/').collect();
            format!("{}-{}-{}", p[2], p[0], p[1])
        });
        assert_eq!(date.as_deref(), d.date, "{}", d.name);
    }
}

#[test]
fn rule_ids_are_unique_and_well_formed_and_every_seed_is_cited() {
    let mut ids = HashSet::new();
    let re = regex::Regex::new(r"^[A-Z]+-\d{3}$").unwrap();
    for r in CATALOG {
        assert!(re.is_match(r.id), "{}", r.id);
        assert!(ids.insert(r.id), "duplicate id {}", r.id);
        assert!(!r.title.is_empty() && !r.source.quote.is_empty(), "{}", r.id);
    }
    let cited: HashSet<&str> = CATALOG.iter().flat_map(|r| std::iter::once(r.source.seed).chain(r.source.also.iter().map(|a| a.doc))).collect();
    for d in DOCUMENTS.iter().filter(|d| d.dir == "shared/seeds" && d.name != "003_804c6cd8741332cb.txt") {
        assert!(cited.contains(d.name), "seed {} is never cited", d.name);
    }
}

#[test]
fn every_seed_file_is_listed() {
    let mut listed: Vec<&str> = DOCUMENTS.iter().filter(|d| d.dir == "shared/seeds").map(|d| d.name).collect();
    listed.sort();
    let mut present: Vec<String> = std::fs::read_dir(shared_dir().join("seeds"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    present.sort();
    assert_eq!(listed, present);
}
