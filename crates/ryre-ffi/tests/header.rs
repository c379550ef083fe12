//! The committed header `include/ryre.h` is what cbindgen makes of the source today.
//! `RYRE_BLESS_HEADER=1 cargo test -p ryre-ffi --test header` rewrites it.

use std::path::PathBuf;

#[test]
fn the_committed_header_is_current() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut fresh = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut fresh);
    let path = dir.join("include/ryre.h");
    if std::env::var_os("RYRE_BLESS_HEADER").is_some() {
        std::fs::write(&path, &fresh).expect("write include/ryre.h");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/ryre.h is stale: run `RYRE_BLESS_HEADER=1 cargo test -p ryre-ffi --test header` \
         and commit the result"
    );
}
