//! `ryre completions SHELL` and `ryre man`: shell completions and man pages generated from the
//! clap definitions (clap_complete, clap_mangen), so they never fall behind the flags.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::{CliError, CliResult};

/// Arguments of `ryre completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for (on stdout).
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Arguments of `ryre man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write one page per command (ryre.1, ryre-node.1, ryre-timer-serve.1, ...) into this
    /// directory instead of printing ryre(1) on stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The `ryre` command as clap sees it, with its name fixed (completions and pages use it).
fn command() -> clap::Command {
    crate::Cli::command_for_docs()
}

/// Runs `ryre completions`.
pub fn completions(a: CompletionsArgs) -> CliResult {
    let mut cmd = command();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "ryre", &mut out);
    write_stdout(&out)
}

/// Runs `ryre man`.
pub fn man(a: ManArgs) -> CliResult {
    let cmd = command();
    match a.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| CliError::Runtime(format!("{}: {e}", dir.display())))?;
            clap_mangen::generate_to(cmd, &dir)
                .map_err(|e| CliError::Runtime(format!("{}: {e}", dir.display())))?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(CliError::runtime)?;
            write_stdout(&out)
        }
    }
}

fn write_stdout(bytes: &[u8]) -> CliResult {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // `ryre man | head` closes the pipe early: not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(CliError::runtime(e)),
    }
}
