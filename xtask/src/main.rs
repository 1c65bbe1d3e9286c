//! `cargo xtask docs`: writes the code table of `docs/root-causes.md` from the rules (each rule is
//! declared once, in its check file; the table is derived). `cargo xtask docs --check` fails when
//! the file is not current (the core's unit tests check the same).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["docs"] => report(write_docs(false)),
        ["docs", "--check"] => report(write_docs(true)),
        _ => {
            eprintln!("usage: cargo xtask docs [--check]");
            ExitCode::from(2)
        }
    }
}

fn report(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(said) => {
            println!("{said}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// docs/root-causes.md with its table (from `| code | check |` to the `UNKNOWN` row) replaced.
fn write_docs(check: bool) -> Result<String, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/root-causes.md");
    let doc = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let start = doc
        .find("| code | check |")
        .ok_or("docs/root-causes.md has no code table")?;
    let unknown = doc[start..]
        .find("| `UNKNOWN` |")
        .ok_or("the code table has no UNKNOWN row")?;
    let end = doc[start + unknown..]
        .find('\n')
        .map_or(doc.len(), |i| start + unknown + i + 1);
    let table = pulldoctor_core::checks::catalog::list_markdown();
    let updated = format!("{}{table}{}", &doc[..start], &doc[end..]);
    if updated == doc {
        return Ok("docs/root-causes.md is current".into());
    }
    if check {
        return Err("docs/root-causes.md is not current: run `cargo xtask docs`".into());
    }
    std::fs::write(&path, updated).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok("docs/root-causes.md written".into())
}
