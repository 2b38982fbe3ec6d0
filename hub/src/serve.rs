//! `pipehub` without a subcommand: serve the endpoint, with the operator's console on
//! stdin and stdout, until Ctrl-C, SIGTERM or the console stops it. The composition of
//! the library's parts; part of the binary.

#[cfg(feature = "bridge")]
use pipehub::bridge::Bridge;
#[cfg(feature = "metrics")]
use pipehub::metrics::MetricsServer;
use pipehub::{
    Console, ConsoleOptions, Hub, activation,
    console::LogRoute,
    logging::LogFormat,
    platform, server,
    transport::{BindError, Exposure, Listener},
};
use pipehub_protocol::endpoint;
use tokio_util::sync::CancellationToken;

use crate::{cli::Cli, exit::Exit};

/// Serves the endpoint until Ctrl-C, SIGTERM or the console stops the hub: binds it (or
/// takes the one systemd passes), starts the metrics, the bridge and the console, and
/// finishes each in turn.
pub async fn run(cli: Cli, log_route: LogRoute) -> Result<(), Exit> {
    // Before anything else, above all before the console's line editor starts.
    let shutdown = platform::shutdown_signal();
    let address = endpoint::resolve(&cli.endpoint);
    let config = cli.config();
    // Under systemd socket activation the socket is passed in, not bound here.
    let inherited = activation::inherited_listener().map_err(Exit::failure)?;
    let activated = inherited.is_some();
    let exposure = Exposure {
        socket_mode: config.socket_mode,
        allow_everyone: config.allow_everyone,
    };
    let listener = inherited
        .map_or_else(|| Listener::bind_for(&address, exposure), Ok)
        .map_err(|err| {
            let code = match err {
                BindError::InUse { .. } => 3,
                _ => 1,
            };
            match endpoint::pipe_name(&cli.endpoint) {
                Some(_) => Exit::with(
                    code,
                    format!("{err} ({} resolves to {address})", cli.endpoint),
                ),
                None => Exit::with(code, err),
            }
        })?;
    // Once the endpoint is ours: a hub that cannot start says only why.
    platform::raise_open_file_limit(config.max_clients);
    #[cfg(feature = "metrics")]
    let metrics = match cli.metrics {
        Some(address) => Some(MetricsServer::bind(address).await.map_err(|err| {
            Exit::failure(format!(
                "cannot serve metrics on {address}: {err}; pass another --metrics address"
            ))
        })?),
        None => None,
    };
    #[cfg(feature = "bridge")]
    let shutdown_timeout = config.shutdown_timeout;
    let (hub, events) = Hub::new(config);
    #[cfg(feature = "bridge")]
    let bridge = Bridge::start(&hub, cli.bridge.config())
        .await
        .map_err(|err| Exit::with(2, err))?;
    let on_terminal = pipehub::console::style::is_terminal();
    let input = if on_terminal {
        Input::Terminal
    } else if activated {
        Input::Unread
    } else {
        Input::Lines
    };
    // A log collector gets the one fact of the banner as a log line of its format.
    match cli.log_format {
        LogFormat::Text => eprintln!(
            "{}",
            banner(&cli.endpoint, &listener.endpoint(), &hub, input)
        ),
        LogFormat::Json => tracing::info!(endpoint = %listener.endpoint(), "serving"),
    }
    #[cfg(feature = "metrics")]
    let _stop_metrics = metrics.map(|metrics| serve_metrics(metrics, &hub, cli.log_format));
    // Under systemd, stdin is not the operator (messages come from `pipehub-client
    // send`): read none of it, so its end never matters.
    let (_keep_input_unread, start_reading) = if input == Input::Unread {
        let (hold, gate) = tokio::sync::oneshot::channel();
        (Some(hold), Some(gate))
    } else {
        (None, None)
    };
    let stop = CancellationToken::new();
    let options = ConsoleOptions {
        exit_on_eof: cli.exit_on_eof,
        log_route: Some(log_route),
        start_reading,
        format: cli.log_format,
    };
    let console = Console::start(&hub, events, stop.clone(), options)
        .map_err(|err| Exit::failure(format!("cannot start the console: {err}")))?;
    activation::notify_ready(&listener.endpoint());
    server::serve(&hub, listener, async {
        tokio::select! {
            () = shutdown => {}
            () = stop.cancelled() => {}
        }
        activation::notify_stopping();
    })
    .await;
    #[cfg(feature = "bridge")]
    if let Some(bridge) = bridge {
        bridge.finish(shutdown_timeout).await;
    }
    console.finish();
    Ok(())
}

/// Serves `metrics` for `hub` until the returned guard is dropped, and says where.
#[cfg(feature = "metrics")]
fn serve_metrics(
    metrics: MetricsServer,
    hub: &Hub,
    format: LogFormat,
) -> tokio_util::sync::DropGuard {
    let stop = CancellationToken::new();
    if let Ok(address) = metrics.local_addr() {
        match format {
            LogFormat::Text => eprintln!("pipehub: metrics at http://{address}/metrics"),
            LogFormat::Json => {
                tracing::info!(metrics = %format!("http://{address}/metrics"), "serving metrics");
            }
        }
    }
    tokio::spawn(metrics.serve(hub.clone(), stop.clone().cancelled_owned()));
    stop.drop_guard()
}

/// What the operator sees first: where the hub listens and how to connect to it.
/// `endpoint` is the endpoint as given, `address` the socket or pipe it resolved to.
/// On a terminal, it names the console's commands.
/// What the hub makes of its stdin, as the banner tells the operator.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Input {
    /// A terminal: the line editor and its commands.
    Terminal,
    /// A pipe or a file: every line is a broadcast.
    Lines,
    /// Socket activation without a terminal: stdin is not the operator's, and unread.
    Unread,
}

fn banner(endpoint: &str, address: &str, hub: &Hub, input: Input) -> String {
    let plain = if cfg!(unix) {
        // -u: only from the hub to the terminal, so the end of socat's stdin ends nothing.
        format!("\n  or any tool:  socat -u UNIX-CONNECT:{address} -")
    } else {
        String::new()
    };
    let dotnet = match endpoint::pipe_name(endpoint) {
        Some(name) => format!(
            "\n  or .NET:      new NamedPipeClientStream(\".\", \"{name}\", PipeDirection.In)"
        ),
        None => String::new(),
    };
    // A pipe:NAME is given to clients as it is, so they find the hub the way .NET does.
    let client_endpoint = if dotnet.is_empty() { address } else { endpoint };
    let console = match input {
        Input::Terminal => {
            "Type a line and press Enter to broadcast it; /help lists the commands \
             (/list, /to, /kick, /stats).\nCtrl-C or /quit stops the hub."
        }
        Input::Lines => "Each line of stdin is broadcast. Ctrl-C or SIGTERM stops the hub.",
        Input::Unread => {
            "Started by socket activation: stdin is not read; publish with pipehub-client \
             send. SIGTERM stops the hub."
        }
    };
    format!(
        "pipehub: serving {shown} (hub instance {instance})\n  \
         listen with:  pipehub-client --endpoint {client_endpoint} listen{plain}{dotnet}\n  \
         send with:    pipehub-client --endpoint {client_endpoint} send {hello}\n\
         {console}",
        // cmd.exe passes single quotes on as part of the argument.
        hello = if cfg!(windows) {
            "\"hello\""
        } else {
            "'hello'"
        },
        shown = endpoint::describe(endpoint, address),
        instance = hub.instance()
    )
}
