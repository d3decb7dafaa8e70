//! Where each fixture's threads are parked: the functions a correct stack
//! shows, innermost first (names as `normalize_name` leaves them).

/// A thread role, its expected `comm`, and frames expected innermost first.
pub type Expectation<'a> = (&'a str, &'a str, &'a [&'a str]);

/// The C fixture's parked threads.
pub const C_THREADS: &[Expectation] = &[
    (
        "sleeper",
        "sleeper",
        &["nanosleep", "sleeper_inner", "sleeper_outer", "thread_main"],
    ),
    (
        "reader",
        "reader",
        &["read", "reader_inner", "reader_outer", "thread_main"],
    ),
    (
        "waiter",
        "waiter",
        &[
            "pthread_cond_wait",
            "waiter_inner",
            "waiter_outer",
            "thread_main",
        ],
    ),
    (
        "spinner",
        "spinner",
        &["spinner_inner", "spinner_outer", "thread_main"],
    ),
];

/// The C fixture's main thread, innermost first.
pub const C_MAIN: &[&str] = &["nanosleep", "main_wait", "main"];

/// The Rust fixture's parked threads.
pub const RUST_THREADS: &[Expectation] = &[
    (
        "sleeping",
        "sleeping",
        &["sleep", "sleeping_inner", "sleeping_outer"],
    ),
    (
        "locked",
        "locked",
        &["lock", "locked_inner", "locked_outer"],
    ),
    (
        "channel",
        "channel",
        &["recv", "channel_inner", "channel_outer"],
    ),
];

/// The Rust fixture's main thread, innermost first.
pub const RUST_MAIN: &[&str] = &["sleep", "main_wait", "main"];
