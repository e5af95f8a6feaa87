//! Parsing of `listen`/`connect` addresses: `8080`, `"ip:port"`, `"[v6]:port"`, `"host:port"`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};

/// `listen` address: a bare port binds `0.0.0.0` (IPv4 only, as in Pipy).
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    s.parse::<SocketAddr>()
        .map_err(|_| format!("invalid listen address: {s}"))
}

/// Splits `host:port` / `[v6]:port`.
pub fn split_host_port(s: &str) -> Result<(String, u16), String> {
    let bad = || format!("invalid target address: {s}");
    if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest.split_once("]:").ok_or_else(bad)?;
        return Ok((host.to_string(), port.parse().map_err(|_| bad())?));
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_string(), port.parse().map_err(|_| bad())?))
}

/// Resolves a connect target. IP literals and `localhost` never touch the resolver; other names
/// use the system resolver (blocking; a cache is the next step for name-heavy configs).
pub fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    if host.eq_ignore_ascii_case("localhost") {
        return Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    (host, port).to_socket_addrs().ok()?.next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_forms() {
        assert_eq!(parse_listen("8080").unwrap().to_string(), "0.0.0.0:8080");
        assert_eq!(
            parse_listen("127.0.0.1:81").unwrap().to_string(),
            "127.0.0.1:81"
        );
        assert_eq!(parse_listen("[::1]:82").unwrap().to_string(), "[::1]:82");
        assert!(parse_listen("x").is_err());
    }

    #[test]
    fn targets() {
        assert_eq!(split_host_port("a.b:80").unwrap(), ("a.b".into(), 80));
        assert_eq!(split_host_port("[::1]:80").unwrap(), ("::1".into(), 80));
        assert!(split_host_port("nope").is_err());
        assert_eq!(resolve("localhost", 1).unwrap().to_string(), "127.0.0.1:1");
    }
}
