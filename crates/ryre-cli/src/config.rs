//! Settings from three places, for every command and every flag: the command line, `RYRE_*`
//! environment variables and an optional TOML file (`--config FILE` or `RYRE_CONFIG`), in that
//! order of precedence, and `ryre config show`.
//!
//! Nothing here lists flags by hand: the layers are built from the clap definitions, so a flag
//! added to any command is configurable at once.
//!
//! - Environment: every named flag `--some-flag` of every command reads `RYRE_SOME_FLAG` (clap's
//!   `env`; a repeatable flag takes one value from it; flags that take several values per use,
//!   like `--shout GROUP TEXT`, have no variable). Before parsing, the variables that the chosen
//!   command would read are checked with the flag's own value parser, so a bad value is reported
//!   with the variable's name.
//! - File: top-level keys apply to every command that has the flag, a table applies to one
//!   command and those below it (`[node]`, `[timer.serve]` or `[timer] serve = {...}`); the most
//!   specific wins. Keys are the long flag names (`rendezvous-port`; `rendezvous_port` works
//!   too). Every key is checked against the command tree (an unknown key is an error naming it
//!   and the file), and the values for the chosen command are checked with the flag's value
//!   parser; they then become the flags' defaults, so the environment and the command line
//!   override them.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Args, Command, Subcommand};
use serde_json::json;

use crate::{CliError, CliResult};

/// The prefix of every environment variable.
pub const ENV_PREFIX: &str = "RYRE_";

/// The variable naming the config file when `--config` is not given.
pub const ENV_CONFIG: &str = "RYRE_CONFIG";

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The command line.
    Flag,
    /// An environment variable.
    Env(String),
    /// The config file, under this key (`node.port`).
    File(String),
    /// The flag's built-in default.
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag => f.write_str("command line"),
            Source::Env(v) => write!(f, "env {v}"),
            Source::File(k) => write!(f, "config {k}"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A parse of the command line with every layer applied.
pub struct Layered {
    /// The matches of the whole command line.
    pub matches: ArgMatches,
    /// The command tree the matches came from (with the layers' env names and defaults).
    pub command: Command,
    /// The config file that was read, if any.
    pub file: Option<PathBuf>,
    /// `(command path, arg id) -> file key` for each value taken from the file.
    from_file: HashMap<(String, String), String>,
}

/// The environment variable of a flag: `--rendezvous-port` -> `RYRE_RENDEZVOUS_PORT`.
pub fn env_name(long: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        long.replace('-', "_").to_ascii_uppercase()
    )
}

/// Does this argument get a layer (env, file)? Named flags only, not help/version/--config.
fn layered_arg(arg: &clap::Arg) -> bool {
    arg.get_long().is_some()
        && !matches!(arg.get_id().as_str(), "help" | "version" | "config")
        && !matches!(
            arg.get_action(),
            ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
        )
}

/// Takes one value per use (so one environment variable can hold it).
fn single_valued(arg: &clap::Arg) -> bool {
    arg.get_num_args().is_none_or(|n| n.max_values() <= 1)
}

/// Adds `RYRE_*` to every named flag of `cmd` and its subcommands, recursively.
pub fn with_env(cmd: Command) -> Command {
    let cmd = cmd.mut_args(|arg| {
        if layered_arg(&arg) && single_valued(&arg) && arg.get_env().is_none() {
            let name = env_name(arg.get_long().unwrap_or_default());
            arg.env(name)
        } else {
            arg
        }
    });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    names
        .into_iter()
        .fold(cmd, |cmd, name| cmd.mut_subcommand(name, with_env))
}

/// The `--config` value from the arguments (before `--`), else from `RYRE_CONFIG`.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--" {
            break;
        }
        if s == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = s.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    std::env::var_os(ENV_CONFIG)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The names of the subcommands chosen by `matches`, outermost first.
fn chosen_path(matches: &ArgMatches) -> Vec<String> {
    let mut path = Vec::new();
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        path.push(name.to_string());
        m = sub;
    }
    path
}

/// The command at `path` below `root`.
fn find<'a>(root: &'a Command, path: &[String]) -> Option<&'a Command> {
    path.iter()
        .try_fold(root, |c, name| c.find_subcommand(name.as_str()))
}

/// The long names of the named flags of `cmd` and every command below it.
fn flags_below(cmd: &Command, out: &mut Vec<String>) {
    for a in cmd.get_arguments().filter(|a| layered_arg(a)) {
        if let Some(l) = a.get_long() {
            out.push(l.to_string());
        }
    }
    for s in cmd.get_subcommands() {
        flags_below(s, out);
    }
}

