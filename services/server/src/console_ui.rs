//! The console UI (`services/console-ui`, React), built into `dist/` and embedded here, so
//! `cargo run -p kaos-server` serves it at the console port's root with no npm and no
//! second process. Its assets carry content hashes in their names, so they are cached for
//! good; `index.html` is not cached. The content security policy lets the page load
//! only its own scripts and styles and talk only to this port.

use include_dir::{include_dir, Dir};
use kaos_http::{Response, Router};

static DIST: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../console-ui/dist");

const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                      connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

fn index() -> Response {
    match DIST.get_file("index.html") {
        Some(f) => Response::with_body(200, "text/html; charset=utf-8", f.contents())
            .static_header("Cache-Control", "no-cache")
            .static_header("Content-Security-Policy", POLICY)
            .static_header("X-Content-Type-Options", "nosniff"),
        None => Response::text(404, "The console UI was not built into this binary."),
    }
}

/// `GET /` and `GET /assets/{file}` on the console port.
pub(crate) fn routes(r: &mut Router) {
    r.get("/", |_| index());
    r.get("/index.html", |_| index());
    r.get("/assets/{file}", |req| {
        let name = req.param("file").unwrap_or_default();
        match DIST.get_file(format!("assets/{name}")) {
            Some(f) => Response::with_body(200, content_type(name), f.contents())
                .static_header("Cache-Control", "public, max-age=31536000, immutable")
                .static_header("X-Content-Type-Options", "nosniff"),
            None => Response::text(404, "No such asset."),
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_build_is_embedded_and_names_its_assets() {
        let index = super::DIST.get_file("index.html").expect("services/console-ui/dist/index.html");
        let html = index.contents_utf8().unwrap();
        let script = html.split("src=\"/assets/").nth(1).and_then(|s| s.split('"').next()).expect("a script");
        assert!(super::DIST.get_file(format!("assets/{script}")).is_some(), "{script} is in dist/assets");
        assert_eq!(super::content_type(script), "text/javascript; charset=utf-8");
    }
}
