//! Findings cite their source so a person can follow it: each document's title, date and public
//! page in `DOCUMENTS` are what its file says (derived here from its front matter, its `source:`
//! line, its "current version" link or its media folder), and `moat validate` and
//! `status.findings` show them. `shared/` is found as `tests/constraints_sources.rs` finds it.

use std::path::{Path, PathBuf};

use moat::constraints::{CATALOG, DOCUMENTS, Document, document};

fn shared_dir() -> PathBuf {
    if let Ok(d) = std::env::var("MOAT_SHARED_DIR") {
        return PathBuf::from(d);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    root.ancestors()
        .map(|d| d.join("shared"))
        .find(|c| c.join("seeds").is_dir())
        .unwrap_or_else(|| panic!("no shared/seeds found above {}: set MOAT_SHARED_DIR", root.display()))
}

const LEARN_ML: &str = "https://learn.microsoft.com/azure/machine-learning/";

/// What a file says about itself.
#[derive(Debug, PartialEq)]
struct Derived {
    title: Option<String>,
    date: Option<String>,
    url: Option<String>,
}

fn front_matter(text: &str) -> Option<&str> {
    // After an optional `<!-- source: ... -->` line, a `---` block.
    let body = text.trim_start();
    let body = match body.strip_prefix("<!--") {
        Some(rest) => rest.split_once("-->")?.1.trim_start(),
        None => body,
    };
    let rest = body.strip_prefix("---\n")?;
    rest.split_once("\n---").map(|(fm, _)| fm)
}

fn field<'a>(fm: &'a str, key: &str) -> Option<&'a str> {
    fm.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().trim_matches('"').trim())
}

/// The article's file name without `.md`: from `<!-- source: MicrosoftDocs/... articles/machine-learning/X.md`,
/// the op_single_selector link marked "(current version)", or the article's media folder.
fn page_of(text: &str) -> Option<String> {
    let source = regex::Regex::new(r"<!-- source: MicrosoftDocs/\S+ articles/machine-learning/([\w-]+)\.md").expect("regex");
    if let Some(c) = source.captures(text) {
        return Some(c[1].to_string());
    }
    let current = regex::Regex::new(r"\(current version\)\]\(([\w-]+)\.md\)").expect("regex");
    if let Some(c) = current.captures(text) {
        return Some(c[1].to_string());
    }
    let media = regex::Regex::new(r"\./media/([\w-]+)/").expect("regex");
    let pages: std::collections::BTreeSet<&str> = media.captures_iter(text).filter_map(|c| c.get(1)).map(|m| m.as_str()).collect();
    match pages.len() {
        1 => pages.into_iter().next().map(str::to_string),
        _ => None,
    }
}

