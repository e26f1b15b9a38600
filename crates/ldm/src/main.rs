//! `ldm`: the command-line interface of the Logical Domains Manager.

fn main() {
    std::process::exit(ldm::main_with_args(std::env::args_os()));
}
