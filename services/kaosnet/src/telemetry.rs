//! Logs and traces: `tracing` spans on each operation (REST calls, realtime messages, Lua
//! calls, storage), written as pretty or JSON logs, and exported as OpenTelemetry spans
//! over OTLP/HTTP (protobuf) when built with the cargo feature `otlp`.
//!
//! ```no_run
//! use kaosnet::telemetry::{init_tracing, TracingConfig};
//!
//! // Console output (development).
//! let _guard = init_tracing(TracingConfig::default());
//!
//! // OTLP export to Jaeger or Tempo (production; built with the `otlp` feature), JSON logs.
//! let _guard = init_tracing(
//!     TracingConfig::new("kaosnet")
//!         .with_otlp("http://localhost:4318")
//!         .with_level("info,kaosnet=debug")
//!         .with_json(),
//! );
//! // The guard flushes the spans not sent yet when it is dropped.
//! ```
//!
//! The endpoint is the collector's OTLP/HTTP one (port 4318; `/v1/traces` is added to a
//! bare URL): OTLP over gRPC (4317) is not spoken, so no async runtime comes with it.
//!
//! Span levels: REST calls, console calls and Lua calls are INFO; realtime messages (a
//! 60 Hz game sends thousands a second) and storage operations are DEBUG, so
//! `kaosnet=debug` traces those too.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};
use tracing::Subscriber;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// How logs and traces are set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracingConfig {
    /// The service name spans carry (`service.name`).
    pub service_name: String,
    /// An `EnvFilter` directive: `info`, `info,kaosnet=debug`, ...
    pub level: String,
    /// JSON lines instead of pretty text.
    pub json: bool,
    /// The collector's OTLP/HTTP endpoint (`http://host:4318`, or the full
    /// `…/v1/traces`); needs the `otlp` feature.
    pub otlp_endpoint: Option<String>,
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig::new("kaosnet")
    }
}

impl TracingConfig {
    /// Pretty logs at `info` for `service_name`, no export.
    pub fn new(service_name: &str) -> TracingConfig {
        TracingConfig { service_name: service_name.into(), level: "info".into(), json: false, otlp_endpoint: None }
    }

    /// Exports spans to the OTLP/HTTP collector at `endpoint`.
    pub fn with_otlp(mut self, endpoint: &str) -> TracingConfig {
        self.otlp_endpoint = Some(endpoint.into());
        self
    }

    /// What to log and trace, as `RUST_LOG` says it.
    pub fn with_level(mut self, level: &str) -> TracingConfig {
        self.level = level.into();
        self
    }

    /// JSON logs, one object a line, with the spans each event is in.
    pub fn with_json(mut self) -> TracingConfig {
        self.json = true;
        self
    }
}

/// Why tracing could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tracing: {0}")]
pub struct TracingError(pub String);

/// Keeps the exporter running; dropping it flushes the spans not sent yet (for at most
/// a few seconds) and stops it.
#[derive(Debug, Default)]
#[must_use = "dropping the guard stops the span export"]
pub struct TracingGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TracingGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            if let Err(e) = p.shutdown_with_timeout(std::time::Duration::from_secs(5)) {
                eprintln!("tracing: the last spans were not exported: {e}");
            }
        }
    }
}

/// Installs the process's subscriber: logs on stderr by `config`, and the OTLP export
/// if an endpoint is set. Fails if one is already installed, if the level does not
/// parse, or if an endpoint is set on a build without the `otlp` feature.
pub fn init_tracing(config: TracingConfig) -> Result<TracingGuard, TracingError> {
    let provider = match &config.otlp_endpoint {
        Some(endpoint) => Some(otlp_provider(endpoint, &config.service_name)?),
        None => None,
    };
    let tracer = provider.as_ref().map(|p| p.tracer(config.service_name.clone()));
    let subscriber = subscriber(&config, tracer, std::io::stderr)?;
    // try_init also forwards the `log` crate's records (ureq's, postgres's) as events.
    tracing_subscriber::util::SubscriberInitExt::try_init(subscriber).map_err(|e| TracingError(e.to_string()))?;
    Ok(TracingGuard { provider })
}