/// Title, `ms.date` (ISO) and learn.microsoft.com page of a saved Microsoft document.
fn derive(text: &str) -> Derived {
    let fm = front_matter(text);
    let self_help = regex::Regex::new(r#"(?i)pagetitle="([^"]+)""#).expect("regex");
    let title = fm
        .and_then(|f| field(f, "title:"))
        .map(str::to_string)
        .or_else(|| self_help.captures(text).map(|c| c[1].to_string()))
        .or_else(|| text.lines().find_map(|l| l.strip_prefix("# ")).map(|t| t.trim().to_string()));
    let date = fm.and_then(|f| field(f, "ms.date:")).map(|d| {
        let p: Vec<&str> = d.split('/').collect();
        format!("{}-{}-{}", p[2], p[0], p[1])
    });
    // Self-help articles live in the Azure portal only.
    let url = if text.contains("selfhelptype=") || text.contains("selfHelpType=") { None } else { page_of(text).map(|p| format!("{LEARN_ML}{p}")) };
    Derived { title, date, url }
}

fn listed(d: &Document) -> Derived {
    Derived { title: Some(d.title.to_string()), date: d.date.map(str::to_string), url: d.url.map(str::to_string) }
}

#[test]
fn every_saved_document_has_the_title_date_and_page_its_file_gives() {
    let mut checked = 0;
    for d in DOCUMENTS.iter().filter(|d| d.dir == "shared/seeds" || d.dir == "shared/sources") {
        let sub = d.dir.trim_start_matches("shared/");
        let path = shared_dir().join(sub).join(d.name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(derive(&text), listed(d), "{}: DOCUMENTS disagrees with the file", d.name);
        checked += 1;
    }
    assert_eq!(checked, 7, "five seeds and two sources");
}

#[test]
fn every_saved_source_file_is_listed() {
    let mut present: Vec<String> = std::fs::read_dir(shared_dir().join("sources"))
        .expect("shared/sources")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect();
    present.sort();
    let mut listed: Vec<&str> = DOCUMENTS.iter().filter(|d| d.dir == "shared/sources").map(|d| d.name).collect();
    listed.sort();
    assert_eq!(listed, present);
}

#[test]
fn the_derivation_reads_each_kind_of_file() {
    let with_source = "<!-- source: MicrosoftDocs/azure-ai-docs articles/machine-learning/how-to-x.md @abc -->\n---\ntitle: X things\nms.date: 04/08/2024\n---\n# Other\n";
    assert_eq!(derive(with_source), Derived { title: Some("X things".into()), date: Some("2024-04-08".into()), url: Some(format!("{LEARN_ML}how-to-x")) });
    let excerpt = "\n# Secure it\n> * [v1](v1/how-to-y.md)\n> * [v2 (current version)](how-to-y.md)\n";
    assert_eq!(derive(excerpt), Derived { title: Some("Secure it".into()), date: None, url: Some(format!("{LEARN_ML}how-to-y")) });
    let old = "---\ntitle: Old\nms.date: 05/11/2020\n---\n![a](./media/how-to-z/a.png) ![b](./media/how-to-z/b.png)\n";
    assert_eq!(derive(old).url, Some(format!("{LEARN_ML}how-to-z")));
    let portal = "<properties\n  pagetitle=\"Portal page\"\n  selfhelptype=\"Generic\" />\n# Portal page\n";
    assert_eq!(derive(portal), Derived { title: Some("Portal page".into()), date: None, url: None });
}

#[test]
fn every_rule_cites_a_listed_document_and_pages_are_learn_addresses() {
    for r in CATALOG {
        assert!(document(r.source.seed).is_some(), "{} cites {}, which DOCUMENTS does not list", r.id, r.source.seed);
    }
    for d in DOCUMENTS {
        if let Some(u) = d.url {
            assert!(u.starts_with(LEARN_ML) && !u.ends_with(".md"), "{u}");
        } else {
            assert!(!d.note.is_empty(), "{} has no page and no note saying where it is", d.name);
        }
    }
}

/// What a person sees: `moat validate`'s table and JSON, and the status form of a finding.
#[test]
fn validate_and_status_show_title_and_page_instead_of_a_file_name() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/constraints/bad-subnet.yaml")).expect("fixture");
    let report = moat::cli::validate::validate_str("bad-subnet.yaml", &text);
    let f = report.findings.iter().find(|f| f.finding.rule_id == "NET-008").expect("NET-008");
    let doc = document(f.finding.source.seed).expect("listed");
    let url = doc.url.expect("NET-008's document has a page");

    let table = report.render_table();
    let line = table.lines().find(|l| l.trim_start().starts_with("source:")).expect("a source line");
    assert!(line.contains(doc.title) && line.contains(url), "{line}");
    assert!(!line.contains(".txt"), "no repository file name: {line}");

    let json: serde_json::Value = serde_json::from_str(&report.render_json()).expect("json");
    let sd = &json["findings"][0]["sourceDocument"];
    assert_eq!(sd["url"], url);
    assert_eq!(sd["title"], doc.title);

    let status = f.finding.to_status();
    let source = status.source.expect("status.findings[].source");
    assert_eq!((source.title.as_str(), source.url.as_deref()), (doc.title, Some(url)));
    let v = serde_json::to_value(f.finding.to_status()).expect("status json");
    assert_eq!(v["source"]["url"], url, "{v}");
}
