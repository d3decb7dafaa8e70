//! The real-world corpus: unmodified Debian daemons, each started by hand
//! on 127.0.0.1 in a throwaway cgroup, reported on by the real agent and
//! compared with gdb.
//!
//! One module per service says how to configure and start it
//! ([`nginx`], [`redis`], [`postgres`], [`memcached`], [`apache`],
//! [`uwsgi`], [`node_exporter`], [`java`]); [`launch`] holds what they
//! share (ports, spawning into a cgroup, waiting), [`secrets`] plants and
//! looks for secrets, [`run`] starts the services and the agent and
//! triggers each tag, [`checks`] checks each process and secret, and
//! [`table`] prints the outcome. Config templates
//! live in `tests/realworld/`.

pub mod apache;
pub mod checks;
pub mod java;
pub mod launch;
pub mod memcached;
pub mod nginx;
pub mod node_exporter;
pub mod postgres;
pub mod redis;
pub mod run;
pub mod secrets;
pub mod table;
pub mod uwsgi;

use std::path::{Path, PathBuf};
use std::process::Child;

use crate::TestCgroup;
use secrets::{Place, Secret};

/// One service of the corpus: what it needs and how to start it.
pub struct Service {
    /// Short name: the tag name, the service's directory and the table's
    /// first column.
    pub name: &'static str,
    /// Files that must exist to run it (daemon binary, plugin, module);
    /// a missing one skips the service with its path printed.
    pub needs: &'static [&'static str],
    /// Lowest share of gdb's named frames the report must match over the
    /// service's processes; each module justifies its value.
    pub match_floor: f64,
    /// Whether every thread's stack in the report must reach where the
    /// thread began (`start_thread`, `_start`…).
    pub complete_stacks: bool,
    /// Whether every user frame of the report must be named, and no stack
    /// end where frame pointers went backwards (a Go daemon: its
    /// `.gopclntab` names every frame, stripped or not, and its stacks end
    /// where the Go runtime's traceback ends them).
    pub every_frame_named: bool,
    /// Configures and starts the service in `dir`, inside `cgroup`.
    pub start: fn(&Start) -> Result<Started, String>,
}

/// What a service module gets to start its daemon.
pub struct Start<'a> {
    /// The service's own scratch directory (its configs, data, logs).
    pub dir: &'a Path,
    /// The empty cgroup the daemon must start in.
    pub cgroup: &'a TestCgroup,
    /// Secret values unique to this run, made by [`Start::secret`].
    pub nonce: &'a str,
}

impl Start<'_> {
    /// A secret for `label`, planted in the service's file `file`.
    pub fn file_secret(&self, service: &str, label: &'static str, file: &str) -> Secret {
        Secret::new(service, label, Place::File(self.dir.join(file)), self.nonce)
    }

    /// A secret for `label`, given as the value of command-line `option`.
    pub fn argument_secret(
        &self,
        service: &str,
        label: &'static str,
        option: &'static str,
    ) -> Secret {
        Secret::new(service, label, Place::Argument(option), self.nonce)
    }

    /// The service's `SECRET_TOKEN` environment secret.
    pub fn environment_secret(&self, service: &str) -> Secret {
        Secret::new(
            service,
            "environment SECRET_TOKEN",
            Place::Environment,
            self.nonce,
        )
    }

    /// The scratch directory as text, as configs and command lines need it.
    pub fn dir_text(&self) -> Result<&str, String> {
        self.dir
            .to_str()
            .ok_or_else(|| "non-UTF-8 scratch path".to_owned())
    }

    /// Writes the service's config `name` from template `text`, with
    /// `@DIR@` (the scratch directory) and each of `values` filled in.
    pub fn write_config(
        &self,
        name: &str,
        text: &str,
        values: &[(&str, &str)],
    ) -> Result<PathBuf, String> {
        let mut all = vec![("DIR", self.dir_text()?)];
        all.extend_from_slice(values);
        launch::write(self.dir, name, &template(text, &all))
    }

    /// Spawns `argv` in the service's cgroup with only `environment`
    /// planted in its environment, then waits until `ready` holds (`what`
    /// names it in the error) and the cgroup runs `processes` processes.
    pub fn launch(
        &self,
        environment: &Secret,
        argv: &[&str],
        what: &str,
        ready: impl FnMut() -> bool,
        processes: usize,
    ) -> Result<Child, String> {
        let child = launch::spawn_in(
            self.cgroup,
            self.dir,
            &secrets::environment(environment),
            argv,
        )?;
        launch::wait_until(what, self.dir, ready)?;
        launch::wait_for_processes(self.cgroup, self.dir, processes)?;
        Ok(child)
    }
}

/// Whether the web server on 127.0.0.1:`port` serves the corpus's
/// `app.py` (or nginx's page that says the same).
pub fn serves_corpus_app(port: u16) -> bool {
    launch::http_get(port, "/").is_ok_and(|r| r.contains("corpus ok"))
}

/// A config file's path as a command-line argument.
pub fn path_arg(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("non-UTF-8 path {}", path.display()))
}

/// A service started and ready: what the agent and the checks need.
pub struct Started {
    /// The processes spawned directly (reaped when the corpus ends).
    pub children: Vec<Child>,
    /// The file the daemon's stderr (fd 2) was opened on.
    pub stderr: PathBuf,
    /// Files the tag's `config_files` must show (secrets planted in them).
    pub config_files: Vec<PathBuf>,
    /// Every secret planted for this service (files, environment, argv).
    pub secrets: Vec<Secret>,
    /// How many processes the service runs once ready.
    pub processes: usize,
    /// Cgroups of what the service needs but the agent does not tag (a
    /// message broker); dropping them stops those.
    pub helpers: Vec<TestCgroup>,
}

impl Started {
    /// The service `ctx` started as the one process tree `child`, running
    /// `processes` processes, needing nothing else.
    pub fn one(
        ctx: &Start,
        child: Child,
        config_files: Vec<PathBuf>,
        secrets: Vec<Secret>,
        processes: usize,
    ) -> Self {
        Self {
            children: vec![child],
            stderr: ctx.dir.join("stderr"),
            config_files,
            secrets,
            processes,
            helpers: Vec::new(),
        }
    }
}

/// Every service of the corpus, in the table's order.
pub fn services() -> Vec<Service> {
    vec![
        nginx::SERVICE,
        redis::SERVICE,
        postgres::SERVICE,
        memcached::SERVICE,
        apache::SERVICE,
        uwsgi::SERVICE,
        node_exporter::SERVICE,
        java::SERVICE,
    ]
}

/// A template from `tests/realworld/` with each `@KEY@` replaced.
#[track_caller]
pub fn template(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (key, value) in values {
        out = out.replace(&format!("@{key}@"), value);
    }
    let unfilled =
        out.split('@').skip(1).step_by(2).find(|key| {
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        });
    assert!(
        unfilled.is_none(),
        "template placeholder @{}@ left unfilled",
        unfilled.unwrap_or_default()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_fills_every_placeholder_and_keeps_comments() {
        let text = "# @…@ are filled\nlisten @DIR@:@PORT@;\n";
        assert_eq!(
            template(text, &[("DIR", "/x"), ("PORT", "80")]),
            "# @…@ are filled\nlisten /x:80;\n"
        );
    }

    #[test]
    #[should_panic(expected = "@SECRET@ left unfilled")]
    fn template_refuses_an_unfilled_placeholder() {
        template("a @DIR@ b @SECRET@", &[("DIR", "/x")]);
    }
}
