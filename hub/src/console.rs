//! The operator's side of the hub: lines typed (or piped) into the hub become
//! broadcasts, and what clients say back, or do, becomes [`ConsoleEvent`]s printed for
//! the operator.
//!
//! Input is read as raw bytes, one message per line (the trailing `\n` or `\r\n` is
//! dropped), so non-UTF-8 input is broadcast as it is.

use std::io;

use bytes::Bytes;
use pipehub_protocol::ClientId;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::Hub;

/// Something the operator should see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsoleEvent {
    /// A client said something: a listener's or text client's message to the operator,
    /// or a publisher's broadcast.
    Message {
        from: ClientId,
        name: String,
        body: Bytes,
        broadcast: bool,
    },
    /// Events (publishers' broadcasts, joins, leaves) not shown because the console was
    /// behind; the broadcasts themselves are never held back by the console.
    NotShown(u64),
    /// A client finished its handshake.
    Joined {
        id: ClientId,
        name: String,
        kind: &'static str,
    },
    /// A client left.
    Left { id: ClientId, name: String },
}

/// How many console events may wait for the printer.
pub(crate) const CONSOLE_QUEUE: usize = 1024;

/// Reads operator lines from `input` and broadcasts each one, until end of input.
/// Returns how many lines were broadcast.
pub async fn broadcast_lines(hub: &Hub, mut input: impl AsyncBufRead + Unpin) -> io::Result<u64> {
    let mut line = Vec::new();
    let mut count = 0;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).await? == 0 {
            return Ok(count);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        match hub.publish(&line) {
            Ok(_) => count += 1,
            Err(err) => tracing::warn!("line not broadcast: {err}"),
        }
    }
}

/// Prints console events to `out` until every sender is gone.
pub async fn print_events(
    mut events: mpsc::Receiver<ConsoleEvent>,
    mut out: impl AsyncWrite + Unpin,
) -> io::Result<()> {
    while let Some(event) = events.recv().await {
        out.write_all(render(&event).as_bytes()).await?;
        if events.is_empty() {
            out.flush().await?;
        }
    }
    out.flush().await
}

/// One event as one line of text for the operator.
pub fn render(event: &ConsoleEvent) -> String {
    fn who(id: ClientId, name: &str) -> String {
        if name.is_empty() {
            format!("client {id}")
        } else {
            format!("client {id} ({name})")
        }
    }
    match event {
        ConsoleEvent::Message {
            from,
            name,
            body,
            broadcast,
        } => {
            let verb = if *broadcast { "broadcast" } else { "says" };
            format!(
                "[{} {verb}] {}\n",
                who(*from, name),
                String::from_utf8_lossy(body)
            )
        }
        ConsoleEvent::NotShown(n) => {
            format!("[{n} console events not shown: the console fell behind]\n")
        }
        ConsoleEvent::Joined { id, name, kind } => {
            format!("[{} joined as {kind}]\n", who(*id, name))
        }
        ConsoleEvent::Left { id, name } => format!("[{} left]\n", who(*id, name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_client() {
        let line = render(&ConsoleEvent::Message {
            from: ClientId(7),
            name: "alice".into(),
            body: Bytes::from_static(b"hi"),
            broadcast: false,
        });
        assert_eq!(line, "[client 7 (alice) says] hi\n");
    }
}
