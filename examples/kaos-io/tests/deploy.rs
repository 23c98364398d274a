//! The deployment kit, checked without a container engine (this machine has none):
//! docker-compose.yml parses; each service built from this repository runs a command its
//! binary accepts, with environment variables the binary reads; each Dockerfile builds with
//! a command CI runs too; the Makefile's targets are the seed's.

use clap::{CommandFactory, Parser};
use yaml_rust2::{Yaml, YamlLoader};

fn repo(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The environment variables a command line reads (clap's `env = …`), and the one the
/// server reads directly.
fn envs(command: clap::Command) -> Vec<String> {
    let mut names: Vec<String> =
        command.get_arguments().filter_map(|a| a.get_env()).map(|e| e.to_string_lossy().into()).collect();
    names.push("KAOS_ADMIN_PASSWORD".into());
    names
}

#[test]
fn the_compose_services_run_commands_and_environments_their_binaries_accept() {
    let docs = YamlLoader::load_from_str(&repo("docker-compose.yml")).expect("docker-compose.yml parses");
    let services = docs[0]["services"].as_hash().expect("a services map");
    let names: Vec<&str> = services.keys().filter_map(Yaml::as_str).collect();
    for wanted in ["postgres", "kaos-server", "seed", "kaos-io"] {
        assert!(names.contains(&wanted), "{wanted} in {names:?}");
    }
    let ports = |s: &Yaml| -> Vec<String> {
        s["ports"].as_vec().map(|v| v.iter().filter_map(|p| p.as_str().map(String::from)).collect()).unwrap_or_default()
    };
    let mut published = Vec::new();
    for (name, service) in services {
        let name = name.as_str().unwrap();
        published.extend(ports(service));
        let Some(dockerfile) = service["build"]["dockerfile"].as_str() else { continue };
        let command: Vec<String> =
            service["command"].as_vec().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
        let environment: Vec<String> = service["environment"]
            .as_hash()
            .map(|h| h.keys().filter_map(|k| k.as_str().map(String::from)).collect())
            .unwrap_or_default();
        let accepted = match dockerfile {
            "Dockerfile" => {
                let cli = kaos_server::config::Cli::try_parse_from(
                    std::iter::once("kaos-server".to_string()).chain(command.clone()),
                )
                .unwrap_or_else(|e| panic!("{name}: {command:?}: {e}"));
                kaos_server::config::Config::load(cli.args).unwrap_or_else(|e| panic!("{name}: {e}"));
                envs(kaos_server::config::Cli::command())
            }
            "Dockerfile.kaos-io" => {
                let cli =
                    kaos_io::Cli::try_parse_from(std::iter::once("kaos-io-server".to_string()).chain(command.clone()))
                        .unwrap_or_else(|e| panic!("{name}: {command:?}: {e}"));
                kaos_server::config::Config::load(cli.server).unwrap_or_else(|e| panic!("{name}: {e}"));
                envs(kaos_io::Cli::command())
            }
            other => panic!("{name}: unknown Dockerfile {other}"),
        };
        for key in &environment {
            assert!(accepted.contains(key), "{name}: {key} is not read by its binary ({accepted:?})");
        }
    }
    // The seed's ports: the game API, the console, RUDP, the web client, PostgreSQL.
    // (The console and PostgreSQL only on this machine's loopback.)
    for port in ["7350:7350", "127.0.0.1:7351:7351", "7352:7352/udp", "8080:8080", "127.0.0.1:5432:5432"] {
        assert!(published.iter().any(|p| p == port), "{port} in {published:?}");
    }
}

#[test]
fn each_dockerfile_builds_with_a_command_ci_runs_and_runs_unprivileged() {
    let ci = repo(".ci/run");
    for (file, binary) in [("Dockerfile", "kaos-server"), ("Dockerfile.kaos-io", "kaos-io-server")] {
        let text = repo(file);
        let build =
            text.lines().find_map(|l| l.strip_prefix("RUN cargo build")).unwrap_or_else(|| panic!("{file} builds"));
        let command = format!("cargo build{build}");
        assert!(ci.lines().any(|l| l.trim() == command), "{file}'s `{command}` is in .ci/run");
        assert!(text.contains("\nUSER kaos\n"), "{file} runs as a user of its own");
        assert!(text.contains(&format!("ENTRYPOINT [\"{binary}\"]")), "{file} runs {binary}");
    }
    let ignore = repo(".dockerignore");
    for kept_out in ["target", "data", "**/node_modules"] {
        assert!(ignore.lines().any(|l| l == kept_out), "{kept_out} in .dockerignore");
    }
}

#[test]
fn the_makefile_has_the_seeds_targets() {
    let make = repo("Makefile");
    for target in [
        "build",
        "test",
        "docker-up",
        "docker-down",
        "docker-reset",
        "seed",
        "reset",
        "console-login",
        "console-status",
        "console-players",
    ] {
        assert!(make.lines().any(|l| l.starts_with(&format!("{target}:"))), "make {target}");
    }
    let readme = repo("README.md");
    for command in
        ["cargo run --release -p kaos-server", "cargo test", "cargo run --release -p kaos-io --bin kaos-io-server"]
    {
        assert!(make.contains(command) && readme.contains(command), "{command} in the Makefile and the README");
    }
}
