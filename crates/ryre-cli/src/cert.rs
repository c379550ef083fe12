//! `ryre cert`: an offline certificate authority for certified mode: make a CA, issue node and
//! sub-CA certificates, show and check certificates, revoke them.
//!
//! A thin shell over [`ryre::certs`] (the file formats are documented there). Never prints
//! secret material. Bad paths, bad files and requests the CA may not grant are usage errors
//! (exit code 2); a certificate that fails `show --trust` exits with 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use ryre::certs::{self, CertFileError, CertFiles, Request};
use ryre_proto::security::cert::{verify_chain, Certificate, Grant, Role, Services};
use ryre_proto::security::revocation::RevocationSet;
use serde_json::{json, Value};

use crate::{CliError, CliResult};

/// Arguments of `ryre cert`.
#[derive(Debug, Args)]
pub struct CertArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: CertCommand,
}

/// The `ryre cert` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Make a root CA: a key pair (DIR/NAME.secret, mode 0600: keep it offline) and its
    /// self-signed certificate (DIR/NAME.cert: give it to every node, as --trust).
    Ca(CaArgs),
    /// Issue a node's certificate (or a sub-CA's, with --sub-ca) with a new key pair.
    Issue(IssueArgs),
    /// Show a certificate file or a revocation file; with --trust, verify the chain.
    Show(ShowArgs),
    /// Revoke a certificate: add a signed revocation to a revocation file.
    Revoke(RevokeArgs),
}

