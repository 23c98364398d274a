//! The layering the crate promises: the socket transports (`realtime`) sit above the
//! services, which reach presence and delivery (`presence`) and the handler contract
//! (`socket`) below them, so no service imports the socket code and no import circle
//! runs through it: `presence` and `socket` know nothing of the services or of
//! `KaosNet`, and `KaosNet` holds nothing of the socket code.

use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_crate_root_reaches_up_into_the_socket_code() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut offenders = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        // The socket code itself, and the root that owns it.
        if relative.starts_with("realtime/") || relative == "lib.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        if text.contains("crate::realtime") || text.contains("super::realtime") {
            offenders.push(relative);
        }
    }
    assert!(offenders.is_empty(), "these reach into the socket code from below it: {offenders:?}");
    assert!(src.join("presence/router.rs").exists() && src.join("socket.rs").exists());
}

/// The crate's own modules a source file names (`crate::<module>`), without doc lines.
fn named_modules(text: &str) -> Vec<String> {
    let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let mut found = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if !found.contains(&name) {
            found.push(name);
        }
    }
    found
}

#[test]
fn presence_and_the_socket_contract_sit_below_the_services() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src.join("presence"), &mut files);
    files.push(src.join("socket.rs"));
    // What these may use: each other, the wire formats and the error type.
    let below = ["presence", "socket", "protobuf", "protojson", "ApiError", "Code", "error"];
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let above: Vec<String> = named_modules(&text).into_iter().filter(|m| !below.contains(&m.as_str())).collect();
        assert!(above.is_empty(), "{} reaches up to {above:?}", file.display());
    }
    // And the services' root holds no socket code: `realtime` is only declared there.
    let root = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let code: Vec<&str> = root.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
    let uses: Vec<&&str> = code.iter().filter(|l| l.contains("realtime")).collect();
    assert_eq!(uses, [&"pub mod realtime;"], "KaosNet holds socket code");
}

#[test]
fn services_reach_data_through_what_they_own_not_through_accounts() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(src.join("accounts")) && !f.starts_with(src.join("store")))
        .filter(|f| std::fs::read_to_string(f).unwrap().contains("accounts.store()"))
        .map(|f| f.strip_prefix(&src).unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(offenders.is_empty(), "these reach the store through accounts: {offenders:?}");
}
