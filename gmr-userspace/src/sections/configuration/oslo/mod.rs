//! oslo.config's effective configuration, read from the live process: the
//! global `ConfigOpts` (found on the heap, see [`find`]), every option
//! registered in every group, and the value the process uses now.
//!
//! A value oslo already looked up is in `ConfigOpts.__cache` and is shown
//! as is (`used`). Any other is worked out in `ConfigOpts._do_get`'s order:
//! `set_override`, the command line (the namespace's attribute), the
//! environment (`OS_<GROUP>__<NAME>`), the parsed files (the last file
//! setting it wins; a multi option joins them), `set_default`, then the
//! option's default; text is converted by the option type ([`values`]).
//! Deprecated names and groups are looked for in the files as oslo does,
//! and `$name` references substituted ([`substitute`]; a secret option's
//! value stands as the mask). Not reproduced for uncached values: the
//! mutable namespace, and values from extra config source drivers (noted
//! when such drivers are loaded). Values are
//! masked by oslo's `secret=True` and by gmr's own rules. Options set in the
//! parsed files that nothing registered are listed, and a parsed file
//! changed after the process started is noted.

pub(crate) mod find;
mod substitute;
mod values;

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use super::files::TargetFiles;
use crate::mask::{MASK, mask_value};
use crate::model::configuration::{LiveGroup, LiveOption, LiveOptions, UnregisteredOption};
use crate::proc::memory::ReadError;
use crate::python::Interpreter;
use crate::python::heap::{Heap, Value};
use crate::sections::context::ReportContext;

/// Most objects read for one report's options (a service with a thousand
/// options reads some 20,000).
const BUDGET: u64 = 200_000;
/// The unnamed group.
const DEFAULT_GROUP: &str = "DEFAULT";

/// `(group in lower case, name)` of every option oslo marks `secret=True`,
/// under its name, its dest and each deprecated alias: what the files view
/// must mask too, whatever the name looks like.
pub(super) type SecretNames = HashSet<(String, String)>;

/// The live options of the process of `context`, with the names of its
/// secret options: `None` when it runs no CPython or holds no
/// `ConfigOpts`, an error saying why when it holds one that cannot be read.
pub(super) fn live_options(
    context: &ReportContext,
    environment: &[(String, String)],
    files: &TargetFiles,
) -> Option<Result<(LiveOptions, SecretNames), String>> {
    let Ok(Some(interpreter)) = &context.python else {
        return None;
    };
    let mut heap = Heap::new(interpreter, BUDGET)?;
    let found = context
        .python_instances()
        .map_err(|error| format!("cannot walk the Python heap: {error}"))
        .and_then(|instances| find::config_opts(&mut heap, instances));
    let found = match found {
        Ok(found) => found,
        Err(error) => return Some(Err(error)),
    };
    if found.objects.is_empty()
        && let Some(why) = &found.incomplete
    {
        return Some(Err(format!(
            "no oslo.config ConfigOpts found, but the heap walk stopped early: {why}"
        )));
    }
    let mut notes: Vec<String> = found
        .incomplete
        .map(|why| format!("the heap walk for ConfigOpts stopped early: {why}"))
        .into_iter()
        .collect();
    let object = match found.global.filter(|global| found.objects.contains(global)) {
        Some(global) => {
            if found.objects.len() > 1 {
                notes.push(format!(
                    "{} ConfigOpts objects in the process; shown: oslo_config.cfg.CONF",
                    found.objects.len()
                ));
            }
            global
        }
        None => {
            let (object, size) = largest(&mut heap, &found.objects)?;
            if found.objects.len() > 1 {
                notes.push(format!(
                    "{} ConfigOpts objects in the process and oslo_config.cfg.CONF not found among them; shown: the one with the most options in DEFAULT ({size})",
                    found.objects.len()
                ));
            }
            object
        }
    };
    let reader = Reader {
        heap,
        environment,
        files,
        started: super::process_start(context.pid),
        texts: HashMap::new(),
        secrets: SecretNames::new(),
    };
    Some(
        reader
            .read(interpreter, object, notes)
            .map_err(|e| format!("cannot read oslo.config's ConfigOpts at {object:#x}: {e}")),
    )
}

