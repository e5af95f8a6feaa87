//! Acceptance, command line: `--verify` on good scripts and with `file:line:column` on bad ones,
//! `--list-filters` / `--help-filters`, `--help`, `--version`, unknown options (exit 2),
//! `PIPY_CONFIG_FILE`, the log line format, and that the static `serveHTTP` path runs no JS per
//! request (the `js-calls=<N>` counter in the debug log).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every filter named in issue 2, "Deliver" item 6.
const ISSUE_2_FILTERS: &[&str] = &[
    "serveHTTP",
    "demuxHTTP",
    "decodeHTTPRequest",
    "encodeHTTPResponse",
    "decodeHTTPResponse",
    "encodeHTTPRequest",
    "handleStreamStart",
    "handleMessageStart",
    "handleMessage",
    "handleMessageBody",
    "handleMessageEnd",
    "handleData",
    "handleStreamEnd",
    "replaceMessage",
    "replaceMessageStart",
    "replaceMessageBody",
    "replaceMessageEnd",
    "replaceData",
    "replaceStreamStart",
    "replaceStreamEnd",
    "link",
    "dump",
    "print",
    "dummy",
];

fn path_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Whether `text` contains `word` delimited by characters that cannot be part of an identifier.
fn contains_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// A `<file>:<line>:<column>: <message>` diagnostic about `file_name` found in `stderr`.
struct Diagnostic {
    line: u32,
    column: u32,
    message: String,
}

fn find_diagnostic(stderr: &str, file_name: &str) -> Option<Diagnostic> {
    let needle = format!("{file_name}:");
    stderr.lines().find_map(|text| {
        let (_, rest) = text.split_once(&needle)?;
        let mut parts = rest.splitn(3, ':');
        let line = parts.next()?.trim().parse().ok()?;
        let column = parts.next()?.trim().parse().ok()?;
        let message = parts.next()?.trim().to_string();
        Some(Diagnostic {
            line,
            column,
            message,
        })
    })
}

/// Runs `--verify` on a script written to a temp dir and returns the parsed diagnostic.
fn verify_failure(file_name: &str, source: &str) -> (CliRun, Diagnostic) {
    let dir = TempDir::new("verify");
    let file = dir.write(file_name, source);
    verify_failure_of(&file, file_name)
}

fn verify_failure_of(file: &Path, reported_name: &str) -> (CliRun, Diagnostic) {
    let run = run_cli(&["--verify", &path_arg(file)], &[("PORT", "8080")]);
    assert_ne!(run.code(), 0, "--verify must fail: {run:?}");
    let diagnostic = find_diagnostic(&run.stderr, reported_name)
        .unwrap_or_else(|| panic!("no `{reported_name}:line:column: message` on stderr: {run:?}"));
    (run, diagnostic)
}

fn scripts_in(dir: &Path) -> Vec<PathBuf> {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "js"))
        .collect();
    scripts.sort();
    scripts
}

#[test]
fn verify_passes_on_the_examples_and_test_scripts() {
    let mut scripts = scripts_in(&repo_root().join("examples"));
    assert!(!scripts.is_empty(), "no examples found");
    scripts.extend(scripts_in(&repo_root().join("tests").join("scripts")));
    for script in scripts {
        let run = run_cli(
            &["--verify", &path_arg(&script)],
            &[("PORT", "8080"), ("PORT_V6", "8081")],
        );
        assert_eq!(run.code(), 0, "--verify {}: {run:?}", script.display());
    }
}

#[test]
fn verify_prints_the_pipeline_graph() {
    let run = run_cli(
        &["--verify", &path_arg(&script("link.js"))],
        &[("PORT", "8080")],
    );
    assert_eq!(run.code(), 0, "{run:?}");
    let output = run.all_output();
    for name in [
        "demuxHTTP",
        "handleMessageStart",
        "link",
        "replaceMessage",
        "req",
        "other",
    ] {
        assert!(contains_word(&output, name), "graph lacks {name}: {run:?}");
    }
}

