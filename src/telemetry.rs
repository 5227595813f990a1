//! Logging: `RUST_LOG` filters, `THIDUA_LOG_FORMAT` chooses pretty lines or JSON.

use std::io::IsTerminal;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::{DEFAULT_LOG_FILTER, LogFormat};

/// Installs the global subscriber once; later calls (tests) are ignored.
///
/// Lines are written to standard output by a thread of their own, so a request never waits on
/// the terminal or the log file, nor on another worker's line (one write per line under a
/// shared lock cost the service ~5% of its CPU). Nothing is dropped: when the writer falls
/// behind, loggers wait. That thread writes through a 64 KiB buffer, flushed whenever it has
/// written every line waiting (so a line is never held back while the service is idle): under
/// load one `write(2)` carries many lines instead of one each. A JSON line records the request's
/// span once (`span`), not again in a list of every enclosing span (`spans`): requests have one.
/// Keep the guard until the process ends; dropping it flushes the rest.
/// `filter` is `RUST_LOG` as `Settings` checked it. Colours only on a terminal: in a file or a
/// pipe they are escape codes around every level.
pub fn init(format: LogFormat, filter: Option<&str>) -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("thidua-log")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ));
    let filter = filter
        .and_then(|filter| EnvFilter::builder().parse(filter).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(writer);
    let _ = match format {
        LogFormat::Pretty => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    guard
}