/// Arguments of `ryre cert ca`.
#[derive(Debug, Args)]
pub struct CaArgs {
    /// The CA's name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Where to write NAME.cert and NAME.secret (made if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Days of validity, from now.
    #[arg(long, value_name = "DAYS", default_value_t = 3650)]
    pub days: u64,
    /// Start of validity in unix seconds [default: now] (a CA's certificates must start
    /// within its window).
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub not_before: Option<u64>,
    /// Replace existing files (the old CA's certificates stop verifying).
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `ryre cert issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The issuing CA: DIR/NAME (reads DIR/NAME.cert and DIR/NAME.secret).
    #[arg(long, value_name = "DIR/NAME")]
    pub ca: PathBuf,
    /// The new certificate's name (also its file name).
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Rights in a group, GROUP=RIGHTS with rights join, shout, whisper or all (a GROUP ending
    /// in * covers every group starting with it); repeatable.
    #[arg(long = "group", value_name = "GROUP=RIGHTS")]
    pub groups: Vec<String>,
    /// Service rights: log, timer, all or none.
    #[arg(long, value_name = "SERVICES", default_value = "none")]
    pub services: String,
    /// Days of validity, from now (or from --not-before).
    #[arg(long, value_name = "DAYS", default_value_t = 365)]
    pub days: u64,
    /// Start of validity in unix seconds [default: now].
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub not_before: Option<u64>,
    /// Issue a sub-CA's certificate (it may issue within the rights given here).
    #[arg(long)]
    pub sub_ca: bool,
    /// Where to write NAME.cert and NAME.secret (made if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    pub force: bool,
    /// Sign without checking that the CA may grant this (rights beyond its own, a window
    /// outside its own): makes chains every node refuses, for testing verifiers.
    #[arg(long, hide = true)]
    pub unchecked: bool,
}

/// Arguments of `ryre cert show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A certificate file (.cert) or a revocation file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Verify the chain against these CA certificates (repeatable).
    #[arg(long, value_name = "CA.cert")]
    pub trust: Vec<PathBuf>,
    /// Revocations to check against (with --trust).
    #[arg(long, value_name = "FILE")]
    pub revocations: Option<PathBuf>,
    /// One JSON object instead of readable text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `ryre cert revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The revoking CA: DIR/NAME (the issuer or a CA above it).
    #[arg(long, value_name = "DIR/NAME")]
    pub ca: PathBuf,
    /// The certificate file to revoke.
    #[arg(value_name = "CERT")]
    pub cert: PathBuf,
    /// The revocation file to add to (made if missing).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs `ryre cert`.
pub fn run(args: CertArgs) -> CliResult {
    match args.command {
        CertCommand::Ca(a) => ca(a),
        CertCommand::Issue(a) => issue(a),
        CertCommand::Show(a) => show(a),
        CertCommand::Revoke(a) => revoke(a),
    }
}

fn usage(e: CertFileError) -> CliError {
    CliError::Usage(e.to_string())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn days(d: u64) -> Result<u64, CliError> {
    if d == 0 {
        return Err(CliError::Usage("--days must be at least 1".into()));
    }
    d.checked_mul(86_400)
        .ok_or_else(|| CliError::Usage(format!("--days {d} is too many")))
}

fn ca(a: CaArgs) -> CliResult {
    let start = a.not_before.unwrap_or_else(now);
    let end = start.saturating_add(days(a.days)?);
    let files = certs::create_ca(&a.out, &a.name, start, end, a.force).map_err(usage)?;
    println!("CA          {}", certs::describe(files.cert()));
    println!(
        "certificate {} (give it to every node: --trust {})",
        files.cert_path().display(),
        files.cert_path().display()
    );
    println!(
        "secret      {} (mode 0600: keep it offline; it issues and revokes)",
        files.secret_path().display()
    );
    Ok(ExitCode::SUCCESS)
}

fn issue(a: IssueArgs) -> CliResult {
    let ca = CertFiles::load(&a.ca).map_err(usage)?;
    let grants = a
        .groups
        .iter()
        .map(|g| Grant::parse(g).map_err(|e| CliError::Usage(format!("--group {g}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let services = Services::parse(&a.services)
        .map_err(|e| CliError::Usage(format!("--services {}: {e}", a.services)))?;
    let start = a.not_before.unwrap_or_else(now);
    let request = Request {
        name: a.name,
        role: if a.sub_ca { Role::Ca } else { Role::Node },
        grants,
        services,
        not_before: start,
        not_after: start.saturating_add(days(a.days)?),
    };
    let files = if a.unchecked {
        certs::issue_unchecked(&ca, &request, &a.out, a.force)
    } else {
        certs::issue(&ca, &request, &a.out, a.force)
    }
    .map_err(usage)?;
    println!("issued      {}", certs::describe(files.cert()));
    println!("public key  {}", files.keys.public());
    println!(
        "certificate {} (the chain; start the node with --cert {})",
        files.cert_path().display(),
        files.base.display()
    );
    println!(
        "secret      {} (mode 0600: copy it to the node only)",
        files.secret_path().display()
    );
    Ok(ExitCode::SUCCESS)
}

fn cert_json(c: &Certificate) -> Value {
    let b = c.body();
    json!({
        "name": b.name,
        "role": match b.role { Role::Ca => "ca", Role::Node => "node" },
        "self_signed": c.self_signed(),
        "serial": format!("{:016x}", b.serial),
        "public_key": c.curve_key().map(|k| k.to_z85()),
        "signing_key": hex(&b.subject),
        "issuer_key": hex(&b.issuer),
        "not_before": b.not_before,
        "not_after": b.not_after,
        "valid_from": certs::format_time(b.not_before),
        "valid_to": certs::format_time(b.not_after),
        "groups": b.grants.iter().map(|g| json!({"pattern": g.pattern, "rights": g.rights.to_string()})).collect::<Vec<_>>(),
        "services": b.services.to_string(),
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn show(a: ShowArgs) -> CliResult {
    let chain = certs::read_chain(&a.file);
    let chain = match chain {
        Ok(c) => c,
        Err(cert_err) => {
            // Not a certificate file: maybe a revocation file.
            let Ok(list) = certs::read_revocations(&a.file) else {
                return Err(usage(cert_err));
            };
            let entries: Vec<Value> = list
                .iter()
                .map(|r| {
                    json!({
                        "issuer_key": hex(&r.issuer()),
                        "serial": format!("{:016x}", r.serial()),
                        "revoked_at": certs::format_time(r.revoked_at()),
                        "signer_key": hex(&r.signer()),
                    })
                })
                .collect();
            if a.json {
                println!("{}", json!({"kind": "revocations", "revocations": entries}));
            } else {
                println!("revocations {} in {}", entries.len(), a.file.display());
                for e in &entries {
                    println!(
                        "  serial {} of issuer {}..., at {}",
                        e["serial"].as_str().unwrap_or_default(),
                        &e["issuer_key"].as_str().unwrap_or_default()[..16],
                        e["revoked_at"].as_str().unwrap_or_default()
                    );
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let mut verdict = Value::Null;
    let mut ok = true;
    if !a.trust.is_empty() {
        let mut roots = Vec::new();
        for t in &a.trust {
            roots.extend(certs::read_chain(t).map_err(usage)?);
        }
        let mut set = RevocationSet::new();
        if let Some(r) = &a.revocations {
            certs::load_revocations_into(r, &mut set).map_err(usage)?;
        }
        verdict = match verify_chain(&chain, &roots, now(), 0, &set) {
            Ok(v) => {
                json!({"valid": true, "name": v.name, "valid_to": certs::format_time(v.not_after)})
            }
            Err(e) => {
                ok = false;
                json!({"valid": false, "reason": e.to_string()})
            }
        };
    }
    if a.json {
        println!(
            "{}",
            json!({
                "kind": "certificates",
                "chain": chain.iter().map(cert_json).collect::<Vec<_>>(),
                "verified": verdict,
            })
        );
    } else {
        for (i, c) in chain.iter().enumerate() {
            let label = if i == 0 { "certificate" } else { "issued by  " };
            println!("{label} {}", certs::describe(c));
            if i == 0 {
                if let Some(k) = c.curve_key() {
                    println!("public key  {k}");
                }
            }
        }
        if let Some(valid) = verdict["valid"].as_bool() {
            if valid {
                println!("verified    valid, trusted, not revoked");
            } else {
                println!(
                    "verified    REFUSED: {}",
                    verdict["reason"].as_str().unwrap_or_default()
                );
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn revoke(a: RevokeArgs) -> CliResult {
    let ca = CertFiles::load(&a.ca).map_err(usage)?;
    let chain = certs::read_chain(&a.cert).map_err(usage)?;
    let (_, total) = certs::revoke(&ca, &a.cert, &chain, now(), &a.out).map_err(usage)?;
    println!("revoked     {}", certs::describe(&chain[0]));
    println!(
        "list        {} ({total} revocations; hand it to nodes with --revocations, or let peers pass it on)",
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
