//! Log options shared by every subcommand; logs go to standard error so standard output
//! stays for what a command prints (tables, JSON).

use clap::{Args, ValueEnum};

/// Logging options.
#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// Log format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true, env = "COORDINATOR_LOG_FORMAT")]
    log_format: LogFormat,
    /// Log filter, e.g. `info` or `coordinator=debug` (RUST_LOG syntax).
    #[arg(long, default_value = "info", global = true, env = "COORDINATOR_LOG")]
    log: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

/// Installs the global `tracing` subscriber.
pub(crate) fn init(args: &LogArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
