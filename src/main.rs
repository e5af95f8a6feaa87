use pipy::cli::{self, Mode};

use pipy::filters;

fn main() {
    let opts = match cli::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("pipy: {}", e.0);
            eprintln!("Try 'pipy --help' for more information.");
            std::process::exit(2);
        }
    };
    pipy::daemon::init_logging(opts.log_level);
    let code = match opts.mode {
        Mode::Help => {
            print!("{}", cli::USAGE);
            0
        }
        Mode::Version => {
            println!("pipy-rs {}", env!("CARGO_PKG_VERSION"));
            println!("Script compatibility: Pipy 0.30");
            0
        }
        Mode::ListFilters => {
            for f in filters::all() {
                println!("{:<22} {}", f.name, f.params);
            }
            0
        }
        Mode::HelpFilters => {
            for f in filters::all() {
                println!("{}({})\n    {}\n", f.name, f.params, f.help);
            }
            0
        }
        Mode::Signal(_) | Mode::Verify | Mode::Run => run(opts),
    };
    std::process::exit(code);
}

fn run(opts: cli::Options) -> i32 {
    pipy::js::pure::set_enabled(opts.native_callbacks);
    pipy::worker::busy_poll::set_mode(opts.busy_poll);
    pipy::engine::piped::set_enabled(opts.splice);
    if let Mode::Signal(which) = &opts.mode {
        let Some(pid_file) = &opts.pid_file else {
            eprintln!("pipy: --signal needs --pid-file=PATH");
            return 2;
        };
        return pipy::daemon::send_signal(pid_file, *which);
    }
    let Some(script) = opts.script.clone() else {
        eprintln!("pipy: no script given (pass a file or set PIPY_CONFIG_FILE)");
        return 2;
    };
    if !script.is_file() {
        eprintln!("pipy: file does not exist: {}", script.display());
        return 1;
    }
    if opts.mode == Mode::Verify {
        return match pipy::program::evaluate(&script) {
            Ok(loaded) => {
                print!("{}", loaded.graph.describe());
                println!("Script OK");
                0
            }
            Err(e) => {
                eprintln!("{e}");
                1
            }
        };
    }
    // Like Pipy, run from the script's directory: relative paths in scripts (files, modules)
    // resolve there, at start and after reloads.
    let script = pipy::program::absolute(&script);
    if let Some(dir) = script.parent()
        && let Err(e) = std::env::set_current_dir(dir)
    {
        eprintln!("pipy: cannot enter {}: {e}", dir.display());
        return 1;
    }
    pipy::daemon::fd_limit::raise_soft_to_hard();
    if opts.single_process {
        return match pipy::program::evaluate(&script) {
            Ok(loaded) => pipy::program::run_single_process(loaded),
            Err(e) => {
                log::error!("{e}");
                1
            }
        };
    }
    let spawn = match opts.spawn {
        Some(n) => n,
        None => match std::env::var("PIPY_SPAWN") {
            Ok(v) if !v.trim().is_empty() => match v.trim().parse::<usize>() {
                Ok(n) => n,
                Err(_) => {
                    eprintln!("pipy: invalid PIPY_SPAWN: {v}");
                    return 2;
                }
            },
            _ => 0,
        },
    };
    let daemon_opts = pipy::daemon::DaemonOptions {
        workers: spawn + 1,
        pid_file: opts.pid_file.clone(),
        drain_timeout: opts.drain_timeout,
        user: opts.user.clone(),
        group: opts.group.clone(),
    };
    let mut loader = pipy::program::ScriptFileLoader { path: script };
    pipy::daemon::run_master(daemon_opts, &mut loader)
}