#[test]
fn verify_does_not_listen() {
    let port = free_port();
    let dir = TempDir::new("verify-listen");
    let file = dir.write(
        "listen.js",
        &format!("pipy().listen({port}).serveHTTP(new Message('x'))\n"),
    );
    // Held without SO_REUSEPORT while --verify runs: a verify that listened would fail to bind.
    let _held = std::net::TcpListener::bind(("0.0.0.0", port)).expect("hold the port");
    let run = run_cli(&["--verify", &path_arg(&file)], &[]);
    assert_eq!(run.code(), 0, "{run:?}");
}

#[test]
fn verify_reports_syntax_error_position() {
    let source = "pipy()\n\n.listen(8080)\n.serveHTTP(new Message('x' + ))\n";
    // Line 4 is `.serveHTTP(new Message('x' + ))`; the unexpected `)` is at column 30.
    let (run, diagnostic) = verify_failure("bad-syntax.js", source);
    assert_eq!(diagnostic.line, 4, "{run:?}");
    assert_eq!(
        diagnostic.column, 30,
        "column of the unexpected `)`: {run:?}"
    );
    assert!(!diagnostic.message.is_empty(), "{run:?}");
}

#[test]
fn verify_reports_unclosed_string_line() {
    let source = "pipy()\n.listen(8080)\n.serveHTTP(\n  new Message('unterminated)\n)\n";
    let (run, diagnostic) = verify_failure("bad-string.js", source);
    assert_eq!(diagnostic.line, 4, "{run:?}");
}

#[test]
fn verify_reports_unknown_pipeline_in_link() {
    let source = "pipy()\n\n.listen(8080)\n.demuxHTTP('req')\n\n.pipeline('req')\n.link('nope')\n";
    let (run, diagnostic) = verify_failure("bad-link.js", source);
    assert!(
        diagnostic.message.contains("pipeline not found: nope"),
        "{run:?}"
    );
    assert_eq!(diagnostic.line, 7, "line of the link call: {run:?}");
}

#[test]
fn verify_reports_an_import_nobody_exports_with_its_namespace() {
    let dir = TempDir::new("verify");
    let file = dir.write(
        "bad-import.js",
        "pipy()\n.import({ __x: 'ns1' })\n.listen(8080)\n.dummy()\n",
    );
    let run = run_cli(&["--verify", &path_arg(&file)], &[]);
    assert_ne!(run.code(), 0, "--verify must fail: {run:?}");
    assert!(
        run.stderr
            .contains("bad-import.js: cannot import variable __x in ns1"),
        "{run:?}"
    );
}

#[test]
fn verify_reports_unknown_pipeline_in_demux_http() {
    let source = "pipy()\n\n.listen(8080)\n.demuxHTTP('nope')\n";
    let (run, diagnostic) = verify_failure("bad-demux.js", source);
    assert!(
        diagnostic.message.contains("pipeline not found: nope"),
        "{run:?}"
    );
    assert_eq!(diagnostic.line, 4, "line of the demuxHTTP call: {run:?}");
}

#[test]
fn verify_reports_unknown_pipeline_among_link_conditions() {
    let source = "pipy()\n.listen(8080)\n.demuxHTTP('req')\n.pipeline('req')\n.link(\n  'req2', () => true,\n  'missing'\n)\n.pipeline('req2')\n.dummy()\n";
    let (run, diagnostic) = verify_failure("bad-link-cond.js", source);
    assert!(
        diagnostic.message.contains("pipeline not found: missing"),
        "{run:?}"
    );
    assert!(
        (5..=7).contains(&diagnostic.line),
        "line of the link call (5..7): {run:?}"
    );
}

#[test]
fn verify_reports_unknown_filter() {
    let source = "pipy()\n\n.listen(8080).fooBar()\n";
    let (run, diagnostic) = verify_failure("bad-filter.js", source);
    assert!(diagnostic.message.contains("fooBar"), "{run:?}");
    assert_eq!(diagnostic.line, 3, "{run:?}");
}

#[test]
fn verify_reports_errors_inside_used_modules() {
    let dir = TempDir::new("verify-module");
    let main = dir.write(
        "main.js",
        "pipy()\n.listen(8080)\n.demuxHTTP('req')\n.pipeline('req')\n.use('mods/broken.js', 'p')\n",
    );
    dir.write(
        "mods/broken.js",
        "pipy()\n\n.pipeline('p')\n.link('gone')\n",
    );
    let (run, diagnostic) = verify_failure_of(&main, "broken.js");
    assert!(
        diagnostic.message.contains("pipeline not found: gone"),
        "{run:?}"
    );
    assert_eq!(diagnostic.line, 4, "{run:?}");
}

