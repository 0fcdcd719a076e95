//! The CRD copies shipped by the Helm chart (`charts/moat/files/crds/`, rendered by
//! `templates/crds.yaml` so that `helm upgrade` updates them) and kustomize (`config/crd/bases/`)
//! are exactly what the Rust types generate, i.e. what `crds/` holds. They are generated, never
//! hand-edited: regenerate with
//!
//! ```text
//! cargo run -- crds --out-dir crds
//! cargo run -- crds --out-dir charts/moat/files/crds
//! cargo run -- crds --out-dir config/crd/bases
//! ```

use std::collections::BTreeSet;
use std::path::Path;

const COPIES: [&str; 2] = ["charts/moat/files/crds", "config/crd/bases"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn yaml_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect()
}

#[test]
fn crd_copies_match_crds_dir_and_the_rust_types() {
    let expected: BTreeSet<String> = moat::api::crds().iter().map(moat::cli::crds::file_name).collect();
    let mut problems = Vec::new();
    for copy in COPIES {
        let dir = root().join(copy);
        let files = yaml_files(&dir);
        for extra in files.difference(&expected) {
            problems.push(format!("{copy}/{extra} is not a generated CRD (remove it)"));
        }
        for crd in moat::api::crds() {
            let file = moat::cli::crds::file_name(&crd);
            let want = moat::cli::crds::render(&crd).expect("CRD renders as YAML");
            let have = std::fs::read_to_string(dir.join(&file)).unwrap_or_default();
            if have != want {
                problems.push(format!("{copy}/{file} is missing or out of date"));
            }
            let canonical = std::fs::read_to_string(root().join("crds").join(&file)).unwrap_or_default();
            if have != canonical {
                problems.push(format!("{copy}/{file} differs from crds/{file}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "generated CRD copies drifted:\n  {}\nregenerate with:\n  cargo run -- crds --out-dir crds\n  \
         cargo run -- crds --out-dir charts/moat/files/crds\n  cargo run -- crds --out-dir config/crd/bases\nand commit the result",
        problems.join("\n  ")
    );
}

#[test]
fn kustomization_lists_every_generated_crd() {
    let kustomization = std::fs::read_to_string(root().join("config/crd/kustomization.yaml")).expect("read");
    for crd in moat::api::crds() {
        let entry = format!("- bases/{}", moat::cli::crds::file_name(&crd));
        assert!(kustomization.contains(&entry), "config/crd/kustomization.yaml lacks `{entry}`");
    }
}

/// Helm installs a chart's `crds/` once and never upgrades it: the chart must not have one (its
/// CRDs are templates), or `helm upgrade` would silently keep old CRDs again.
#[test]
fn chart_has_no_crds_dir_that_helm_would_never_upgrade() {
    assert!(!root().join("charts/moat/crds").exists(), "charts/moat/crds/ is back: move the CRDs to charts/moat/files/crds/");
    let template = std::fs::read_to_string(root().join("charts/moat/templates/crds.yaml")).expect("read templates/crds.yaml");
    assert!(template.contains(".Files.Glob \"files/crds/*.yaml\""), "templates/crds.yaml renders files/crds/");
}
