//! The `souk` binary: `souk serve`, `souk token`, `souk events`,
//! `souk replay`, `souk projections rebuild|verify`, `souk log copy`.

use clap::Parser;

/// jemalloc instead of glibc's malloc: every socket event runs in a spawned
/// tokio task, whose cell is 128-byte aligned, and glibc serves aligned
/// allocations by splitting chunks (`_int_memalign`, then consolidation),
/// about a fifth of souk's CPU under load. With jemalloc, CPU per delivered
/// message is about 8 % lower at 3,000 messages/s, for about 7 % more memory
/// per idle socket (BENCHMARKS.md, "Allocator").
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
