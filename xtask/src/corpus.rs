//! The Debian packages of the real-world corpus (`tests/tests/realworld.rs`):
//! installed before the cargo tests so the corpus runs real daemons; when
//! apt cannot reach the archive the corpus skips the services it lacks.

use crate::packages;

/// The daemons the corpus starts by hand: nginx, redis, PostgreSQL 15,
/// memcached, apache2 with mod_wsgi, uWSGI with its python3 plugin, a Go
/// daemon, and a JDK to compile and run the Java program; and haproxy and
/// nslcd, whose shipped configuration files the masking tests plant secrets
/// in (`sections::configuration` unit tests), never started; and the
/// OpenStack corpus' services (`tests/tests/openstack.rs`): heat-api (185
/// packages, 29 MB downloaded, 173 MB installed, 102 s on bookworm), then
/// heat-engine and rabbitmq-server (23 more, 35 MB, 57 MB, 37 s); and
/// gunicorn for the WSGI worker test (`tests/tests/wsgi_workers.rs`, which
/// also runs uWSGI).
const PACKAGES: [&str; 16] = [
    "haproxy",
    "nslcd",
    "nginx",
    "redis-server",
    "postgresql-15",
    "memcached",
    "apache2",
    "libapache2-mod-wsgi-py3",
    "uwsgi-core",
    "uwsgi-plugin-python3",
    "prometheus-node-exporter",
    "openjdk-17-jdk-headless",
    "heat-api",
    "heat-engine",
    "rabbitmq-server",
    "gunicorn",
];

/// Installs the corpus' missing packages; when that fails (no archive in
/// reach), prints why and goes on: the corpus test then skips each service
/// whose daemon is missing, naming it.
pub fn install() {
    if let Err(e) = packages::install_missing(&PACKAGES) {
        eprintln!(
            "xtask: SKIP installing the real-world corpus' packages ({e:#}); \
             the corpus test skips the services whose daemons are missing"
        );
    }
}
