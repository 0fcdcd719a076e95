//! docs/constraints.md is exactly what the catalog generates.
//! Regenerate with `cargo run -- validate --catalog > docs/constraints.md`.

#[test]
fn docs_constraints_md_matches_the_catalog() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/constraints.md");
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    let want = moat::constraints::catalog_markdown();
    assert!(
        have == want,
        "docs/constraints.md is out of date with src/constraints/catalog.rs: run `cargo run -- validate --catalog > docs/constraints.md` and commit the result"
    );
}