/// The `ConfigOpts` with the most registered options, and that count.
fn largest(heap: &mut Heap, objects: &[u64]) -> Option<(u64, usize)> {
    objects
        .iter()
        .map(|&object| {
            let size = heap
                .attributes(object)
                .ok()
                .and_then(|a| a.get("_opts").copied())
                .and_then(|opts| heap.dict(opts).ok())
                .map_or(0, |entries| entries.len());
            (object, size)
        })
        .max_by_key(|&(_, size)| size)
}

/// One registered option, as read from its `Opt` and its info dict.
struct OptInfo {
    name: String,
    dest: String,
    secret: bool,
    multi: bool,
    cli: bool,
    type_name: String,
    default: Option<u64>,
    /// `(group, name)` of each deprecated alias; `None` keeps the option's.
    deprecated: Vec<(Option<String>, Option<String>)>,
    override_value: Option<u64>,
    set_default: Option<u64>,
}

/// One parsed file as oslo keeps it: each section's options, each
/// option's values in the file's order.
type ParsedFile = Vec<(String, Vec<(String, Vec<String>)>)>;

/// What the process parsed: each file's sections, newest first, the file
/// of each section, and the namespace's command-line values.
#[derive(Default)]
struct Parsed {
    files: Vec<ParsedFile>,
    section_file: HashMap<String, String>,
    cli: HashMap<String, u64>,
}

struct Reader<'a, 'b> {
    heap: Heap<'a>,
    environment: &'b [(String, String)],
    files: &'b TargetFiles,
    started: Option<SystemTime>,
    /// Parsed files' text, read once each for the lines of their options.
    texts: HashMap<String, Option<String>>,
    /// The secret options met so far.
    secrets: SecretNames,
}

impl Reader<'_, '_> {
    fn read(
        mut self,
        interpreter: &Interpreter,
        object: u64,
        mut notes: Vec<String>,
    ) -> Result<(LiveOptions, SecretNames), ReadError> {
        let conf = self.heap.attributes(object)?;
        let field = |name: &str| {
            conf.get(name).copied().ok_or_else(|| ReadError::Invalid {
                address: object,
                what: format!("no attribute {name}"),
            })
        };
        let (opts, groups, cache) = (
            field("_opts")?,
            field("_groups")?,
            field("_ConfigOpts__cache")?,
        );
        let use_env = conf
            .get("_use_env")
            .is_some_and(|&v| self.heap.value(v) == Value::Bool(true));
        let parsed = match conf.get("_namespace") {
            Some(&namespace) => self.parsed(namespace)?,
            None => Parsed::default(),
        };
        if conf
            .get("_sources")
            .is_some_and(|&s| !matches!(self.heap.value(s), Value::List(ref l) if l.is_empty()))
        {
            notes.push("extra config source drivers are loaded; values not yet used that come from them are not shown as such".to_owned());
        }
        let cache = self.cache(cache)?;
        let mut registered: HashMap<String, HashSet<String>> = HashMap::new();
        let mut live_groups = vec![self.group(
            DEFAULT_GROUP,
            None,
            opts,
            &cache,
            &parsed,
            use_env,
            &mut registered,
        )?];
        let mut named = Vec::new();
        for (name, group) in self.heap.str_dict(groups)? {
            let attributes = self.heap.attributes(group)?;
            let Some(&group_opts) = attributes.get("_opts") else {
                continue;
            };
            named.push(self.group(
                &name,
                Some(&name),
                group_opts,
                &cache,
                &parsed,
                use_env,
                &mut registered,
            )?);
        }
        named.sort_by(|a, b| a.0.cmp(&b.0));
        live_groups.extend(named);
        let live_groups = finish(live_groups);
        let unregistered = unregistered(&parsed, &registered);
        notes.extend(self.changed_files(&parsed));
        let live = LiveOptions {
            object: format!(
                "oslo_config.cfg.ConfigOpts at {object:#x} (CPython {})",
                interpreter.version
            ),
            groups: live_groups,
            unregistered,
            notes,
        };
        Ok((live, self.secrets))
    }

