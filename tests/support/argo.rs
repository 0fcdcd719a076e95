//! Runs moat's Argo CD health check (`charts/moat/argocd/health.lua`) the way Argo CD does: the
//! object as a Lua table in the global `obj`, the script's return value `{status, message}`.
//!
//! Lua 5.1 semantics (vendored), as Argo CD's gopher-lua. JSON nulls are dropped before the
//! conversion, as they are absent from the unstructured objects Argo CD hands its scripts.

use mlua::{Lua, LuaSerdeExt, Table};
use serde_json::Value;

/// Where the script lives in the repository.
pub const HEALTH_LUA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/moat/argocd/health.lua");
/// The `argocd-cm` patch that installs the script for the three kinds.
pub const ARGOCD_CM_PATCH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/moat/argocd/argocd-cm-patch.yaml");
/// The kinds the script is installed for.
pub const KINDS: [&str; 3] = ["SecureWorkspace", "PrivateEndpointBinding", "ComputeSubnet"];

/// The health script's text.
pub fn health_script() -> String {
    std::fs::read_to_string(HEALTH_LUA).unwrap_or_else(|e| panic!("{HEALTH_LUA}: {e}"))
}

fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().filter(|(_, x)| !x.is_null()).map(|(k, x)| (k.clone(), without_nulls(x))).collect()),
        Value::Array(a) => Value::Array(a.iter().filter(|x| !x.is_null()).map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Runs `script` on `obj`; the health status and message it returns.
pub fn run_health(script: &str, obj: &Value) -> Result<(String, String), String> {
    let lua = Lua::new();
    let table = lua.to_value(&without_nulls(obj)).map_err(|e| format!("object to Lua: {e}"))?;
    lua.globals().set("obj", table).map_err(|e| e.to_string())?;
    let hs: Table = lua.load(script).set_name("health.lua").eval().map_err(|e| format!("health.lua: {e}"))?;
    let status: Option<String> = hs.get("status").map_err(|e| e.to_string())?;
    let message: Option<String> = hs.get("message").map_err(|e| e.to_string())?;
    Ok((status.ok_or("health.lua returned no status")?, message.unwrap_or_default()))
}

/// Argo CD's verdict on a moat object (a SecureWorkspace, PrivateEndpointBinding or
/// ComputeSubnet as JSON, e.g. `serde_json::to_value(&obj)`): `(status, message)` with status
/// one of `Healthy`, `Progressing`, `Degraded`, `Suspended`. Panics when the script fails, which
/// Argo CD would show as a health-check error.
pub fn argo_health(obj: &Value) -> (String, String) {
    run_health(&health_script(), obj).unwrap_or_else(|e| panic!("{e}\nobject: {obj}"))
}

/// The `argocd-cm` patch for `script`: one `resource.customizations.health.<group>_<kind>` key
/// per kind (what `charts/moat/argocd/argocd-cm-patch.yaml` must hold).
pub fn argocd_cm_patch(script: &str) -> String {
    let mut out = String::from(
        "# Generated from charts/moat/argocd/health.lua by tests/argocd_health.rs; do not edit.\n\
         # Adds moat's health check to Argo CD, for the three moat.dev kinds:\n\
         #   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file charts/moat/argocd/argocd-cm-patch.yaml\n\
         # (or merge these keys into the argocd-cm of your Argo CD installation's values).\n\
         data:\n",
    );
    for kind in KINDS {
        out.push_str(&format!("  resource.customizations.health.moat.dev_{kind}: |\n"));
        for line in script.lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                out.push_str("    ");
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}
