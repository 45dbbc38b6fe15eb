//! The `keel` binary: everything lives in the `keel_cli` library.

fn main() -> std::process::ExitCode {
    keel_cli::main()
}
