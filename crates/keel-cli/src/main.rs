//! The `keel` binary: everything lives in the `keel_cli` library.

/// mimalloc: formatting makes and frees small strings per row, which it serves faster than
/// the system allocator (measured in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    keel_cli::main()
}
