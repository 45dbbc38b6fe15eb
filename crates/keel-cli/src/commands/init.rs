//! `keel init [DIR] [--example NAME]`: scaffold a project.

use std::path::Path;

use anyhow::{Context, bail};

use crate::cli::InitArgs;

const EMPTY_PROJECT: &str = r#"# keel project: see `keel --help`
name = "NAME"
lake = "lake"
catalog = "sqlite"
"#;

/// Creates a project in `args.dir` (or `default_dir`).
///
/// # Errors
/// When the directory already holds a project, the example is unknown, or writing fails.
pub fn init(args: &InitArgs, default_dir: &Path) -> anyhow::Result<u8> {
    let dir = args.dir.as_deref().unwrap_or(default_dir);
    if dir.join("keel.toml").exists() {
        bail!(
            "`{}` already holds a keel project (`keel.toml`)",
            dir.display()
        );
    }
    match args.example.as_deref() {
        Some(keel_example::EXAMPLE_NAME) => {
            keel_example::write_project(dir)
                .with_context(|| format!("writing the example into `{}`", dir.display()))?;
            eprintln!(
                "created the `{}` example in `{}`; next: `keel example generate`, `keel example serve-weather` (in another terminal: the \
                 weather source's API) and `keel run`",
                keel_example::EXAMPLE_NAME,
                dir.display()
            );
        }
        Some(other) => bail!(
            "unknown example `{other}`; the examples are: `{}`",
            keel_example::EXAMPLE_NAME
        ),
        None => {
            for sub in ["sources", "models"] {
                fs_err::create_dir_all(dir.join(sub))?;
            }
            let name = dir
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "keel-project".into());
            fs_err::write(dir.join("keel.toml"), EMPTY_PROJECT.replace("NAME", &name))?;
            eprintln!(
                "created an empty project in `{}`; add `sources/*.toml`",
                dir.display()
            );
        }
    }
    Ok(0)
}
