//! Routes: method and path pattern to handler. Patterns are literal segments and
//! `{name}` captures of one segment; the first route that matches wins.

use std::collections::HashMap;
use std::sync::Arc;

use crate::request::{decode_component, Method, Request};
use crate::response::Response;

/// A request handler.
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Where a handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// On the loop thread: for handlers that never block.
    Inline,
    /// On the worker pool: for handlers that may block (a database).
    Blocking,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

struct Route {
    method: Method,
    segments: Vec<Segment>,
    handler: Handler,
    run: Run,
}

/// What the router found for a request.
pub(crate) enum Lookup {
    /// A handler, with how to run it.
    Handler(Handler, Run),
    /// The path exists, not with this method: these methods would do.
    WrongMethod(Vec<Method>),
    /// Nothing at this path.
    Missing,
}

/// Routes of a server.
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
    upgrades: Vec<Vec<Segment>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router").field("routes", &self.routes.len()).finish()
    }
}

impl Router {
    /// No routes.
    pub fn new() -> Self {
        Router::default()
    }

    /// Routes `method` requests on `pattern` to `handler`, run as `run`.
    pub fn route(
        &mut self,
        method: Method,
        pattern: &str,
        run: Run,
        handler: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> &mut Self {
        self.routes.push(Route { method, segments: parse_pattern(pattern), handler: Arc::new(handler), run });
        self
    }

    /// A `GET` route run on the loop thread.
    pub fn get(&mut self, pattern: &str, h: impl Fn(&Request) -> Response + Send + Sync + 'static) -> &mut Self {
        self.route(Method::Get, pattern, Run::Inline, h)
    }

    /// A `POST` route run on the loop thread.
    pub fn post(&mut self, pattern: &str, h: impl Fn(&Request) -> Response + Send + Sync + 'static) -> &mut Self {
        self.route(Method::Post, pattern, Run::Inline, h)
    }

    /// A `PUT` route run on the loop thread.
    pub fn put(&mut self, pattern: &str, h: impl Fn(&Request) -> Response + Send + Sync + 'static) -> &mut Self {
        self.route(Method::Put, pattern, Run::Inline, h)
    }

    /// A `DELETE` route run on the loop thread.
    pub fn delete(&mut self, pattern: &str, h: impl Fn(&Request) -> Response + Send + Sync + 'static) -> &mut Self {
        self.route(Method::Delete, pattern, Run::Inline, h)
    }

    /// Marks `pattern` as a WebSocket endpoint: a valid upgrade request there is handed
    /// to the server's upgrade hand-off with its connection.
    pub fn websocket(&mut self, pattern: &str) -> &mut Self {
        self.upgrades.push(parse_pattern(pattern));
        self
    }

    /// The handler for `method` on `path`, filling `params`.
    pub(crate) fn find(&self, method: Method, path: &str, params: &mut HashMap<String, String>) -> Lookup {
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        let mut allowed = Vec::new();
        for r in self.routes.iter().filter(|r| matches(&r.segments, &parts)) {
            // A HEAD request is served by the GET route.
            if r.method == method || (method == Method::Head && r.method == Method::Get) {
                capture(&r.segments, &parts, params);
                return Lookup::Handler(r.handler.clone(), r.run);
            }
            allowed.push(r.method);
        }
        if allowed.is_empty() {
            Lookup::Missing
        } else {
            Lookup::WrongMethod(allowed)
        }
    }

    /// Whether `path` is a WebSocket endpoint, filling `params`.
    pub(crate) fn is_upgrade(&self, path: &str, params: &mut HashMap<String, String>) -> bool {
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        match self.upgrades.iter().find(|segments| matches(segments, &parts)) {
            Some(segments) => {
                capture(segments, &parts, params);
                true
            }
            None => false,
        }
    }
}

fn parse_pattern(pattern: &str) -> Vec<Segment> {
    pattern
        .split('/')
        .skip(1)
        .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => Segment::Param(name.to_string()),
            None => Segment::Literal(s.to_string()),
        })
        .collect()
}

/// Whether `parts` fit the pattern (without allocating: most routes do not match).
fn matches(segments: &[Segment], parts: &[&str]) -> bool {
    segments.len() == parts.len()
        && segments.iter().zip(parts).all(|(s, p)| match s {
            Segment::Literal(l) => l == p,
            Segment::Param(_) => !p.is_empty(),
        })
}

/// Records the parameters of a matching path.
fn capture(segments: &[Segment], parts: &[&str], params: &mut HashMap<String, String>) {
    for (s, p) in segments.iter().zip(parts) {
        if let Segment::Param(name) = s {
            params.insert(name.clone(), decode_component(p, false));
        }
    }
}