/// A config file problem, naming the file and the key.
fn file_error(file: &Path, key: &str, what: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!("config file {}: `{key}`: {what}", file.display()))
}

/// The values of one flag from the file: the key that set them and their text.
struct FileValue {
    key: String,
    values: Vec<String>,
    is_bool: bool,
}

/// Checks every key of `table` (the section for `cmd`, at `prefix`) against the command tree;
/// collects into `out` the values that apply to the command at `chosen` (deeper sections are
/// visited after shallower ones, so they overwrite: the most specific wins).
fn walk(
    file: &Path,
    cmd: &Command,
    table: &toml::Table,
    prefix: &str,
    on_path: bool,
    chosen: &[String],
    out: &mut BTreeMap<String, FileValue>,
) -> Result<(), CliError> {
    let mut known = Vec::new();
    flags_below(cmd, &mut known);
    let target = if on_path { find(cmd, chosen) } else { None };
    let mut sections = Vec::new();
    for (raw_key, value) in table {
        let key = format!("{prefix}{raw_key}");
        let flag = raw_key.replace('_', "-");
        if let (Some(sub), toml::Value::Table(t)) = (cmd.find_subcommand(raw_key.as_str()), value) {
            sections.push((sub, t, key));
            continue;
        }
        if !known.contains(&flag) {
            let subs: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
            let what = if cmd.get_subcommands().next().is_some() {
                format!(
                    "unknown key: no command here has --{flag} (tables: {})",
                    subs.join(", ")
                )
            } else {
                format!("unknown key: `{}` has no --{flag}", cmd.get_name())
            };
            return Err(file_error(file, &key, what));
        }
        let Some(target) = target else { continue };
        let Some(arg) = target
            .get_arguments()
            .find(|a| layered_arg(a) && a.get_long() == Some(flag.as_str()))
        else {
            continue;
        };
        let is_bool = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
        let many = matches!(arg.get_action(), ArgAction::Append) || !single_valued(arg);
        let scalar = |v: &toml::Value| -> Result<String, CliError> {
            match v {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(i) => Ok(i.to_string()),
                toml::Value::Float(f) => Ok(f.to_string()),
                toml::Value::Boolean(b) => Ok(b.to_string()),
                toml::Value::Datetime(d) => Ok(d.to_string()),
                toml::Value::Array(_) | toml::Value::Table(_) => Err(file_error(
                    file,
                    &key,
                    format!(
                        "wrong type: expected a single value, found {}",
                        v.type_str()
                    ),
                )),
            }
        };
        let values = match value {
            toml::Value::Boolean(b) if is_bool => vec![b.to_string()],
            _ if is_bool => {
                return Err(file_error(
                    file,
                    &key,
                    format!(
                        "wrong type: --{flag} is a switch, expected true or false, found {}",
                        value.type_str()
                    ),
                ))
            }
            toml::Value::Array(items) if many => {
                items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?
            }
            toml::Value::Array(_) => {
                return Err(file_error(
                    file,
                    &key,
                    format!("wrong type: --{flag} takes one value, found an array"),
                ))
            }
            toml::Value::Table(_) => {
                return Err(file_error(
                    file,
                    &key,
                    format!("wrong type: --{flag} takes a value, found a table"),
                ))
            }
            v => vec![scalar(v)?],
        };
        // As on the command line: `rates = "1,10"` is two values when the flag splits on ','.
        let values = split(arg, values);
        if !is_bool {
            for v in &values {
                check_value(target, arg, v).map_err(|e| file_error(file, &key, e))?;
            }
        }
        out.insert(
            arg.get_id().to_string(),
            FileValue {
                key,
                values,
                is_bool,
            },
        );
    }
    for (sub, t, key) in sections {
        let deeper = on_path && chosen.first().map(String::as_str) == Some(sub.get_name());
        let rest = if deeper { &chosen[1..] } else { &[][..] };
        walk(file, sub, t, &format!("{key}."), deeper, rest, out)?;
    }
    Ok(())
}

/// Splits values at the flag's delimiter, if it has one (`--rates 1,10`).
fn split(arg: &clap::Arg, values: Vec<String>) -> Vec<String> {
    match arg.get_value_delimiter() {
        Some(d) => values
            .iter()
            .flat_map(|v| v.split(d).map(str::to_string))
            .collect(),
        None => values,
    }
}

