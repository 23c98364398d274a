//! The layering the crate promises: the socket transports (`realtime`) sit above the
//! services, which reach presence and delivery (`presence`) and the handler contract
//! (`socket`) below them, so no service imports the socket code and no import circle
//! runs through it.

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
