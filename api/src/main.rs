//! The `souk` binary: `souk serve`, `souk token`, `souk events`,
//! `souk replay`, `souk projections rebuild|verify`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = souk_api::cli::Cli::parse();
    souk_api::cli::init_tracing();
    match souk_api::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("souk: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
