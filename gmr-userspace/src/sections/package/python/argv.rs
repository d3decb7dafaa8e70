//! What a Python interpreter was asked to run, from its argument vector,
//! following CPython's own command-line rules (`python --help`).
//!
//! Options come first, and may be bundled (`-BsEm module`) or carry their
//! argument attached (`-Wignore`, `-mhttp.server`). The first of `-c`, `-m`,
//! `-` or a non-option argument ends the options; what follows belongs to
//! the program.

/// What the interpreter runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Main {
    /// A script file, as given (possibly relative to the working directory).
    Script(String),
    /// `-m module`.
    Module(String),
    /// `-c command`; the command text itself is not kept: it may hold secrets.
    Command,
    /// `-`: a program read from standard input.
    Stdin,
    /// No program: the interactive prompt.
    Interactive,
}

impl Main {
    /// How the report names it.
    pub(super) fn describe(&self) -> String {
        match self {
            Main::Script(path) => path.clone(),
            Main::Module(module) => format!("-m {module}"),
            Main::Command => "<command string>".to_owned(),
            Main::Stdin => "<stdin>".to_owned(),
            Main::Interactive => "<interactive>".to_owned(),
        }
    }
}

/// A parsed interpreter command line: the program and the options that
/// change which directories end up on `sys.path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Invocation {
    /// What runs.
    pub(super) main: Main,
    /// `-E` or `-I`: `PYTHON*` variables (`PYTHONPATH`) are ignored.
    pub(super) ignore_environment: bool,
    /// `-s` or `-I`: the user site directory is not added.
    pub(super) no_user_site: bool,
    /// `-P` or `-I`: the script's directory (or the working directory) is
    /// not prepended to `sys.path`.
    pub(super) safe_path: bool,
}

/// True when `name` is a CPython interpreter's file name: `python`,
/// `python3`, `python3.11`.
pub(super) fn is_python_name(name: &str) -> bool {
    name.strip_prefix("python")
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// Parses the interpreter's arguments after `argv[0]`.
pub(super) fn parse(args: &[String]) -> Invocation {
    let mut invocation = Invocation {
        main: Main::Interactive,
        ignore_environment: false,
        no_user_site: false,
        safe_path: false,
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "-" {
            invocation.main = Main::Stdin;
            break;
        }
        if arg == "--" {
            if let Some(script) = rest.next() {
                invocation.main = Main::Script(script.clone());
            }
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            // The only long option with a separate value.
            if long == "check-hash-based-pycs" {
                rest.next();
            }
            continue;
        }
        let Some(flags) = arg.strip_prefix('-') else {
            invocation.main = Main::Script(arg.clone());
            break;
        };
        for (at, flag) in flags.char_indices() {
            let attached = &flags[at + flag.len_utf8()..];
            match flag {
                'c' => {
                    invocation.main = Main::Command;
                    return invocation;
                }
                'm' => {
                    let module = if attached.is_empty() {
                        rest.next().cloned()
                    } else {
                        Some(attached.to_owned())
                    };
                    if let Some(module) = module {
                        invocation.main = Main::Module(module);
                    }
                    return invocation;
                }
                'W' | 'X' => {
                    if attached.is_empty() {
                        rest.next();
                    }
                    break;
                }
                'E' => invocation.ignore_environment = true,
                's' => invocation.no_user_site = true,
                'P' => invocation.safe_path = true,
                'I' => {
                    invocation.ignore_environment = true;
                    invocation.no_user_site = true;
                    invocation.safe_path = true;
                }
                _ => {}
            }
        }
    }
    invocation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn main_of(args: &[&str]) -> Main {
        let args: Vec<String> = args.iter().map(|&a| a.to_owned()).collect();
        parse(&args).main
    }

    #[test]
    fn scripts_modules_and_commands() {
        assert_eq!(
            main_of(&["/srv/x.py", "-m", "y"]),
            Main::Script("/srv/x.py".into())
        );
        assert_eq!(main_of(&["-u", "x.py"]), Main::Script("x.py".into()));
        assert_eq!(
            main_of(&["-m", "myservice", "-c", "x"]),
            Main::Module("myservice".into())
        );
        assert_eq!(
            main_of(&["-mhttp.server", "8000"]),
            Main::Module("http.server".into())
        );
        assert_eq!(
            main_of(&["-Bsm", "pkg.sub"]),
            Main::Module("pkg.sub".into())
        );
        assert_eq!(main_of(&["-c", "import os", "x.py"]), Main::Command);
        assert_eq!(main_of(&["-cprint(1)"]), Main::Command);
        assert_eq!(main_of(&["-", "arg"]), Main::Stdin);
        assert_eq!(main_of(&[]), Main::Interactive);
        assert_eq!(main_of(&["-i"]), Main::Interactive);
        assert_eq!(main_of(&["--", "-odd.py"]), Main::Script("-odd.py".into()));
    }

    #[test]
    fn options_with_values_are_skipped() {
        assert_eq!(
            main_of(&["-W", "ignore", "x.py"]),
            Main::Script("x.py".into())
        );
        assert_eq!(main_of(&["-Wignore", "x.py"]), Main::Script("x.py".into()));
        assert_eq!(main_of(&["-X", "dev", "-m", "m"]), Main::Module("m".into()));
        assert_eq!(
            main_of(&["-BX", "utf8", "x.py"]),
            Main::Script("x.py".into())
        );
        assert_eq!(
            main_of(&["--check-hash-based-pycs", "always", "x.py"]),
            Main::Script("x.py".into())
        );
        assert_eq!(main_of(&["--version"]), Main::Interactive);
    }

    #[test]
    fn path_options() {
        let args: Vec<String> = ["-s", "-E", "x.py"].map(String::from).to_vec();
        let invocation = parse(&args);
        assert!(invocation.no_user_site && invocation.ignore_environment);
        assert!(!invocation.safe_path);
        let isolated = parse(&["-Im".to_owned(), "m".to_owned()]);
        assert!(isolated.no_user_site && isolated.ignore_environment && isolated.safe_path);
        assert_eq!(isolated.main, Main::Module("m".into()));
    }

    #[test]
    fn interpreter_names() {
        for name in ["python", "python3", "python3.11", "python2.7"] {
            assert!(is_python_name(name), "{name}");
        }
        for name in [
            "python3-config",
            "pythonw",
            "ipython3",
            "nova-api",
            "python3.11d",
        ] {
            assert!(!is_python_name(name), "{name}");
        }
    }

    #[test]
    fn descriptions() {
        assert_eq!(Main::Module("m".into()).describe(), "-m m");
        assert_eq!(Main::Command.describe(), "<command string>");
        assert_eq!(Main::Script("/x.py".into()).describe(), "/x.py");
    }
}
