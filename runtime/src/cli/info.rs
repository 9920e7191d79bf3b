//! features and spec.

use std::path::PathBuf;

use berth_runtime::Error;

use super::args::{unknown, Args, Item};

pub fn features(a: &mut Args) -> Result<i32, Error> {
    if let Some(it) = a.next()? {
        return Err(match it {
            Item::Flag(f) => unknown("features", &f),
            Item::Positional(p) => Error::Usage(format!("features: unexpected argument {p:?}")),
        });
    }
    println!("{}", serde_json::to_string_pretty(&berth_runtime::features::features()).expect("serialises"));
    Ok(0)
}

pub fn spec(a: &mut Args) -> Result<i32, Error> {
    let mut bundle = PathBuf::from(".");
    let mut rootless = false;
    while let Some(it) = a.next()? {
        match it {
            Item::Flag(f) if f == "bundle" || f == "b" => bundle = PathBuf::from(a.value(&f)?),
            Item::Flag(f) if f == "rootless" => rootless = true,
            Item::Flag(f) => return Err(unknown("spec", &f)),
            Item::Positional(p) => return Err(Error::Usage(format!("spec: unexpected argument {p:?}"))),
        }
    }
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(Error::Usage(format!("{} exists: remove it first", path.display())));
    }
    let text = serde_json::to_string_pretty(&berth_runtime::template::default_spec(rootless)).expect("serialises");
    std::fs::write(&path, text + "\n").map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    Ok(0)
}
