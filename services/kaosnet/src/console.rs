//! The console port (7351): what operators and their tools reach, apart from players.
//! Today `GET /healthcheck` and `GET /metrics` (Prometheus text); the admin API joins
//! it here.

use std::sync::Arc;

use kaos_http::{Response, Router};

use crate::KaosNet;

/// The console's routes, on a new router.
pub fn router(kaos: &Arc<KaosNet>) -> Router {
    let mut r = Router::new();
    r.get("/healthcheck", |_| Response::json(&serde_json::json!({})));
    let k = kaos.clone();
    r.get("/metrics", move |_| {
        Response::with_body(200, "text/plain; version=0.0.4", k.metrics.render(k.sessions()).into_bytes())
    });
    r
}