    /// The namespace's parsed files and command-line values.
    fn parsed(&mut self, namespace: u64) -> Result<Parsed, ReadError> {
        if self.heap.value(namespace) == Value::None {
            return Ok(Parsed::default());
        }
        let attributes = self.heap.attributes(namespace)?;
        let mut parsed = Parsed::default();
        if let Some(&files) = attributes.get("_parsed")
            && let Value::List(files) = self.heap.value(files)
        {
            parsed.files = files.iter().map(sections).collect();
        }
        if let Some(&map) = attributes.get("_sections_to_file")
            && let Value::Dict(entries) = self.heap.value(map)
        {
            for (section, file) in entries {
                if let (Value::Str(section), Value::Str(file)) = (section, file) {
                    parsed.section_file.insert(section, file);
                }
            }
        }
        parsed.cli = attributes
            .into_iter()
            .filter(|(name, _)| !name.starts_with('_'))
            .collect();
        Ok(parsed)
    }

    /// `ConfigOpts.__cache`: `(group or None, name)` to the value's address.
    fn cache(&mut self, cache: u64) -> Result<HashMap<(Option<String>, String), u64>, ReadError> {
        let mut values = HashMap::new();
        for (key, value) in self.heap.dict(cache)? {
            if let Value::Tuple(key) = self.heap.value(key)
                && let [group, Value::Str(name)] = key.as_slice()
            {
                let group = group.as_str().map(str::to_owned);
                values.insert((group, name.clone()), value);
            }
        }
        Ok(values)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one group's inputs, read once per report"
    )]
    fn group(
        &mut self,
        name: &str,
        group: Option<&str>,
        opts: u64,
        cache: &HashMap<(Option<String>, String), u64>,
        parsed: &Parsed,
        use_env: bool,
        registered: &mut HashMap<String, HashSet<String>>,
    ) -> Result<(String, Vec<Pending>), ReadError> {
        let mut options = Vec::new();
        for (dest, info) in self.heap.str_dict(opts)? {
            let info = self.opt_info(info)?;
            let aliases = info.deprecated.iter().map(|(group, deprecated)| {
                (
                    group.clone().unwrap_or_else(|| name.to_owned()),
                    deprecated.clone().unwrap_or_else(|| dest.clone()),
                )
            });
            let own = [
                (name.to_owned(), info.name.clone()),
                (name.to_owned(), dest.clone()),
            ];
            for (group, alias) in own.into_iter().chain(aliases) {
                if info.secret {
                    self.secrets.insert((group.to_lowercase(), alias.clone()));
                }
                registered.entry(group).or_default().insert(alias);
            }
            let (value, source) = self.resolve(name, group, &info, parsed, use_env);
            let cached = cache.get(&(group.map(str::to_owned), dest.clone()));
            let (value, used) = match cached {
                Some(&address) => (self.heap.value(address), true),
                None => (value, false),
            };
            options.push(Pending {
                name: info.name,
                dest,
                value,
                source,
                used,
                secret: info.secret,
            });
        }
        Ok((name.to_owned(), options))
    }

    fn opt_info(&mut self, info: u64) -> Result<OptInfo, ReadError> {
        let info = self.heap.str_dict(info)?;
        let opt = *info.get("opt").ok_or_else(|| ReadError::Invalid {
            address: 0,
            what: "an option's info has no opt".to_owned(),
        })?;
        let attributes = self.heap.attributes(opt)?;
        let mut text = |name: &str| {
            attributes
                .get(name)
                .and_then(|&a| self.heap.value(a).as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let (name, dest) = (text("name"), text("dest"));
        let multi_attribute = match attributes.get("multi") {
            Some(&value) => Some(value),
            None => self.heap.class_attribute(opt, "multi")?,
        };
        let mut flag =
            |value: Option<&u64>| value.is_some_and(|&a| self.heap.value(a) == Value::Bool(true));
        let secret = flag(attributes.get("secret"));
        let multi = flag(multi_attribute.as_ref());
        let cli = flag(info.get("cli"));
        let type_name = match attributes.get("type") {
            Some(&type_object) => {
                let class = self.heap.type_of(type_object)?;
                self.heap.type_name(class)?
            }
            None => String::new(),
        };
        let mut deprecated = Vec::new();
        if let Some(&list) = attributes.get("deprecated_opts") {
            for alias in self.heap.list_items(list)? {
                let alias = self.heap.attributes(alias)?;
                let mut text = |field: &str| {
                    alias
                        .get(field)
                        .and_then(|&a| self.heap.value(a).as_str().map(str::to_owned))
                };
                deprecated.push((text("group"), text("name")));
            }
        }
        Ok(OptInfo {
            name,
            deprecated,
            dest,
            secret,
            multi,
            cli,
            type_name,
            default: attributes.get("default").copied(),
            override_value: info.get("override").copied(),
            set_default: info.get("default").copied(),
        })
    }

    /// The value and source of an option oslo did not cache, in `_do_get`'s
    /// order.
    fn resolve(
        &mut self,
        section: &str,
        group: Option<&str>,
        info: &OptInfo,
        parsed: &Parsed,
        use_env: bool,
    ) -> (Value, String) {
        if let Some(address) = info.override_value {
            return (self.heap.value(address), "override".to_owned());
        }
        let attribute = match group {
            Some(group) => format!("{group}_{}", info.dest),
            None => info.dest.clone(),
        };
        if info.cli
            && let Some(&address) = parsed.cli.get(&attribute)
        {
            let value = self.heap.value(address);
            if value != Value::None {
                return (value, "command line".to_owned());
            }
        }
        if use_env {
            let variable = format!(
                "OS_{}__{}",
                section.to_ascii_uppercase(),
                info.dest.to_ascii_uppercase()
            );
            if let Some((_, text)) = self.environment.iter().find(|(n, _)| *n == variable) {
                return (self.typed(info, text), format!("environment {variable}"));
            }
        }
        if let Some((value, file)) = self.in_files(section, info, parsed) {
            return (value, file);
        }
        if let Some(address) = info.set_default {
            return (self.heap.value(address), "set_default".to_owned());
        }
        let value = info.default.map_or(Value::None, |a| self.heap.value(a));
        (values::coerce(&info.type_name, value), "default".to_owned())
    }

    /// Text converted by the option's type; a multi option's each item.
    fn typed(&self, info: &OptInfo, text: &str) -> Value {
        values::convert(&info.type_name, text)
    }

    /// The value the parsed files give, and `file PATH[:LINE]`.
    fn in_files(
        &mut self,
        section: &str,
        info: &OptInfo,
        parsed: &Parsed,
    ) -> Option<(Value, String)> {
        // The option's own name first, then its deprecated names and
        // groups, in each file from the newest, as `_get_file_value` looks.
        let names: Vec<(String, String)> = std::iter::once((section.to_owned(), info.dest.clone()))
            .chain(info.deprecated.iter().map(|(group, name)| {
                (
                    group.clone().unwrap_or_else(|| section.to_owned()),
                    name.clone().unwrap_or_else(|| info.dest.clone()),
                )
            }))
            .collect();
        let mut found: Vec<String> = Vec::new();
        let mut first = None;
        for file in &parsed.files {
            for (group, name) in &names {
                let Some(values) = file
                    .iter()
                    .find(|(section, _)| section == group)
                    .and_then(|(_, options)| options.iter().find(|(option, _)| option == name))
                    .map(|(_, values)| values)
                else {
                    continue;
                };
                first.get_or_insert((group.clone(), name.clone()));
                if !info.multi {
                    let last = values.last()?;
                    return Some((self.typed(info, last), self.source_of(group, name, parsed)));
                }
                found.splice(0..0, values.iter().cloned());
            }
        }
        let (group, name) = first?;
        let items = found.iter().map(|text| self.typed(info, text)).collect();
        Some((Value::List(items), self.source_of(&group, &name, parsed)))
    }

    /// `file PATH:LINE` for an option of `section`, as far as known.
    fn source_of(&mut self, section: &str, name: &str, parsed: &Parsed) -> String {
        let Some(path) = parsed.section_file.get(section) else {
            return "file".to_owned();
        };
        let files = self.files;
        let text = self
            .texts
            .entry(path.clone())
            .or_insert_with(|| files.read(path).ok().map(|c| c.text));
        match text
            .as_deref()
            .and_then(|text| values::line_of(text, section, name))
        {
            Some(line) => format!("file {path}:{line}"),
            None => format!("file {path}"),
        }
    }

    /// A note for each parsed file changed after the process started.
    fn changed_files(&self, parsed: &Parsed) -> Vec<String> {
        let Some(started) = self.started else {
            return Vec::new();
        };
        let paths: HashSet<&String> = parsed.section_file.values().collect();
        let mut paths: Vec<&String> = paths.into_iter().collect();
        paths.sort();
        paths
            .into_iter()
            .filter(|path| {
                self.files
                    .modified(path)
                    .is_some_and(|modified| modified > started + super::START_SLACK)
            })
            .map(|path| {
                format!("{path} was modified after the process started: the process may not have loaded what it now says")
            })
            .collect()
    }
}

/// One option's value before `$name` substitution and masking.
struct Pending {
    name: String,
    dest: String,
    value: Value,
    source: String,
    used: bool,
    secret: bool,
}

/// How many `$name` references deep substitution follows.
const MAX_SUBSTITUTION_DEPTH: usize = 4;

/// The groups as shown: values oslo has not looked up yet substituted as
/// oslo would (`$name`, a secret option's value standing as the mask),
/// then masked by oslo's `secret` and gmr's rules; options by name.
fn finish(groups: Vec<(String, Vec<Pending>)>) -> Vec<LiveGroup> {
    let mut by_dest: HashMap<(String, String), (&Value, bool)> = HashMap::new();
    for (group, options) in &groups {
        for option in options {
            for name in [&option.dest, &option.name] {
                by_dest.insert(
                    (group.to_lowercase(), name.clone()),
                    (&option.value, option.secret),
                );
            }
        }
    }
    let substituted: Vec<Vec<Value>> = groups
        .iter()
        .map(|(group, options)| {
            options
                .iter()
                .map(|option| match option.used {
                    true => option.value.clone(),
                    false => substitute::substitute_value(
                        &option.value,
                        group,
                        &by_dest,
                        MAX_SUBSTITUTION_DEPTH,
                    ),
                })
                .collect()
        })
        .collect();
    groups
        .into_iter()
        .zip(substituted)
        .map(|((group, options), values)| {
            let mut options: Vec<LiveOption> = options
                .into_iter()
                .zip(values)
                .map(|(option, value)| {
                    let text = values::mask_secret_entries(value).to_string();
                    let value = if option.secret {
                        MASK.to_owned()
                    } else {
                        mask_value(&format!("{group}.{}", option.name), &text)
                    };
                    LiveOption {
                        name: option.name,
                        value,
                        source: option.source,
                        used: option.used,
                        secret: option.secret,
                    }
                })
                .collect();
            options.sort_by(|a, b| a.name.cmp(&b.name));
            LiveGroup {
                name: group,
                options,
            }
        })
        .collect()
}

/// One parsed file as oslo keeps it: section to option to values.
fn sections(file: &Value) -> ParsedFile {
    let Value::Dict(sections) = file else {
        return Vec::new();
    };
    sections
        .iter()
        .filter_map(|(section, options)| {
            let (Value::Str(section), Value::Dict(options)) = (section, options) else {
                return None;
            };
            let options = options
                .iter()
                .filter_map(|(name, values)| {
                    let (Value::Str(name), Value::List(values)) = (name, values) else {
                        return None;
                    };
                    let values = values
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect();
                    Some((name.clone(), values))
                })
                .collect();
            Some((section.clone(), options))
        })
        .collect()
}

/// Options the parsed files set that no registered option names.
fn unregistered(
    parsed: &Parsed,
    registered: &HashMap<String, HashSet<String>>,
) -> Vec<UnregisteredOption> {
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    for file in &parsed.files {
        for (section, options) in file {
            let known = registered.get(section.as_str());
            for (name, values) in options {
                if known.is_some_and(|names| names.contains(name))
                    || !seen.insert((section.clone(), name.clone()))
                {
                    continue;
                }
                let value = values.last().map(String::as_str).unwrap_or_default();
                found.push(UnregisteredOption {
                    group: section.clone(),
                    name: name.clone(),
                    value: mask_value(&format!("{section}.{name}"), value),
                    file: parsed
                        .section_file
                        .get(section)
                        .cloned()
                        .unwrap_or_default(),
                });
            }
        }
    }
    found.sort_by(|a, b| (&a.group, &a.name).cmp(&(&b.group, &b.name)));
    found
}
