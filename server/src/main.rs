use clap::Parser;

fn main() {
    let cli = fanout::cli::Cli::parse();
    match fanout::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("fanout: error: {e}");
            std::process::exit(2);
        }
    }
}
