//! `--user` / `--group`: the master (root) binds privileged ports, workers drop to an unprivileged
//! identity right after fork, before they run any script code.

use nix::unistd::{Gid, Group, Uid, User, setgid, setgroups, setuid};

/// The identity workers switch to.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// For log lines.
    pub description: String,
    /// Set unless only `--group` was given.
    pub uid: Option<Uid>,
    /// The group, or the user's primary group.
    pub gid: Gid,
}

impl Credentials {
    /// Resolves the names at master start-up, so a typo fails there rather than in every
    /// worker. `Ok(None)` when neither was given.
    pub fn resolve(user: Option<&str>, group: Option<&str>) -> Result<Option<Credentials>, String> {
        if user.is_none() && group.is_none() {
            return Ok(None);
        }
        if !Uid::effective().is_root() {
            return Err("--user/--group need the master to run as root".to_string());
        }
        let user_entry = match user {
            Some(name) => Some(
                User::from_name(name)
                    .map_err(|e| format!("cannot look up user {name:?}: {e}"))?
                    .ok_or_else(|| format!("unknown user {name:?}"))?,
            ),
            None => None,
        };
        let gid = match (group, &user_entry) {
            (Some(name), _) => {
                Group::from_name(name)
                    .map_err(|e| format!("cannot look up group {name:?}: {e}"))?
                    .ok_or_else(|| format!("unknown group {name:?}"))?
                    .gid
            }
            (None, Some(entry)) => entry.gid,
            (None, None) => return Err("neither user nor group".to_string()),
        };
        Ok(Some(Credentials {
            description: format!("user {} group {}", user.unwrap_or("(unchanged)"), gid),
            uid: user_entry.map(|entry| entry.uid),
            gid,
        }))
    }

    /// Switches this (worker) process: supplementary groups, group, then user — in that order,
    /// because after setuid the process may no longer change its groups.
    pub fn apply(&self) -> Result<(), String> {
        setgroups(&[self.gid]).map_err(|e| format!("setgroups: {e}"))?;
        setgid(self.gid).map_err(|e| format!("setgid({}): {e}", self.gid))?;
        if let Some(uid) = self.uid {
            setuid(uid).map_err(|e| format!("setuid({uid}): {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_requested_is_none() {
        assert!(Credentials::resolve(None, None).expect("ok").is_none());
    }

    #[test]
    fn unknown_user_or_non_root_is_an_error() {
        let err = Credentials::resolve(Some("no-such-user-pipy-test"), None).expect_err("error");
        assert!(
            err.contains("no-such-user-pipy-test") || err.contains("root"),
            "{err}"
        );
    }
}
