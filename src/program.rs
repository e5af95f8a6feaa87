//! Glue between an evaluated script and the processes that run it.

use crate::js::config::{LoadedScript, load_script};
use crate::worker::Worker;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Binds a listening socket the way the master does (SO_REUSEPORT, non-blocking).
pub fn bind_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    Ok(s.into())
}

/// Evaluates the script at `path`.
pub fn evaluate(path: &Path) -> Result<LoadedScript, String> {
    load_script(path)
}

/// Runs one worker in this process, without a master.
pub fn run_single_process(script: LoadedScript) -> i32 {
    let mut listeners = Vec::new();
    for spec in &script.graph.listens {
        match bind_listener(spec.addr) {
            Ok(l) => listeners.push((spec.addr, l)),
            Err(e) => {
                log::error!("cannot listen on {}: {e}", spec.addr);
                return 1;
            }
        }
    }
    let LoadedScript { graph, runtime } = script;
    let mut worker = match Worker::new(Rc::new(graph), runtime, listeners, None) {
        Ok(w) => w,
        Err(e) => {
            log::error!("cannot start worker: {e}");
            return 1;
        }
    };
    if let Err(e) = worker.handle_stop_signals() {
        log::error!("cannot install signal handlers: {e}");
        return 1;
    }
    worker.run()
}

/// The script's path made absolute, so reloads find it whatever the working directory.
pub fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}
