//! The real-world corpus: unmodified Debian daemons (nginx, redis,
//! PostgreSQL, memcached, apache2 + mod_wsgi, uWSGI, node-exporter, an
//! OpenJDK program) started by hand on 127.0.0.1, each in its own cgroup,
//! reported on by one real agent through each tag's trigger file. Per
//! process: a report in every format, the process alive afterwards, gdb's
//! named frames matched, and no planted secret in any report file, the
//! target's stderr copy or the agent's log. Every failure is collected and
//! listed at the end, and the outcome is printed as Markdown tables.

use std::time::Instant;

use gmr_tests::{
    realworld::{checks, run::Corpus, services, table},
    require_root,
};

#[test]
fn real_world_corpus() {
    if !require_root() {
        return;
    }
    let began = Instant::now();
    let corpus = Corpus::start(services());
    for skip in &corpus.skipped {
        println!("{skip}");
    }
    if corpus.running.is_empty() {
        println!("SKIP: no service of the corpus could start");
        assert!(corpus.failures.is_empty(), "{}", corpus.failures.join("\n"));
        return;
    }
    let agent = corpus.start_agent();
    let outcome = checks::check(&corpus, &agent);
    println!("{}", table::render(&outcome));
    println!(
        "corpus: {} service(s) ready in {:.1} s, whole run {:.1} s",
        corpus.running.len(),
        corpus.startup.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    assert!(
        outcome.failures.is_empty(),
        "{} failure(s) in the real-world corpus:\n- {}",
        outcome.failures.len(),
        outcome.failures.join("\n- ")
    );
}
