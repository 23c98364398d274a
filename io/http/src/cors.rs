//! CORS for browser clients: answers preflight requests and marks responses to allowed
//! origins.

use crate::request::{Method, Request};
use crate::response::Response;

/// Which cross-origin requests browsers may make.
#[derive(Debug, Clone)]
pub struct Cors {
    /// Allowed origins (`https://game.example`), or `*` for any.
    pub allowed_origins: Vec<String>,
    /// Methods a preflight may ask for.
    pub allowed_methods: Vec<Method>,
    /// Request headers a preflight may ask for (lower-case), or `*` for any.
    pub allowed_headers: Vec<String>,
    /// How long browsers may cache a preflight answer, seconds.
    pub max_age: u32,
}

impl Default for Cors {
    /// Any origin, the usual methods, any header, a day of caching.
    fn default() -> Self {
        Cors {
            allowed_origins: vec!["*".into()],
            allowed_methods: vec![Method::Get, Method::Post, Method::Put, Method::Delete, Method::Options],
            allowed_headers: vec!["*".into()],
            max_age: 86_400,
        }
    }
}

impl Cors {
    fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == "*" || o == origin)
    }

    /// The answer to a preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`); `None` if `request` is not one.
    pub(crate) fn preflight(&self, request: &Request) -> Option<Response> {
        if request.method != Method::Options {
            return None;
        }
        let origin = request.header("origin")?;
        let wanted = request.header("access-control-request-method")?;
        let method_ok = Method::parse(wanted).is_some_and(|m| self.allowed_methods.contains(&m));
        let headers_ok = request.header("access-control-request-headers").is_none_or(|h| {
            h.split(',')
                .map(|x| x.trim().to_ascii_lowercase())
                .filter(|x| !x.is_empty())
                .all(|x| self.allowed_headers.iter().any(|a| a == "*" || *a == x))
        });
        if !self.allows_origin(origin) || !method_ok || !headers_ok {
            // No CORS headers: the browser refuses the real request.
            return Some(Response::new(204));
        }
        // `Access-Control-Allow-Origin` and `Vary` are added with every other answer's,
        // by `decorate`: each must appear once or browsers refuse the answer.
        let methods: Vec<&str> = self.allowed_methods.iter().map(|m| m.as_str()).collect();
        let mut r = Response::new(204)
            .header("Access-Control-Allow-Methods", &methods.join(", "))
            .header("Access-Control-Max-Age", &self.max_age.to_string());
        if let Some(h) = request.header("access-control-request-headers") {
            r = r.header("Access-Control-Allow-Headers", h);
        }
        Some(r)
    }

    /// Marks a response to a request from `origin`: `Vary: Origin` always (the answer
    /// depends on it), `Access-Control-Allow-Origin` if the origin is allowed. Each header
    /// ends up exactly once, whatever the handler set.
    pub(crate) fn decorate(&self, origin: &str, response: &mut Response) {
        let vary = response.headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case("vary"));
        match vary {
            Some((_, v)) if v.split(',').any(|x| x.trim().eq_ignore_ascii_case("origin")) => {}
            Some((_, v)) => *v = format!("{v}, Origin").into(),
            None => response.headers.push(("Vary".into(), "Origin".into())),
        }
        response.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("access-control-allow-origin"));
        if self.allows_origin(origin) {
            response.headers.push(("Access-Control-Allow-Origin".into(), origin.to_string().into()));
        }
    }
}
