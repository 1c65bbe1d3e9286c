//! A saved Facts snapshot written as a base plus what is special about it: `{"$base": NAME, …}`
//! is the snapshot `NAME` with the rest applied as an RFC 7386 merge patch (objects merge, a value
//! replaces, `null` removes). A snapshot without `failure.classification` is classified from its
//! message, as the collector does. Bases may themselves have bases.
//!
//! On disk (`tests/fixtures/checks/<CODE>/<case>.facts.json`), `$base` names a sibling case
//! (`world-healthy-nat`) or a shared base (`bases/fargate-nat`: `tests/fixtures/bases/fargate-nat.json`,
//! found in a folder above the case).

use std::path::Path;

use serde_json::Value;

use crate::classify::classify;

/// How deep `$base` chains may go (a cycle is a mistake, not a world).
const MAX_DEPTH: usize = 16;

/// The whole snapshot `case` stands for; `load` reads the snapshot a `$base` names.
pub fn resolve(case: Value, load: &dyn Fn(&str) -> Result<Value, String>) -> Result<Value, String> {
    let mut resolved = resolve_bases(case, load, 0)?;
    classify_message(&mut resolved);
    Ok(resolved)
}

fn resolve_bases(
    mut case: Value,
    load: &dyn Fn(&str) -> Result<Value, String>,
    depth: usize,
) -> Result<Value, String> {
    let Some(name) = case.as_object_mut().and_then(|o| o.remove("$base")) else {
        return Ok(case);
    };
    let name = name
        .as_str()
        .ok_or("$base must name a snapshot")?
        .to_string();
    if depth >= MAX_DEPTH {
        return Err(format!(
            "$base {name}: more than {MAX_DEPTH} bases deep (a cycle?)"
        ));
    }
    let mut base = resolve_bases(load(&name)?, load, depth + 1)?;
    json_patch::merge(&mut base, &case);
    Ok(base)
}

/// The whole snapshot in the file at `path`, its bases read beside it (see the module docs).
pub fn load_file(path: &Path) -> Result<Value, String> {
    let case = read_json(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    resolve(case, &|name| read_json(&base_path(dir, name)?))
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

/// A sibling case (`name.facts.json` in `dir`), or `bases/…` in the nearest folder above that has it.
fn base_path(dir: &Path, name: &str) -> Result<std::path::PathBuf, String> {
    if !name.contains('/') {
        return Ok(dir.join(format!("{name}.facts.json")));
    }
    dir.ancestors()
        .map(|a| a.join(format!("{name}.json")))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "$base {name}: no {name}.json in a folder above {}",
                dir.display()
            )
        })
}

/// The classification of a snapshot that gives only the message.
fn classify_message(snapshot: &mut Value) {
    let Some(failure) = snapshot.get_mut("failure").and_then(Value::as_object_mut) else {
        return;
    };
    if failure.contains_key("classification") {
        return;
    }
    let message = failure
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let c = serde_json::to_value(classify(message)).unwrap_or(Value::Null);
    failure.insert("classification".into(), c);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_case_is_its_base_with_its_patch_and_a_classified_message() {
        let base = json!({"task": {"launch_type": "FARGATE", "group": "service:web"}, "failure": {"message": "x"}});
        let load = |name: &str| match name {
            "bases/b" => Ok(base.clone()),
            "loop" => Ok(json!({"$base": "loop"})),
            other => Err(format!("no {other}")),
        };
        let case = json!({"$base": "bases/b", "task": {"group": null, "platform_version": "1.4.0"},
            "failure": {"message": "CannotPullContainerError: dial tcp 1.2.3.4:443: i/o timeout"}});
        let got = resolve(case, &load).unwrap();
        assert_eq!(
            got["task"],
            json!({"launch_type": "FARGATE", "platform_version": "1.4.0"})
        );
        assert_eq!(got["failure"]["classification"]["category"], "network");
        assert!(resolve(json!({"$base": "loop"}), &load)
            .unwrap_err()
            .contains("deep"));
        assert_eq!(
            resolve(json!({"$base": "nope"}), &load).unwrap_err(),
            "no nope"
        );
    }
}