/// Runs the flag's own value parser on `value` (in a one-flag command, so that nothing else
/// about the flag interferes); the error's first line without clap's `error: `.
fn check_value(cmd: &Command, arg: &clap::Arg, value: &str) -> Result<(), String> {
    let long = arg.get_long().unwrap_or("value");
    let mut probe = clap::Arg::new(arg.get_id().clone())
        .long(long.to_string())
        .action(ArgAction::Set)
        .num_args(1)
        .value_parser(arg.get_value_parser().clone());
    if let Some(names) = arg.get_value_names() {
        probe = probe.value_name(names[0].clone());
    }
    let flag = format!("--{long}");
    clap::Command::new(cmd.get_name().to_string())
        .no_binary_name(true)
        .disable_help_flag(true)
        .arg(probe)
        .try_get_matches_from([flag.as_str(), value])
        .map(drop)
        .map_err(|e| {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            first.trim_start_matches("error: ").trim().to_string()
        })
}

/// Whether `args` have nothing to layer: no config file and no `RYRE_*` variable set, so the
/// command line and the defaults are all there is (see [`parse_plain`]).
pub fn nothing_to_layer(args: &[OsString]) -> bool {
    config_path(args).is_none()
        && !std::env::vars_os()
            .any(|(k, _)| k.as_encoded_bytes().starts_with(ENV_PREFIX.as_bytes()))
}

/// Parses `args` against the plain tree (no variables attached) when [`nothing_to_layer`]:
/// one walk of the tree instead of three. `None` when the arguments do not parse (or ask for
/// help or the version): [`parse`] then reports it, with the variables in the help.
pub fn parse_plain(mut root: Command, args: &[OsString]) -> Option<ArgMatches> {
    root.try_get_matches_from_mut(args).ok()
}

/// Parses `args` with every layer: the command line over `RYRE_*` over the config file over the
/// flags' defaults. `root` is the tree with its variables attached ([`with_env`], as
/// `Cli::command_for_docs` gives it).
pub fn parse(root: Command, args: &[OsString]) -> Result<Layered, CliError> {
    let mut root = root;
    let file = config_path(args);
    // Which command is it? (Only to know which file values and variables to check.)
    let first = root
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(args)
        .ok();
    let chosen = first.as_ref().map(chosen_path).unwrap_or_default();
    let mut from_file = HashMap::new();
    if let Some(path) = &file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("config file {}: {e}", path.display())))?;
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| CliError::Usage(format!("config file {}: {e}", path.display())))?;
        let mut values = BTreeMap::new();
        walk(path, &root, &table, "", true, &chosen, &mut values)?;
        let key = chosen.join(" ");
        for (id, _) in values.iter() {
            from_file.insert((key.clone(), id.clone()), values[id].key.clone());
        }
        root = apply_defaults(root, &chosen, values);
    }
    if let (Some(first), Some(target)) = (&first, find(&root, &chosen)) {
        check_env(target, sub_matches(first, &chosen))?;
    }
    let matches = root
        .clone()
        .try_get_matches_from(args)
        .map_err(CliError::Clap)?;
    Ok(Layered {
        matches,
        command: root,
        file,
        from_file,
    })
}

/// The matches of the command at `path`.
fn sub_matches<'a>(m: &'a ArgMatches, path: &[String]) -> &'a ArgMatches {
    path.iter()
        .fold(m, |m, name| m.subcommand_matches(name).unwrap_or(m))
}

/// Checks the `RYRE_*` variables the command would read (its flags not on the command line).
fn check_env(cmd: &Command, m: &ArgMatches) -> Result<(), CliError> {
    for arg in cmd.get_arguments() {
        let Some(var) = arg.get_env() else { continue };
        let on_line = m.try_contains_id(arg.get_id().as_str()).unwrap_or(false)
            && m.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine);
        if on_line {
            continue;
        }
        let Some(value) = std::env::var_os(var) else {
            continue;
        };
        let name = var.to_string_lossy();
        let Some(text) = value.to_str() else {
            return Err(CliError::Usage(format!(
                "environment variable {name}: not valid UTF-8"
            )));
        };
        let parts = split(arg, vec![text.to_string()]);
        parts
            .iter()
            .try_for_each(|part| check_value(cmd, arg, part))
            .map_err(|e| {
                let e = if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
                    format!(
                        "--{} is a switch: expected true or false",
                        arg.get_long().unwrap_or_default()
                    )
                } else {
                    e
                };
                CliError::Usage(format!("environment variable {name}={text:?}: {e}"))
            })?;
    }
    Ok(())
}

