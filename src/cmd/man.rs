//! `sweep man` and `sweep completions`: generated from the same clap definition as the
//! parser and the same key table as the policy loader, so they cannot drift from what
//! sweep accepts.

use std::io::Write;

use crate::config::Completions;
use crate::exit::Exit;
use crate::report::{Printer, Style};

const PLAIN: Style = Style { json: false, verbose: false, color: false, json_log: false };

/// Prints the man page of `section` (1: the command; 5: the policy file).
pub fn run(section: u8) -> Exit {
    let mut out = Printer::new(PLAIN);
    let text = match section {
        5 => crate::report::man::section5().into_bytes(),
        _ => crate::cli::man_page(&crate::report::man::section1_extra()),
    };
    let _ = out.write_all(&text);
    out.finish(Exit::Clean)
}

/// Prints a completion script.
pub fn completions(c: Completions) -> Exit {
    let mut out = Printer::new(PLAIN);
    c.write(&mut out);
    out.finish(Exit::Clean)
}
