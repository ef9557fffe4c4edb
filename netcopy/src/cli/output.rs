//! Printing a result: its table, or its JSON, on stdout; and the exit status it implies.

use std::{io::Write as _, process::ExitCode};

use super::error::{EXIT_INTERRUPTED, Error};
use crate::{model::RunSummary, report::summary};

/// `text`, or `value` as pretty JSON.
pub fn print(value: &impl serde::Serialize, text: &str, json: bool) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, value)?;
        writeln!(out).map_err(Error::io("write to stdout"))?;
    } else {
        write!(out, "{text}").map_err(Error::io("write to stdout"))?;
    }
    Ok(())
}

/// A run's summary; 130 when it was interrupted.
pub fn print_summary(s: &RunSummary, json: bool) -> Result<ExitCode, Error> {
    print(s, &summary::render(s), json)?;
    Ok(if s.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}
