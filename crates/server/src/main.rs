//! The `portcullis` binary: parse the command line, run, and turn any failure into one
//! clear line on stderr and a non-zero exit (never a panic or a backtrace).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match portcullis_server::cli::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: clap's own output, success.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("portcullis: {}", portcullis_server::cli::one_line_error(&e));
            return ExitCode::from(2);
        }
    };
    let mut stdout = std::io::stdout();
    match portcullis_server::cli::run(cli, &mut stdout).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portcullis: {e:#}");
            ExitCode::FAILURE
        }
    }
}
