//! The server binary: read the settings, start, wait for SIGINT/SIGTERM, shut down in order.

#[cfg(feature = "ssr")]
producer_reliability::use_jemalloc!();

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    use clap::Parser;
    use producer_reliability::server::{config::Config, startup, telemetry};

    let config = Config::parse();
    telemetry::init(config.log_format);
    // Listen for signals before anything starts, so a SIGTERM during start-up is not lost.
    let stop = shutdown_signal();
    let leptos_options = match leptos::config::get_configuration(None) {
        Ok(conf) => conf.leptos_options,
        Err(e) => {
            tracing::error!(error = %e, "invalid Leptos configuration");
            return std::process::ExitCode::FAILURE;
        }
    };
    let server = match startup::start(config, leptos_options).await {
        Ok(server) => server,
        Err(e) => {
            tracing::error!(error = %e.chain(), "start-up failed");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::info!("listening on http://{}", server.local_addr());
    stop.await;
    tracing::info!("shutting down");
    let report = server.shutdown().await;
    tracing::info!(undelivered = report.undelivered, "stopped");
    std::process::ExitCode::SUCCESS
}

/// Resolves at the first SIGINT or SIGTERM. The handlers are installed when this is called.
#[cfg(feature = "ssr")]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            (term, int) => {
                let error = term.err().or(int.err()).map(|e| e.to_string()).unwrap_or_default();
                tracing::warn!(%error, "cannot listen for SIGTERM/SIGINT; falling back to Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

#[cfg(not(feature = "ssr"))]
pub fn main() {}
