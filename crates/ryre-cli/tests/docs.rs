//! Shell completions and man pages generated from the clap definitions: the bash script is
//! sourced in a real bash and queried as bash's completion would; the man pages are rendered by
//! groff with every warning on (and a deliberately broken page shows that groff would complain).

mod common;

use std::process::{Command, Output};

use common::{run, RYRE};

/// Runs a program with a deadline (coreutils' `timeout`), capturing its output.
fn bounded(program: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg("60")
        .arg(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

/// What bash's completion offers for `line` (the word under the cursor is the last one).
fn complete_bash(line: &str) -> Vec<String> {
    let script = format!(
        r#"set -u
source <("$RYRE" completions bash) || exit 3
fn=$(complete -p ryre | sed -E 's/.*-F ([^ ]+).*/\1/')
[ -n "$fn" ] || exit 4
COMP_LINE='{line}'
COMP_POINT=${{#COMP_LINE}}
read -r -a COMP_WORDS <<< "$COMP_LINE"
case "$COMP_LINE" in *' ') COMP_WORDS+=(''); esac
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
"$fn" ryre "${{COMP_WORDS[$COMP_CWORD]}}" "${{COMP_WORDS[$COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#
    );
    let out = Command::new("timeout")
        .args(["60", "bash", "-c", &script])
        .env("RYRE", RYRE)
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "bash completion failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completion_offers_commands_subcommands_and_flags() {
    assert_eq!(complete_bash("ryre ti"), ["timer"]);
    let subs = complete_bash("ryre timer ");
    for want in ["serve", "watch", "at"] {
        assert!(subs.iter().any(|s| s == want), "{want} not in {subs:?}");
    }
    assert_eq!(complete_bash("ryre node --interf"), ["--interface"]);
    assert_eq!(complete_bash("ryre completions fi"), ["fish"]);
    let config = complete_bash("ryre node --con");
    assert_eq!(
        config,
        ["--config"],
        "the global --config is offered everywhere"
    );
    assert!(complete_bash("ryre node --no-such-fl").is_empty());
}

#[test]
fn zsh_and_fish_scripts_are_generated() {
    for (shell, marker) in [("zsh", "#compdef ryre"), ("fish", "complete -c ryre")] {
        let (status, out, err) = run(&["completions", shell]);
        assert!(status.success(), "{shell}: {err}");
        assert!(out.contains(marker), "{shell} script lacks {marker:?}");
        assert!(
            out.contains("interface"),
            "{shell} script lacks --interface"
        );
    }
    let (status, _, err) = run(&["completions", "tcsh"]);
    assert_eq!(status.code(), Some(2), "an unknown shell is a usage error");
    assert!(err.contains("tcsh"), "{err}");
}

/// Renders a man page with groff, every warning on; (text, warnings).
fn groff(page: &std::path::Path) -> (String, String) {
    let out = bounded(
        "groff",
        &[
            "-man",
            "-Tutf8",
            "-ww",
            "-rLL=100n",
            &page.to_string_lossy(),
        ],
    );
    assert!(
        out.status.success(),
        "groff failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // groff's tty output overstrikes bold and underlined text; keep the plain letters.
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut text = String::new();
    for c in raw.chars() {
        if c == '\u{8}' {
            text.pop();
        } else {
            text.push(c);
        }
    }
    (text, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn man_pages_render_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("stdout.1");
    let (status, out, err) = run(&["man"]);
    assert!(status.success(), "{err}");
    std::fs::write(&top, out + "\n").unwrap();
    let (text, warnings) = groff(&top);
    assert!(warnings.is_empty(), "groff warns about ryre(1): {warnings}");
    for want in [
        "NAME",
        "SYNOPSIS",
        "SUBCOMMANDS",
        "ryre-node(1)",
        "--config",
    ] {
        assert!(text.contains(want), "ryre(1) lacks {want:?}:\n{text}");
    }

    let pages = dir.path().join("pages");
    let (status, _, err) = run(&["man", "--dir", &pages.to_string_lossy()]);
    assert!(status.success(), "{err}");
    for page in [
        "ryre.1",
        "ryre-node.1",
        "ryre-timer-serve.1",
        "ryre-config-show.1",
    ] {
        assert!(pages.join(page).is_file(), "no {page}");
    }
    let (text, warnings) = groff(&pages.join("ryre-node.1"));
    assert!(
        warnings.is_empty(),
        "groff warns about ryre-node(1): {warnings}"
    );
    for want in ["--interface", "RYRE_INTERFACE", "--rendezvous-port"] {
        assert!(text.contains(want), "ryre-node(1) lacks {want:?}:\n{text}");
    }

    // The check can fail: groff -ww reports a page with an unknown request.
    let broken = dir.path().join("broken.1");
    std::fs::write(&broken, ".TH broken 1\n.SH NAME\n.NOSUCHMACRO x\nbroken\n").unwrap();
    let (_, warnings) = groff(&broken);
    assert!(
        !warnings.is_empty(),
        "groff did not warn about a broken page"
    );
}
