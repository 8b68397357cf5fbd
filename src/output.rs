//! Everything xacct shows: terminal styles (colour only on a terminal, never with `NO_COLOR` or
//! `--no-color`), and writing to stdout, where a closed pipe is a quiet end (`xacct plan | head`).
//! The human renderings live beside what they render (`plan::render`, `check`, `lint`, `verify`);
//! the `--json` outputs are `Serialize` values printed with `print_json`.

use serde::Serialize;
use std::io::{IsTerminal, Write};

/// ANSI styling, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
}

/// The style for stdout: colour only on a terminal, unless `--no-color` or `NO_COLOR` is set.
pub fn style(no_color: bool) -> Style {
    let color = !no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal();
    Style { color }
}

/// Write to stdout; a closed pipe is a quiet end, not an error.
pub fn print_out(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

/// Print a value as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(v: &T) {
    print_out(&format!(
        "{}\n",
        serde_json::to_string_pretty(v).unwrap_or_default()
    ));
}
