//! `pipehub-client send`: broadcasts messages, and exits 0 only once the hub has taken
//! every one of them.
//!
//! Messages are queued and written in batches; a batch is written as soon as stdin has
//! nothing more ready, so `tail -f log | pipehub-client send` forwards each line without
//! delay. While stdin is quiet, the connection is still read: the hub's keepalive `PING`s
//! are answered (a publisher that never reads is closed after two keepalive intervals),
//! a `BYE` or `ERROR` ends the command at once, and a direct message from the operator is
//! shown on stderr. At the end, [`Connection::confirm`] waits for the hub's answer to a
//! `PING`, which the hub sends only after handling every earlier message.

use std::ffi::OsString;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use pipehub_client::output::SenderName;
use pipehub_client::protocol::{Hello, Role};
use pipehub_client::{ClientError, Connection, Event};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::args::SendArgs;
use super::notice;

/// How much of stdin is read at once.
const STDIN_BUFFER: usize = 64 * 1024;

/// Runs `send`.
pub async fn run(endpoint: &str, wait: Duration, args: SendArgs) -> anyhow::Result<()> {
    let mut hello = Hello::new(Role::Publisher);
    hello.name = args.name.unwrap_or_default();
    let mut connection = super::open(endpoint, wait, hello).await?;
    let client_id = connection.welcome().client_id;
    let session = || format!("sending to the hub at {endpoint} (as client {client_id})");

    let sent = if args.text.is_empty() {
        send_stdin(&mut connection).await.with_context(session)?
    } else {
        connection
            .send(join_words(&args.text))
            .await
            .with_context(session)?;
        1
    };
    connection
        .confirm()
        .await
        .with_context(|| format!("the hub did not confirm {sent} messages"))
        .with_context(session)?;
    tracing::info!(sent, "the hub confirmed every message");
    Ok(())
}

/// The words of TEXT joined by single spaces, as bytes (not necessarily UTF-8 on Unix).
fn join_words(words: &[OsString]) -> Bytes {
    let mut message = Vec::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            message.push(b' ');
        }
        message.extend_from_slice(word.as_encoded_bytes());
    }
    Bytes::from(message)
}

/// Sends every line of stdin as one message; returns how many were sent.
async fn send_stdin(connection: &mut Connection) -> anyhow::Result<u64> {
    let mut stdin = BufReader::with_capacity(STDIN_BUFFER, tokio::io::stdin());
    let mut sent = 0u64;
    loop {
        let mut line = Vec::new();
        let read = loop {
            // `read_until` keeps what it has read in `line` when the other branch wins,
            // and the next call goes on from there.
            tokio::select! {
                read = stdin.read_until(b'\n', &mut line) => break read,
                event = connection.next_event() => hub_spoke(event)?,
            }
        };
        if read.context("could not read stdin")? == 0 {
            return Ok(sent);
        }
        let message = Bytes::from(strip_line_end(line));
        match connection.send(message).await {
            Ok(()) => sent += 1,
            Err(err @ ClientError::MessageTooLarge { .. }) => {
                // Deliver what came before, so the error says exactly what was sent.
                connection.confirm().await?;
                return Err(err).with_context(|| {
                    format!(
                        "line {} of stdin is too long (the {sent} lines before it were delivered)",
                        sent + 1
                    )
                });
            }
            Err(err) => return Err(err.into()),
        }
        if stdin.buffer().is_empty() {
            connection.flush().await?;
        }
    }
}

/// Handles what the hub said while a publisher waits for input: a direct message is
/// shown; a `BYE`, an `ERROR` or the end of the connection is the end of the command.
fn hub_spoke(event: Result<Option<Event>, ClientError>) -> Result<(), ClientError> {
    match event? {
        Some(Event::Direct { sender, body, .. }) => {
            notice(format_args!(
                "direct message from {}: {}",
                SenderName(sender),
                String::from_utf8_lossy(&body).escape_debug()
            ));
            Ok(())
        }
        Some(Event::Bye { reason, text }) => Err(ClientError::Bye { reason, text }),
        // Publishers receive no broadcasts; a PONG can only be a stale answer.
        Some(Event::Broadcast { .. } | Event::Lagged { .. } | Event::Pong(_)) => Ok(()),
        None => Err(ClientError::Closed),
    }
}

/// A line without its trailing `\n`, then without one trailing `\r` (CRLF input, or a
/// last line that ends in `\r`).
fn strip_line_end(mut line: Vec<u8>) -> Vec<u8> {
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_end_is_stripped_once() {
        assert_eq!(strip_line_end(b"a\r\n".to_vec()), b"a");
        assert_eq!(strip_line_end(b"a\n".to_vec()), b"a");
        assert_eq!(strip_line_end(b"a\r\r\n".to_vec()), b"a\r");
        assert_eq!(strip_line_end(b"\n".to_vec()), b"");
        assert_eq!(strip_line_end(b"last".to_vec()), b"last");
        assert_eq!(strip_line_end(b"last\r".to_vec()), b"last");
    }

    #[test]
    fn words_are_joined_by_single_spaces() {
        let words: Vec<OsString> = vec!["deploy".into(), "at".into(), "5".into()];
        assert_eq!(join_words(&words), Bytes::from_static(b"deploy at 5"));
        assert_eq!(join_words(&[OsString::new()]), Bytes::new());
    }
}
