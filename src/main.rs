//! The `streamscope` binary: a thin shell over the library.

use clap::Parser;

/// mimalloc (its v2 line, without transparent huge pages) instead of glibc's malloc: flows,
/// exchanges and reassembly buffers are allocated and freed at a high rate, and glibc's free
/// lists cost a quarter of the run. On the 2 GiB many-flows benchmark capture: 1.51 s with
/// glibc, 1.25 s with this (95 vs ~100 MB peak RSS); mimalloc v3 is as fast but peaks near
/// 150 MB, and transparent huge pages add tens of MB of RSS for nothing.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args = streamscope::cli::Args::parse();
    std::process::exit(streamscope::cli::run(args));
}
