//! The `streamscope` binary: a thin shell over the library.

use clap::Parser;

/// mimalloc instead of glibc's malloc: per-flow and per-exchange state is allocated and freed
/// at a high rate, and glibc's free lists cost a quarter of the run and leave memory
/// fragmented (measured in bench/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args = streamscope::cli::Args::parse();
    std::process::exit(streamscope::cli::run(args));
}
