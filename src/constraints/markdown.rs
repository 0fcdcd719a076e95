//! `docs/constraints.md`, generated from the catalog.

use super::catalog::{CATALOG, DOCUMENTS, SUPERSEDED};
use super::Citation;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn cite(c: &Citation) -> String {
    format!("`{}`: “{}”", c.doc, cell(c.quote))
}

/// The catalog as Markdown: one table row per rule (id, severity, what an Error blocks, the rule,
/// its source), the documents and their dates, and the older statements a newer document replaced.
pub fn catalog_markdown() -> String {
    let mut md = String::new();
    md.push_str("# Constraint catalog\n\n");
    md.push_str("<!-- Generated from src/constraints/catalog.rs; do not edit. Regenerate with\n     `cargo run -- validate --catalog > docs/constraints.md` (tests/constraints_doc.rs checks it). -->\n\n");
    md.push_str("Every rule `moat validate` and the controllers check. **Error** blocks the Azure writes named in\n");
    md.push_str("*Blocks* until fixed; **Warning** and **Info** do not block. Each rule cites the sentence it comes from,\n");
    md.push_str("verbatim; where documents disagree the newest one decides and the note says so.\n\n");
    md.push_str("| Id | Severity | Blocks | Rule | Source |\n|---|---|---|---|---|\n");
    for r in CATALOG {
        let mut src = cite(&Citation { doc: r.source.seed, quote: r.source.quote });
        for a in r.source.also {
            src.push_str("<br>also ");
            src.push_str(&cite(a));
        }
        if let Some(n) = r.source.note {
            src.push_str("<br>*Note:* ");
            src.push_str(&cell(n));
        }
        md.push_str(&format!("| {} | {} | {} | {} | {} |\n", r.id, r.severity, r.blocks, cell(r.title), src));
    }
    md.push_str("\n## Documents\n\n| File | Where | Date | Title |\n|---|---|---|---|\n");
    for d in DOCUMENTS {
        md.push_str(&format!("| `{}` | `{}` | {} | {} |\n", d.name, d.dir, d.date.unwrap_or("undated"), cell(d.title)));
    }
    md.push_str("\n## Superseded statements\n\nOlder statements that a newer document replaced; the catalog does not enforce them.\n\n");
    md.push_str("| Older | Newer | Decision |\n|---|---|---|\n");
    for s in SUPERSEDED {
        md.push_str(&format!("| {} | {} | {} |\n", cite(&s.old), cite(&s.new), cell(s.decision)));
    }
    md
}