#[test]
fn verify_fails_on_a_missing_file() {
    let run = run_cli(&["--verify", "/nonexistent/dir/missing.js"], &[]);
    assert_ne!(run.code(), 0, "{run:?}");
    assert!(
        run.stderr.contains("missing.js"),
        "the message should name the file: {run:?}"
    );
}

#[test]
fn list_filters_names_every_filter_of_issue_2() {
    let run = run_cli(&["--list-filters"], &[]);
    assert_eq!(run.code(), 0, "{run:?}");
    for filter in ISSUE_2_FILTERS {
        assert!(
            run.stdout.lines().any(|line| contains_word(line, filter)),
            "--list-filters lacks {filter}: {run:?}"
        );
    }
}

#[test]
fn help_filters_describes_filters() {
    let run = run_cli(&["--help-filters"], &[]);
    assert_eq!(run.code(), 0, "{run:?}");
    for filter in ISSUE_2_FILTERS {
        assert!(
            contains_word(&run.stdout, filter),
            "--help-filters lacks {filter}: {run:?}"
        );
    }
    let listed = run_cli(&["--list-filters"], &[]);
    assert!(
        run.stdout.len() > listed.stdout.len(),
        "--help-filters should say more than --list-filters"
    );
}

#[test]
fn help_prints_usage_and_exits_0() {
    let run = run_cli(&["--help"], &[]);
    assert_eq!(run.code(), 0, "{run:?}");
    let lower = run.stdout.to_ascii_lowercase();
    assert!(lower.contains("usage"), "{run:?}");
    for option in [
        "--verify",
        "--log-level",
        "--list-filters",
        "--help-filters",
        "--version",
    ] {
        assert!(
            run.stdout.contains(option),
            "--help lacks {option}: {run:?}"
        );
    }
    assert!(
        run.stdout.contains("PIPY_CONFIG_FILE"),
        "--help should mention PIPY_CONFIG_FILE: {run:?}"
    );
}

#[test]
fn version_prints_the_package_version() {
    let run = run_cli(&["--version"], &[]);
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(run.stdout.contains(env!("CARGO_PKG_VERSION")), "{run:?}");
}

#[test]
fn unknown_option_exits_2_with_a_message() {
    let run = run_cli(
        &["--bogus-option", &path_arg(&script("hello.js"))],
        &[("PORT", "0")],
    );
    assert_eq!(run.code(), 2, "{run:?}");
    assert!(run.stderr.contains("unknown option"), "{run:?}");
    assert!(
        run.stderr.contains("--bogus-option"),
        "the message should name the option: {run:?}"
    );
}

#[test]
fn invalid_log_level_is_rejected() {
    let run = run_cli(
        &["--log-level=loud", &path_arg(&script("hello.js"))],
        &[("PORT", "0")],
    );
    assert_ne!(run.code(), 0, "{run:?}");
    assert!(
        run.stderr.contains("loud"),
        "the message should name the bad value: {run:?}"
    );
}

#[test]
fn no_script_and_no_environment_fails() {
    let run = run_cli_clean_env(&[], &[]);
    assert_ne!(run.code(), 0, "{run:?}");
    assert!(!run.stderr.is_empty(), "{run:?}");
}

#[test]
fn missing_script_file_fails_with_its_name() {
    let run = run_cli(&["/nonexistent/dir/missing.js"], &[]);
    assert_ne!(run.code(), 0, "{run:?}");
    assert!(run.stderr.contains("missing.js"), "{run:?}");
}

#[test]
fn pipy_config_file_names_the_script() {
    let port = free_port();
    let port_text = port.to_string();
    let script_path = path_arg(&script("hello.js"));
    let mut pipy = Pipy::spawn(
        &[],
        &[("PIPY_CONFIG_FILE", &script_path), ("PORT", &port_text)],
    );
    pipy.wait_port(port);
    assert_bytes_eq(&http_get(port, "/").raw, HELLO_RESPONSE);
}

