use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = trade_engine::cli::Cli::parse();
    trade_engine::cli::main(cli)
}
