//! Command-line options of `bench-latency`.

use std::time::Duration;

/// Printed after an argument error.
pub const USAGE: &str = "usage: bench-latency --url http://HOST:PORT/PATH [--rate REQ_PER_S] \
[--duration SECONDS] [--connections N] [--warmup SECONDS]";

/// What to measure and how hard to push.
#[derive(Debug, PartialEq)]
pub struct Options {
    /// `host:port` to connect to, also sent as the `Host` header.
    pub authority: String,
    /// Request target, starting with `/`.
    pub path: String,
    /// Requests per second over all connections together.
    pub rate: f64,
    /// How long results are recorded, after the warm-up.
    pub duration: Duration,
    /// Keep-alive connections sharing the rate.
    pub connections: usize,
    /// Requests sent before recording starts (connections opened, caches warm).
    pub warmup: Duration,
}

impl Options {
    /// Parses `--name value` pairs; `--url` is required.
    pub fn parse(mut arguments: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut url = None;
        let mut options = Options {
            authority: String::new(),
            path: String::new(),
            rate: 1000.0,
            duration: Duration::from_secs(10),
            connections: 4,
            warmup: Duration::from_secs(1),
        };
        while let Some(name) = arguments.next() {
            let value = arguments
                .next()
                .ok_or_else(|| format!("{name} needs a value"))?;
            match name.as_str() {
                "--url" => url = Some(value),
                "--rate" => options.rate = positive_number(&name, &value)?,
                "--duration" => options.duration = seconds(&name, &value)?,
                "--warmup" => options.warmup = seconds(&name, &value)?,
                "--connections" => {
                    options.connections = value
                        .parse()
                        .ok()
                        .filter(|&count| count > 0)
                        .ok_or_else(|| format!("{name}: expected a positive integer"))?;
                }
                _ => return Err(format!("unknown option {name}")),
            }
        }
        let url = url.ok_or("--url is required")?;
        let rest = url
            .strip_prefix("http://")
            .ok_or("only http:// URLs are supported")?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        if !authority.contains(':') {
            return Err("the URL needs an explicit port".into());
        }
        options.authority = authority.to_string();
        options.path = path.to_string();
        Ok(options)
    }
}

fn positive_number(name: &str, value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite() && *number > 0.0)
        .ok_or_else(|| format!("{name}: expected a positive number"))
}

fn seconds(name: &str, value: &str) -> Result<Duration, String> {
    let text = value.strip_suffix('s').unwrap_or(value);
    match text.parse::<f64>() {
        Ok(number) if number.is_finite() && number >= 0.0 => Ok(Duration::from_secs_f64(number)),
        _ => Err(format!("{name}: expected seconds")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Options, String> {
        Options::parse(line.split_whitespace().map(String::from))
    }

    #[test]
    fn url_splits_into_authority_and_path() {
        let options = parse("--url http://127.0.0.1:8080/a/b?c=1 --rate 500 --duration 3s")
            .expect("valid options");
        assert_eq!(options.authority, "127.0.0.1:8080");
        assert_eq!(options.path, "/a/b?c=1");
        assert_eq!(options.rate, 500.0);
        assert_eq!(options.duration, Duration::from_secs(3));
    }

    #[test]
    fn missing_path_means_root() {
        let options = parse("--url http://localhost:80").expect("valid options");
        assert_eq!(options.path, "/");
    }

    #[test]
    fn bad_input_is_rejected() {
        assert!(parse("--rate 10").is_err());
        assert!(parse("--url https://x:1/").is_err());
        assert!(parse("--url http://x/").is_err());
        assert!(parse("--url http://x:1/ --connections 0").is_err());
        assert!(parse("--url http://x:1/ --rate").is_err());
    }
}