#[test]
fn command_line_script_wins_over_pipy_config_file() {
    let port = free_port();
    let port_text = port.to_string();
    let mut pipy = Pipy::spawn(
        &[&path_arg(&script("counter.js"))],
        &[
            ("PIPY_CONFIG_FILE", &path_arg(&script("hello.js"))),
            ("PORT", &port_text),
        ],
    );
    pipy.wait_port(port);
    assert_eq!(http_get(port, "/").text(), "1");
}

/// `YYYY-MM-DD HH:MM:SS.mmm [XXX] ` prefix check.
fn has_log_prefix(line: &str, level: &str) -> bool {
    let bytes = line.as_bytes();
    let digit_at = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let char_at = |i: usize, c: u8| bytes.get(i) == Some(&c);
    let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
    digits.iter().all(|&i| digit_at(i))
        && char_at(4, b'-')
        && char_at(7, b'-')
        && char_at(10, b' ')
        && char_at(13, b':')
        && char_at(16, b':')
        && char_at(19, b'.')
        && char_at(23, b' ')
        && line
            .get(24..)
            .is_some_and(|rest| rest.starts_with(&format!("[{level}] ")))
}

#[test]
fn log_lines_have_timestamp_and_level_and_announce_the_listener() {
    let (pipy, port) = Pipy::serve_script("hello.js");
    let wanted = format!("Listening on port {port} at ");
    assert!(
        pipy.stderr_contains(&wanted, Duration::from_secs(5)),
        "stderr:\n{}",
        pipy.stderr()
    );
    let log = pipy.stderr();
    let line = log
        .lines()
        .find(|l| l.contains(&wanted))
        .unwrap_or_default();
    assert!(has_log_prefix(line, "INF"), "bad log line format: {line:?}");
}

#[test]
fn log_level_error_hides_info_lines() {
    let port = free_port();
    let pipy = Pipy::serve(&script("hello.js"), port, &["--log-level=error"]);
    assert_bytes_eq(&http_get(port, "/").raw, HELLO_RESPONSE);
    assert!(
        !pipy.stderr().contains("[INF]"),
        "info lines at --log-level=error:\n{}",
        pipy.stderr()
    );
}

/// All `js-calls=<N>` values logged so far, in order.
fn js_call_counts(log: &str) -> Vec<u64> {
    log.match_indices("js-calls=")
        .filter_map(|(at, key)| {
            let digits: String = log[at + key.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// Serves `script_name` at debug level, makes `requests` requests on one connection plus one
/// request on each of two more connections, closes them, and returns the js-calls counts logged
/// once all four connections (ours and the readiness probe of `Pipy::serve`) have closed.
fn js_calls_after_requests(script_name: &str, requests: usize) -> (Pipy, Vec<u64>) {
    /// The probe connection of `wait_port` plus the three connections below.
    const CONNECTIONS: usize = 4;
    let port = free_port();
    let pipy = Pipy::serve(&script(script_name), port, &["--log-level=debug"]);
    {
        let mut conn = Conn::open(port);
        for _ in 0..requests {
            assert_eq!(conn.roundtrip(&get("/")).status, 200);
        }
    }
    for _ in 0..2 {
        assert_eq!(http_get(port, "/").status, 200);
    }
    let ok = pipy.wait_stderr(Duration::from_secs(5), |log| {
        js_call_counts(log).len() >= CONNECTIONS
    });
    assert!(
        ok,
        "expected a js-calls=<N> debug line per closed connection; stderr:\n{}",
        pipy.stderr()
    );
    let counts = js_call_counts(&pipy.stderr());
    (pipy, counts)
}

#[test]
fn static_serve_http_runs_no_js_per_request() {
    let (pipy, counts) = js_calls_after_requests("hello.js", 100);
    assert!(
        counts.iter().all(|&n| n == 0),
        "static path called JS: {counts:?}\n{}",
        pipy.stderr()
    );
}

#[test]
fn js_calls_counter_counts_callbacks() {
    // Control for the test above: a callback handler must move the counter.
    let (pipy, counts) = js_calls_after_requests("counter.js", 10);
    let most = counts.iter().copied().max().unwrap_or_default();
    assert!(
        most >= 12,
        "12 callback requests but js-calls={most}: {counts:?}\n{}",
        pipy.stderr()
    );
}
