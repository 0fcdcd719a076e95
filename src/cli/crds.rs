//! `moat crds`: print the CRDs generated from the Rust types, or write them to a folder.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct CrdsArgs {
    /// Write one file per CRD into this folder (`<plural>.<group>.yaml`) instead of printing.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

/// File name of a CRD under `crds/`.
pub fn file_name(crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// Renders one CRD as YAML.
pub fn render(
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> Result<String, serde_saphyr::ser::Error> {
    serde_saphyr::to_string(crd)
}

pub fn run(args: &CrdsArgs) -> ExitCode {
    match &args.out_dir {
        None => match crate::api::crds_yaml() {
            Ok(y) => super::output::print_then(&y, ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("error: cannot render CRDs as YAML: {e}");
                ExitCode::FAILURE
            }
        },
        Some(dir) => {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("error: cannot create {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
            for crd in crate::api::crds() {
                let path = dir.join(file_name(&crd));
                let yaml = match render(&crd) {
                    Ok(y) => y,
                    Err(e) => {
                        eprintln!("error: cannot render {}: {e}", file_name(&crd));
                        return ExitCode::FAILURE;
                    }
                };
                if let Err(e) = std::fs::write(&path, yaml) {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
                eprintln!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
    }
}
