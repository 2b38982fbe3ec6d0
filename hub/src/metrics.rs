//! `pipehub --metrics ADDR`: the hub's counters for Prometheus, as the Prometheus text
//! exposition format (version 0.0.4) at `http://ADDR/metrics`.
//!
//! Nothing is counted for this endpoint: a scrape reads [`Hub::stats`] and
//! [`Hub::clients`] at that moment through a custom collector, so the fan-out path does no
//! extra work whether or not anyone scrapes. A scrape costs one pass over the registry.
//!
//! The HTTP side is hyper's HTTP/1 server: one small task per scrape connection, at most
//! [`MAX_CONNECTIONS`] at once, each bounded by a header timeout. The endpoint is meant
//! for loopback (`127.0.0.1:9187`); it serves whatever address the operator gives, and
//! anyone who can reach it can read the counters (no client data is exposed: counts only).
//!
//! The metrics, with the values they come from:
//!
//! | metric | type | from |
//! |---|---|---|
//! | `pipehub_info{version, instance}` | gauge (1) | the hub's version and instance ID |
//! | `pipehub_clients{role}` | gauge | connected clients: `listener`, `publisher`, `text` |
//! | `pipehub_broadcasts_total` | counter | broadcasts so far (the latest sequence number) |
//! | `pipehub_broadcast_bytes_total` | counter | bytes of broadcast bodies so far |
//! | `pipehub_deliveries_total` | counter | broadcasts taken by client writers, summed |
//! | `pipehub_lagged_clients` | gauge | connected clients that missed at least one |
//! | `pipehub_missed_broadcasts` | gauge | broadcasts missed, summed over connected clients |
//! | `pipehub_refused_connections_total{reason}` | counter | connections turned away |
//! | `pipehub_log_retained_broadcasts` | gauge | broadcasts the log holds now |
//! | `pipehub_log_capacity_broadcasts` | gauge | the most it holds (`--queue`, `--history`) |
//! | `pipehub_client_backlog_max_broadcasts` | gauge | the furthest any client is behind |
//! | `pipehub_listeners_stalled` | gauge | listeners publishers no longer wait for |
//! | `pipehub_publishers_paused` | gauge | publishers not read now: listeners are behind |
//! | `pipehub_publishers_paused_seconds_total` | counter | seconds publishers spent paused |
//! | `pipehub_bridge_up` | gauge | 1 while connected to NATS, else 0 (only with `--bridge`) |
//! | `pipehub_bridge_outages_total` | counter | times the NATS connection was lost |
//! | `pipehub_bridge_messages_total{outcome}` | counter | broadcasts through the bridge |
//!
//! `outcome` is `published` and `not_bridged` for broadcasts that started here, and
//! `received`, `duplicate` and `rejected` for messages from other hubs.
//!
//! `reason` is `not_permitted`, `hub_full`, `unsupported_version` or `shutting_down`.
//! The missed count is a gauge: it is the sum over the clients connected now, and a
//! client that leaves takes its count along.

use std::{
    convert::Infallible, fmt, future::Future, io, net::SocketAddr, sync::Arc, time::Duration,
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode, body::Incoming, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, prometheus_text},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tracing::{debug, warn};

use crate::{hub::Hub, link::LinkState};

/// Scrape connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 32;

/// How long a scraper may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The metrics endpoint, bound and not yet serving.
pub struct MetricsServer {
    listener: TcpListener,
}

impl MetricsServer {
    /// Binds `address` (port 0 picks a free port; see [`MetricsServer::local_addr`]).
    pub async fn bind(address: SocketAddr) -> io::Result<MetricsServer> {
        if !address.ip().is_loopback() {
            warn!(
                %address,
                "metrics are served beyond loopback: anyone who can reach {address} can read them"
            );
        }
        Ok(MetricsServer {
            listener: TcpListener::bind(address).await?,
        })
    }

    /// The address it serves, with the port actually bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `GET /metrics` for `hub` until `shutdown` completes.
    pub async fn serve(self, hub: Hub, shutdown: impl Future) {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(HubCollector { hub }));
        let registry = Arc::new(registry);
        let places = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        tokio::pin!(shutdown);
        loop {
            let Ok(place) = places.clone().acquire_owned().await else {
                return;
            };
            let (stream, peer) = tokio::select! {
                _ = &mut shutdown => return,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of descriptors, most likely: the hub's clients come first.
                        warn!(%err, "metrics: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let registry = Arc::clone(&registry);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let registry = Arc::clone(&registry);
                    async move { Ok::<_, Infallible>(respond(&request, &registry)) }
                });
                let served = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(err) = served {
                    debug!(%peer, %err, "metrics: connection ended with an error");
                }
                drop(place);
            });
        }
    }
}

/// The answer to one request: the metrics for `GET /metrics`, a hint otherwise.
fn respond(request: &Request<Incoming>, registry: &Registry) -> Response<Full<Bytes>> {
    let plain = |status: StatusCode, text: &'static str| {
        let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    };
    if request.uri().path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "pipehub serves its metrics at /metrics\n",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "use GET /metrics\n");
    }
    let mut body = String::new();
    if prometheus_text::encode(&mut body, registry).is_err() {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "could not encode the metrics\n",
        );
    }
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(prometheus_text::CONTENT_TYPE),
    );
    response
}

