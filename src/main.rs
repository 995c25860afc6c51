//! The `streamscope` binary: a thin shell over the library.

use clap::Parser;

fn main() {
    let args = streamscope::cli::Args::parse();
    std::process::exit(streamscope::cli::run(args));
}