/// Sets the file's values as the defaults of the flags of the command at `path`.
fn apply_defaults(root: Command, path: &[String], values: BTreeMap<String, FileValue>) -> Command {
    match path.split_first() {
        None => root.mut_args(|arg| match values.get(arg.get_id().as_str()) {
            Some(v) if v.is_bool => arg.default_value(v.values[0].clone()),
            Some(v) => arg.required(false).default_values(v.values.iter().cloned()),
            None => arg,
        }),
        Some((first, rest)) => {
            let rest = rest.to_vec();
            root.mut_subcommand(first.as_str(), move |sub| {
                apply_defaults(sub, &rest, values)
            })
        }
    }
}

/// One effective setting of a command.
pub struct Setting {
    /// The long flag name (`rendezvous-port`).
    pub flag: String,
    /// Its values as given (empty: not set).
    pub values: Vec<String>,
    /// Where they came from.
    pub source: Source,
    /// A switch (`true`/`false`).
    pub switch: bool,
}

impl Layered {
    /// The chosen command's path and every layered setting of it.
    pub fn settings(&self) -> (Vec<String>, Vec<Setting>) {
        let path = chosen_path(&self.matches);
        let cmd = find(&self.command, &path).unwrap_or(&self.command);
        let m = sub_matches(&self.matches, &path);
        let key = path.join(" ");
        let mut out = Vec::new();
        for arg in cmd.get_arguments().filter(|a| layered_arg(a)) {
            let id = arg.get_id().as_str();
            let long = arg.get_long().unwrap_or_default().to_string();
            let is_bool = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
            let values: Vec<String> = m
                .get_raw(id)
                .map(|vs| vs.map(|v| v.to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            let source = match m.value_source(id) {
                Some(ValueSource::CommandLine) => Source::Flag,
                Some(ValueSource::EnvVariable) => Source::Env(
                    arg.get_env()
                        .map(|e| e.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ),
                _ => match self.from_file.get(&(key.clone(), id.to_string())) {
                    Some(k) => Source::File(k.clone()),
                    None => Source::Default,
                },
            };
            out.push(Setting {
                flag: long,
                values,
                source,
                switch: is_bool,
            });
        }
        (path, out)
    }
}

/// Arguments of `ryre config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// The `ryre config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective settings of a command line (`ryre config show node --port 7`), each
    /// with where it came from; as TOML that `--config` takes back.
    Show(ShowArgs),
}

/// Arguments of `ryre config show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// One JSON object instead of TOML.
    #[arg(long)]
    pub json: bool,
    /// The command and its arguments, as after `ryre` (e.g. `node --name bob`).
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        required = true
    )]
    pub command: Vec<String>,
}

/// Runs `ryre config`.
pub fn run(a: ConfigArgs) -> CliResult {
    match a.command {
        ConfigCommand::Show(s) => show(s),
    }
}

fn show(a: ShowArgs) -> CliResult {
    let mut args: Vec<OsString> = vec!["ryre".into()];
    // A --config given to `ryre config show` applies to the command shown.
    if let Some(p) = config_path(&std::env::args_os().collect::<Vec<_>>()) {
        if !a
            .command
            .iter()
            .any(|c| c == "--config" || c.starts_with("--config="))
        {
            args.push("--config".into());
            args.push(p.into_os_string());
        }
    }
    args.extend(a.command.iter().map(OsString::from));
    let layered = parse(crate::Cli::command_for_docs(), &args)?;
    let (path, settings) = layered.settings();
    if path.is_empty() {
        return Err(CliError::Usage(format!(
            "`{}` is not a command of ryre",
            a.command.join(" ")
        )));
    }
    if a.json {
        let obj: serde_json::Map<String, serde_json::Value> = settings
            .iter()
            .map(|s| {
                let v = json!({"values": s.values, "source": s.source.to_string()});
                (s.flag.clone(), v)
            })
            .collect();
        let file = layered.file.as_ref().map(|p| p.display().to_string());
        println!(
            "{}",
            json!({"command": path.join(" "), "config": file, "settings": obj})
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "# ryre {}: effective settings (command line > {ENV_PREFIX}* > config file > default)",
        path.join(" ")
    );
    if let Some(f) = &layered.file {
        println!("# config file: {}", f.display());
    }
    println!("[{}]", path.join("."));
    for Setting {
        flag: long,
        values,
        source,
        switch: is_bool,
    } in settings
    {
        let value = match values.as_slice() {
            [] => {
                println!("# {long}: not set");
                continue;
            }
            [v] if is_bool && (v == "true" || v == "false") => v.clone(),
            [v] => toml::Value::String(v.clone()).to_string(),
            vs => toml::Value::Array(vs.iter().cloned().map(toml::Value::String).collect())
                .to_string(),
        };
        println!("{long} = {value}  # {source}");
    }
    Ok(ExitCode::SUCCESS)
}