/// Reads the hub's counters at scrape time.
struct HubCollector {
    hub: Hub,
}

impl fmt::Debug for HubCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubCollector")
            .field("instance", &self.hub.instance())
            .finish()
    }
}

impl Collector for HubCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let hub = &self.hub;
        let stats = hub.stats();
        let backlog = hub
            .clients()
            .iter()
            .map(|client| client.queued)
            .max()
            .unwrap_or(0);
        let config = hub.config();

        let instance = hub.instance().to_string();
        let mut info = encoder.encode_descriptor(
            "pipehub_info",
            "The hub's version and instance ID (new at every start); the value is 1",
            None,
            MetricType::Gauge,
        )?;
        let labels = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("instance", instance.as_str()),
        ];
        ConstGauge::new(1i64).encode(info.encode_family(&labels)?)?;

        let mut clients = encoder.encode_descriptor(
            "pipehub_clients",
            "Connected clients, by role",
            None,
            MetricType::Gauge,
        )?;
        for (role, count) in [
            ("listener", stats.listeners),
            ("publisher", stats.publishers),
            ("text", stats.text_listeners),
        ] {
            ConstGauge::new(gauge(count)).encode(clients.encode_family(&[("role", role)])?)?;
        }

        counter(
            &mut encoder,
            "pipehub_broadcasts",
            "Broadcasts so far (the latest sequence number)",
            stats.broadcasts,
        )?;
        counter(
            &mut encoder,
            "pipehub_broadcast_bytes",
            "Bytes of broadcast bodies so far",
            stats.bytes_broadcast,
        )?;
        counter(
            &mut encoder,
            "pipehub_deliveries",
            "Broadcasts taken by client writers so far, summed over clients",
            stats.deliveries,
        )?;
        single_gauge(
            &mut encoder,
            "pipehub_lagged_clients",
            "Connected clients that missed at least one broadcast",
            gauge(stats.lagged_clients),
        )?;
        single_gauge(
            &mut encoder,
            "pipehub_missed_broadcasts",
            "Broadcasts missed, summed over the clients connected now",
            gauge(stats.missed),
        )?;

        let mut refused = encoder.encode_descriptor(
            "pipehub_refused_connections",
            "Connections turned away, by reason",
            None,
            MetricType::Counter,
        )?;
        for (code, count) in &stats.refused_by_reason {
            let reason = code.name().unwrap_or("other").replace(' ', "_");
            ConstCounter::new(*count)
                .encode(refused.encode_family(&[("reason", reason.as_str())])?)?;
        }

        single_gauge(
            &mut encoder,
            "pipehub_log_retained_broadcasts",
            "Broadcasts the log retains now, for clients that are behind and for replay",
            gauge(stats.retained),
        )?;
        single_gauge(
            &mut encoder,
            "pipehub_log_capacity_broadcasts",
            "The most broadcasts the log retains (--queue, --history)",
            gauge(config.queue_frames.max(config.history_frames)),
        )?;
        single_gauge(
            &mut encoder,
            "pipehub_client_backlog_max_broadcasts",
            "The most broadcasts any one client has yet to take",
            gauge(backlog),
        )?;
        single_gauge(
            &mut encoder,
            "pipehub_listeners_stalled",
            "Listeners publishers no longer wait for: they took nothing for --stall-timeout",
            gauge(stats.stalled_listeners),
        )?;
        single_gauge(
            &mut encoder,
            "pipehub_publishers_paused",
            "Publishers the hub is not reading now, because listeners are a window behind",
            gauge(stats.paused_publishers),
        )?;
        let paused = encoder.encode_descriptor(
            "pipehub_publishers_paused_seconds",
            "Seconds publishers (and input piped into the hub) spent paused, summed",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(stats.paused_seconds).encode(paused)?;
        if let Some(bridge) = hub.bridge() {
            single_gauge(
                &mut encoder,
                "pipehub_bridge_up",
                "1 while the bridge is connected to NATS, else 0",
                i64::from(hub.bridge_link() == Some(LinkState::Connected)),
            )?;
            counter(
                &mut encoder,
                "pipehub_bridge_outages",
                "Times the bridge lost its NATS connection",
                bridge.outages,
            )?;
            let mut messages = encoder.encode_descriptor(
                "pipehub_bridge_messages",
                "Broadcasts through the bridge: published or not_bridged (started here), \
                 received, duplicate or rejected (from other hubs)",
                None,
                MetricType::Counter,
            )?;
            for (outcome, count) in [
                ("published", bridge.published),
                ("not_bridged", bridge.not_bridged),
                ("received", bridge.received),
                ("duplicate", bridge.duplicates),
                ("rejected", bridge.rejected),
            ] {
                ConstCounter::new(count)
                    .encode(messages.encode_family(&[("outcome", outcome)])?)?;
            }
        }
        Ok(())
    }
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

fn single_gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

/// A count as a gauge value (gauges are signed).
fn gauge(count: impl TryInto<i64>) -> i64 {
    count.try_into().unwrap_or(i64::MAX)
}
