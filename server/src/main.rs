use clap::Parser;

fn main() {
    // fanout reads only the user's own object database, whose objects were checked when they
    // were written; like git, it reads them without hashing each one again (a fifth of a fork's
    // CPU otherwise). Set once here, for every command, rather than as a side effect.
    git2::opts::strict_hash_verification(false);
    let cli = fanout::cli::Cli::parse();
    if cli.command.prints_to_a_reader() {
        // `fanout tasks | head`: a closed stdout ends the process quietly, as for any Unix
        // tool, instead of a panic on the next print.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    match fanout::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!(
                "fanout: error: {}",
                fanout::text::escape_line(&e.to_string())
            );
            std::process::exit(2);
        }
    }
}