/// The subscriber [`init_tracing`] installs, writing to `writer` and sending spans to
/// `tracer` if given (tests pass an in-memory exporter's).
pub fn subscriber<W>(
    config: &TracingConfig,
    tracer: Option<Tracer>,
    writer: W,
) -> Result<impl Subscriber + Send + Sync + for<'a> LookupSpan<'a>, TracingError>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_new(&config.level).map_err(|e| TracingError(format!("level {:?}: {e}", config.level)))?;
    let (pretty, json) = if config.json {
        let json = tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(true);
        (None, Some(json.with_writer(writer)))
    } else {
        (Some(tracing_subscriber::fmt::layer().with_writer(writer)), None)
    };
    let otel = tracer.map(|t| tracing_opentelemetry::layer().with_tracer(t));
    Ok(tracing_subscriber::registry().with(filter).with(otel).with(pretty).with(json))
}

/// The span export [`init_tracing`] sets up for `endpoint`: a batch processor on a
/// thread of its own, over OTLP/HTTP (protobuf).
#[cfg(feature = "otlp")]
pub fn otlp_provider(endpoint: &str, service_name: &str) -> Result<SdkTracerProvider, TracingError> {
    otlp::provider(endpoint, service_name)
}

#[cfg(not(feature = "otlp"))]
fn otlp_provider(_endpoint: &str, _service_name: &str) -> Result<SdkTracerProvider, TracingError> {
    Err(TracingError("this build has no OTLP export (cargo feature `otlp`)".into()))
}

#[cfg(feature = "otlp")]
mod otlp {
    //! The OTLP/HTTP exporter, over ureq (blocking, std threads only: no async runtime).

    use std::time::Duration;

    use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
    use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::Resource;

    use super::TracingError;

    /// How long one export (with its retries) may take.
    const EXPORT_TIMEOUT: Duration = Duration::from_secs(3);

    #[derive(Debug)]
    struct Ureq(ureq::Agent);

    #[async_trait::async_trait]
    impl HttpClient for Ureq {
        // The batch processor calls this on its own thread (block_on), so blocking here
        // holds up no one else.
        async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
            let (parts, body) = request.into_parts();
            let mut answer = self.0.run(Request::from_parts(parts, body.to_vec()))?;
            let status = answer.status();
            let body = answer.body_mut().with_config().limit(1 << 20).read_to_vec()?;
            Ok(Response::builder().status(status).body(Bytes::from(body))?)
        }
    }

    /// `endpoint` as the exporter takes it: the traces path added to a bare base URL.
    pub(super) fn traces_url(endpoint: &str) -> String {
        let base = endpoint.trim_end_matches('/');
        if base.ends_with("/v1/traces") {
            base.to_string()
        } else {
            format!("{base}/v1/traces")
        }
    }

    pub(super) fn provider(endpoint: &str, service_name: &str) -> Result<SdkTracerProvider, TracingError> {
        if !endpoint.starts_with("http://") {
            return Err(TracingError(format!("OTLP endpoint {endpoint:?}: only http:// is supported")));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(EXPORT_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(traces_url(endpoint))
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(Ureq(agent))
            .build()
            .map_err(|e| TracingError(format!("OTLP exporter: {e}")))?;
        let resource = Resource::builder().with_service_name(service_name.to_string()).build();
        // The batch processor exports from a thread of its own, never on a request's.
        Ok(SdkTracerProvider::builder().with_resource(resource).with_batch_exporter(exporter).build())
    }
}

#[cfg(all(test, feature = "otlp"))]
mod tests {
    #[test]
    fn a_bare_endpoint_gets_the_traces_path() {
        assert_eq!(super::otlp::traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(super::otlp::traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(super::otlp::traces_url("http://c:4318/v1/traces"), "http://c:4318/v1/traces");
    }
}
