//! The committed CRDs under `crds/` are exactly what the Rust types generate.
//! Regenerate with `cargo run -- crds --out-dir crds`.

use std::path::Path;

#[test]
fn committed_crds_match_the_rust_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut stale = Vec::new();
    for crd in moat::api::crds() {
        let file = moat::cli::crds::file_name(&crd);
        let want = moat::cli::crds::render(&crd).expect("CRD renders as YAML");
        let have = std::fs::read_to_string(dir.join(&file)).unwrap_or_default();
        if have != want {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "crds/ is out of date for {stale:?}: run `cargo run -- crds --out-dir crds` and commit the result"
    );
}

#[test]
fn every_crd_is_in_group_moat_dev_with_category_and_status_and_only_the_policy_is_cluster_scoped() {
    for crd in moat::api::crds() {
        assert_eq!(crd.spec.group, "moat.dev");
        // The platform team's AzureScopePolicy binds namespaces, so it lives outside them.
        let scope = if crd.spec.names.kind == "AzureScopePolicy" { "Cluster" } else { "Namespaced" };
        assert_eq!(crd.spec.scope, scope, "{}", crd.spec.names.kind);
        assert_eq!(crd.spec.names.categories.as_deref(), Some(&["moat".to_string()][..]));
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        assert!(v.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some(), "{} has a status subresource", crd.spec.names.kind);
    }
}
