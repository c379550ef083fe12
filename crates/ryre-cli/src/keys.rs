//! `ryre keys`: make a key directory for secure mode, show keys, trust peers' public keys.
//!
//! A thin shell over [`ryre::keys`] (the file format is documented there). Never prints secret
//! material. A bad path or a bad key file is a usage error (exit code 2), as bad arguments are.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ryre::keys::{self, KeyDir, KeyFileError, PublicKey};
use serde_json::{json, Value};

use crate::{CliError, CliResult};

/// Arguments of `ryre keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// The `ryre keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a key directory: a new key pair (DIR/node.secret, mode 0600), its public key
    /// (DIR/node.pub) and DIR/peers/ for the public keys of trusted peers.
    New(NewArgs),
    /// Show a key directory (own public key, trusted peers) or one key file; never secrets.
    Show(ShowArgs),
    /// Trust peers: check their public key files and copy them into DIR/peers/.
    Allow(AllowArgs),
}

/// Arguments of `ryre keys new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The key directory (made if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The node name written in the key files [default: the host name].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Replace an existing key pair (the old one is lost; peers must trust the new node.pub).
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `ryre keys show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A key directory, or one key file (.pub or .secret).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// One JSON object instead of readable text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `ryre keys allow`.
#[derive(Debug, Args)]
pub struct AllowArgs {
    /// The key directory whose node should trust the peers.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The peers' public key files (a ryre node.pub, or a CZMQ/Zyre public certificate).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

/// Runs `ryre keys`.
pub fn run(args: KeysArgs) -> CliResult {
    match args.command {
        KeysCommand::New(a) => new(a),
        KeysCommand::Show(a) => show(a),
        KeysCommand::Allow(a) => allow(a),
    }
}

/// A key file error as a usage error (exit code 2), with a hint where the CLI has one.
fn usage(e: KeyFileError) -> CliError {
    match e {
        KeyFileError::Exists { .. } => CliError::Usage(format!("{e} (--force replaces it)")),
        e => CliError::Usage(e.to_string()),
    }
}

/// The host name, for a key directory made without --name.
fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

fn new(a: NewArgs) -> CliResult {
    let name = a.name.unwrap_or_else(host_name);
    let dir = KeyDir::create(&a.dir, &name, a.force).map_err(usage)?;
    println!("public key  {}", dir.keys.public());
    println!("name        {}", dir.name);
    println!(
        "secret      {} (mode 0600: keep it private)",
        dir.secret_path().display()
    );
    println!(
        "public      {} (give it to peers: ryre keys allow THEIR_DIR {})",
        dir.public_path().display(),
        dir.public_path().display()
    );
    println!(
        "peers       {}/ (trusted public keys: ryre keys allow {} FILE...)",
        dir.peers_path().display(),
        dir.path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// One key as JSON.
fn key_json(kind: &str, name: &str, key: &PublicKey, file: &Path) -> Value {
    json!({
        "kind": kind,
        "name": name,
        "public_key": key.to_z85(),
        "file": file.display().to_string(),
    })
}

fn show(a: ShowArgs) -> CliResult {
    if std::fs::symlink_metadata(&a.path).is_err() && !a.path.exists() {
        return Err(CliError::Usage(format!(
            "{} does not exist (give a key directory, or a .pub or .secret key file)",
            a.path.display()
        )));
    }
    let value = if a.path.is_dir() {
        show_dir(&a.path)?
    } else {
        show_file(&a.path)?
    };
    if a.json {
        println!("{value}");
        return Ok(ExitCode::SUCCESS);
    }
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    match value["kind"].as_str() {
        Some("directory") => {
            println!("key directory  {}", s(&value["path"]));
            println!("name           {}", s(&value["name"]));
            println!("public key     {}", s(&value["public_key"]));
            let peers = value["peers"].as_array().cloned().unwrap_or_default();
            println!("trusted peers  {}", peers.len());
            for p in &peers {
                println!(
                    "  {}  {}  {}",
                    s(&p["public_key"]),
                    s(&p["name"]),
                    s(&p["file"])
                );
            }
        }
        kind => {
            let what = if kind == Some("secret") {
                "a key pair: only its public key is shown"
            } else {
                "public key"
            };
            println!("file        {} ({what})", s(&value["file"]));
            println!("name        {}", s(&value["name"]));
            println!("public key  {}", s(&value["public_key"]));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show_dir(path: &Path) -> Result<Value, CliError> {
    let dir = KeyDir::load(path).map_err(usage)?;
    let mut peers = Vec::new();
    for (key, file) in &dir.allowed {
        let (_, name) = keys::read_public(file).map_err(usage)?;
        peers.push(key_json("public", &name, key, file));
    }
    Ok(json!({
        "kind": "directory",
        "path": dir.path.display().to_string(),
        "name": dir.name,
        "public_key": dir.keys.public().to_z85(),
        "secret_file": dir.secret_path().display().to_string(),
        "public_file": dir.public_path().display().to_string(),
        "peers": peers,
    }))
}

fn show_file(path: &Path) -> Result<Value, CliError> {
    let secret = |path: &Path| {
        let (pair, name) = keys::read_secret(path).map_err(usage)?;
        Ok(key_json("secret", &name, &pair.public(), path))
    };
    if keys::is_secret_name(path) {
        return secret(path);
    }
    match keys::read_public(path) {
        Ok((key, name)) => Ok(key_json("public", &name, &key, path)),
        Err(KeyFileError::Secret { .. }) => secret(path),
        Err(e) => Err(usage(e)),
    }
}

fn allow(a: AllowArgs) -> CliResult {
    let mut dir = KeyDir::load(&a.dir).map_err(usage)?;
    // Every file is checked before any is copied.
    for f in &a.files {
        if keys::is_secret_name(f) {
            return Err(usage(KeyFileError::Secret { path: f.clone() }));
        }
        keys::read_public(f).map_err(usage)?;
    }
    for f in &a.files {
        let got = dir.allow(f).map_err(usage)?;
        let label = if got.name.is_empty() {
            String::new()
        } else {
            format!(" ({})", got.name)
        };
        if got.added {
            println!("allowed {}{label}: {}", got.key, got.path.display());
        } else {
            println!("already trusted {}{label}: {}", got.key, got.path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
