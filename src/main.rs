//! The `vpnctl` binary: everything lives in the library; this only turns its result into an
//! exit code.

fn main() {
    std::process::exit(vpnctl::run(std::env::args_os()));
}
