//! Glue between an evaluated script and the processes that run it.

use crate::js::config::{LoadedScript, load_script};
use crate::worker::Worker;
use crate::worker::control::{Command, ControlPort};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Evaluates the script at `path`.
pub fn evaluate(path: &Path) -> Result<LoadedScript, String> {
    load_script(path)
}

/// Runs one worker in this process, without a master.
pub fn run_single_process(script: LoadedScript) -> i32 {
    let mut listeners = Vec::new();
    for spec in &script.graph.listens {
        match crate::daemon::listeners::bind_one(spec.addr) {
            Ok(l) => listeners.push((spec.addr, l.into())),
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
    if let Err(e) =
        worker.handle_stop_signals(&[signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT])
    {
        log::error!("cannot install signal handlers: {e}");
        return 1;
    }
    worker.run()
}

/// The script's path made absolute, so reloads find it whatever the working directory.
pub fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Evaluates the script for the master (at start and on every reload).
pub struct ScriptFileLoader {
    pub path: PathBuf,
}

impl crate::daemon::ScriptLoader for ScriptFileLoader {
    fn load(&mut self) -> Result<Box<dyn crate::daemon::Program>, String> {
        let script = load_script(&self.path)?;
        let addrs = script.graph.listens.iter().map(|l| l.addr).collect();
        Ok(Box::new(EvaluatedProgram {
            script: std::cell::RefCell::new(Some(script)),
            addrs,
        }))
    }
}

/// An evaluated script held by the master; each forked worker takes its own copy of it.
pub struct EvaluatedProgram {
    script: std::cell::RefCell<Option<LoadedScript>>,
    addrs: Vec<SocketAddr>,
}

impl crate::daemon::Program for EvaluatedProgram {
    fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    fn run_worker(&self, start: crate::daemon::WorkerStart) -> i32 {
        // Forked workers share the parent's RNG state: reseed so Math.random differs per worker.
        if let Err(e) = rand::rng().reseed() {
            log::warn!("cannot reseed the random generator: {e}");
        }
        let Some(script) = self.script.borrow_mut().take() else {
            log::error!("worker started twice from one program");
            return 1;
        };
        let LoadedScript { graph, runtime } = script;
        log::debug!(
            "worker {} of generation {} starting",
            start.slot,
            start.generation
        );
        let control: Box<dyn ControlPort> = Box::new(start.control);
        match Worker::new(Rc::new(graph), runtime, start.listeners, Some(control)) {
            Ok(w) => w.run(),
            Err(e) => {
                log::error!("cannot start worker: {e}");
                1
            }
        }
    }
}

impl ControlPort for crate::daemon::control::WorkerControl {
    fn fd(&self) -> std::os::fd::RawFd {
        self.as_raw_fd()
    }

    fn ready(&mut self) -> std::io::Result<()> {
        self.send_ready()
    }

    fn draining(&mut self) -> std::io::Result<()> {
        self.send_draining()
    }

    fn poll_command(&mut self) -> std::io::Result<Option<Command>> {
        use crate::daemon::control::ControlMessage;
        loop {
            return match self.try_recv()? {
                None => Ok(None),
                Some(ControlMessage::Drain) => Ok(Some(Command::Drain)),
                Some(ControlMessage::Quit) => Ok(Some(Command::Quit)),
                Some(ControlMessage::Ready | ControlMessage::Draining) => continue,
            };
        }
    }
}
