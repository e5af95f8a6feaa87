use pipy::cli::{self, Mode};
use pipy::filters::FILTERS;
use std::io::Write;

fn init_logging(level: log::LevelFilter) {
    env_logger::Builder::new()
        .filter_level(level)
        .format(|buf, rec| {
            let tag = match rec.level() {
                log::Level::Error => "ERR",
                log::Level::Warn => "WRN",
                log::Level::Info => "INF",
                log::Level::Debug | log::Level::Trace => "DBG",
            };
            writeln!(buf, "{} [{tag}] {}", buf.timestamp_millis(), rec.args())
        })
        .init();
}

fn main() {
    let opts = match cli::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("pipy: {}", e.0);
            eprintln!("Try 'pipy --help' for more information.");
            std::process::exit(2);
        }
    };
    init_logging(opts.log_level);
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
            for f in FILTERS {
                println!("{:<22} {}", f.name, f.params);
            }
            0
        }
        Mode::HelpFilters => {
            for f in FILTERS {
                println!("{}({})\n    {}\n", f.name, f.params, f.help);
            }
            0
        }
        Mode::Signal(_) | Mode::Verify | Mode::Run => run(opts),
    };
    std::process::exit(code);
}

fn run(opts: cli::Options) -> i32 {
    let Some(script) = opts.script.clone() else {
        eprintln!("pipy: no script given (pass a file or set PIPY_CONFIG_FILE)");
        return 2;
    };
    match pipy::program::evaluate(&script) {
        Err(e) => {
            eprintln!("{e}");
            1
        }
        Ok(loaded) => {
            if opts.mode == Mode::Verify {
                print!("{}", loaded.graph.describe());
                println!("Script OK");
                return 0;
            }
            pipy::program::run_single_process(loaded)
        }
    }
}
