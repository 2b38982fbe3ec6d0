//! Colour for the operator's terminal: used only when the console is a terminal and
//! `NO_COLOR` is not set (<https://no-color.org>), so pipes, files and scripts get plain
//! text.

use std::io::IsTerminal;

/// Whether colour may be used on an output that is a terminal: not when `NO_COLOR` is
/// set to anything but the empty string.
pub fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// Whether the operator's console is a terminal: stdin and stdout both are.
pub fn is_terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// The colours of the console's lines, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    colour: bool,
}

/// What a piece of text is, which decides its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Who said something: `[client 3 (alice) says]`.
    Sender,
    /// A client arrived.
    Joined,
    /// A client left, or was removed.
    Left,
    /// The console's own remarks: confirmations, hints.
    Note,
    /// Something went wrong.
    Problem,
    /// Headings and the names of things.
    Strong,
}

impl Style {
    /// No colour at all.
    pub const PLAIN: Style = Style { colour: false };

    /// Colour if the console is a terminal and `NO_COLOR` allows it.
    pub fn for_console() -> Style {
        Style {
            colour: is_terminal() && colour_allowed(),
        }
    }

    /// Whether this style colours anything.
    pub fn colours(self) -> bool {
        self.colour
    }

    /// `text` in the colour of `tone` (unchanged without colour).
    pub fn paint(self, tone: Tone, text: &str) -> String {
        if !self.colour {
            return text.to_owned();
        }
        let code = match tone {
            Tone::Sender => "36",    // cyan
            Tone::Joined => "32",    // green
            Tone::Left => "33",      // yellow
            Tone::Note => "2",       // dim
            Tone::Problem => "1;31", // bold red
            Tone::Strong => "1",     // bold
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_style_leaves_text_alone() {
        assert_eq!(Style::PLAIN.paint(Tone::Problem, "x"), "x");
    }

    #[test]
    fn colour_wraps_text_and_resets() {
        let style = Style { colour: true };
        assert_eq!(style.paint(Tone::Joined, "hi"), "\x1b[32mhi\x1b[0m");
    }
}
