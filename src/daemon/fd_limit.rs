//! The limit on open descriptors (`RLIMIT_NOFILE`). Every connection holds one, two when
//! proxied, and the usual soft limit of 1 024 would stop a worker near a thousand connections
//! while the hard limit allows far more. Like HAProxy (and Go's runtime), pipy raises its soft
//! limit to the hard one at start; the hard limit (`LimitNOFILE=` in systemd/pipy.service,
//! `ulimit -Hn` in a shell) says how far. Child processes (`exec`) inherit the raised limit.

/// Raises the soft limit on open descriptors to the hard limit; logs what it did. A failure
/// is logged and leaves the limit as it was.
pub fn raise_soft_to_hard() {
    match try_raise() {
        Ok(Raised { from, to }) if from < to => {
            log::info!("open files limit raised from {from} to {to}");
        }
        Ok(Raised { to, .. }) => log::debug!("open files limit is {to}"),
        Err(e) => log::warn!("cannot raise the open files limit: {e}"),
    }
}

struct Raised {
    from: libc::rlim_t,
    to: libc::rlim_t,
}

fn try_raise() -> std::io::Result<Raised> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid `rlimit` for the kernel to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let from = limit.rlim_cur;
    // An unlimited hard limit cannot be the soft one: Linux caps it at fs.nr_open.
    let to = if limit.rlim_max == libc::RLIM_INFINITY {
        nr_open().unwrap_or(from)
    } else {
        limit.rlim_max
    };
    if to <= from {
        return Ok(Raised { from, to: from });
    }
    limit.rlim_cur = to;
    // SAFETY: `limit` is a valid `rlimit`; only the soft value changed, within the hard one.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Raised { from, to })
}

/// The most descriptors a Linux process may have open (`fs.nr_open`).
fn nr_open() -> Option<libc::rlim_t> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}
