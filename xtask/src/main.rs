//! gmr's build, run and test orchestration: `cargo xtask <command>`.

mod bench;
mod binary;
mod build;
mod cmd;
mod corpus;
mod demo;
mod fuzz;
mod go_toolchains;
mod image;
mod manifests;
mod package;
mod packages;
mod rootfs;
mod setup;
mod test;
mod vm;

use clap::{Parser, Subcommand};

/// gmr's developer tasks.
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The tasks.
#[derive(Subcommand)]
enum Command {
    /// Install what this machine lacks to build gmr (rust-src, bpf-linker).
    Setup,
    /// Set up, then build the release agent with its eBPF programs embedded.
    Build,
    /// Build, then run the agent on a demo service in a fresh cgroup and print its report.
    Demo,
    /// Build, then run every test (unit and integration; needs root) and the kernel matrix.
    Test,
    /// Run the fuzz targets in fuzz/ (nightly, cargo-fuzz), N seconds each.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = fuzz::DEFAULT_SECONDS)]
        seconds: u64,
        /// Only this target (default: all).
        target: Option<String>,
    },
    /// Build the release agent and its .deb (binary, systemd unit, example
    /// configuration, man pages, completions), check it, print its path.
    Package,
    /// Build, then boot Debian's 6.1 and 6.12 kernels in QEMU and run the signal guard tests in each.
    VmTest,
    /// Build, then time gmr against gdb and eu-stack and print the tables (needs root).
    Bench(bench::Args),
    /// Install podman and build the container test's Debian root (debootstrap) if missing.
    Rootfs,
    /// Build the release agent and its OCI image with podman (`localhost/gmr-agent`); print its size.
    Image,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Setup => setup::run(),
        Command::Build => build::run().map(drop),
        Command::Demo => demo::run(),
        Command::Test => test::run(),
        Command::Fuzz { seconds, target } => fuzz::run(seconds, target.as_deref()),
        Command::Package => {
            let deb = package::run()?;
            package::check(&deb, env!("CARGO_PKG_VERSION"))?;
            println!("{}", deb.display());
            Ok(())
        }
        Command::VmTest => vm::run(),
        Command::Bench(args) => bench::run(&args),
        Command::Rootfs => rootfs::prepare().map(|root| println!("{}", root.display())),
        Command::Image => image::run().map(|image| {
            println!(
                "{} ({:.1} MB; saved as {})",
                image.reference,
                image.size as f64 / 1e6,
                image.archive.display()
            );
        }),
    }
}
