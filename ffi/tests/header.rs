//! include/kaosnet.h is what cbindgen makes of the sources: a change to the API that
//! did not regenerate the checked-in header fails here (CI runs this).
//! Regenerate with `KAOS_BLESS=1 cargo test -p kaos-ffi --test header`.

use std::path::Path;

#[test]
fn the_checked_in_header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings =
        cbindgen::Builder::new().with_crate(dir).with_config(config).generate().expect("cbindgen reads the sources");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);
    let fresh = String::from_utf8(fresh).expect("UTF-8");
    let path = dir.join("include/kaosnet.h");
    if std::env::var_os("KAOS_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write include/kaosnet.h");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "ffi/include/kaosnet.h is stale: run `KAOS_BLESS=1 cargo test -p kaos-ffi --test header` and commit it"
    );
}
