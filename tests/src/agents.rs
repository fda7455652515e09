//! Running the real coding agents (Claude Code, Codex, Gemini CLI) against the gateway: the
//! pinned versions `.ci/run` installs into `tools/agents`, each with its own empty `HOME`, an
//! empty environment but for what it needs, stdin from `/dev/null`, and every setting that
//! stops its traffic to anywhere but the gateway.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// One agent CLI.
#[derive(Clone, Copy, Debug)]
pub enum Agent {
    ClaudeCode,
    Codex,
    GeminiCli,
}

impl Agent {
    fn binary(self) -> &'static str {
        match self {
            Self::ClaudeCode => "claude",
            Self::Codex => "codex",
            Self::GeminiCli => "gemini",
        }
    }
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn assert_ok(&self) {
        assert_eq!(self.code, Some(0), "exit code\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
    }
}

/// The folder with the installed agents' binaries, or `None` (then the test is skipped, unless
/// `REQUIRE_AGENTS=1`, as CI sets, makes that a failure).
pub fn bin_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/agents/node_modules/.bin");
    let installed = ["claude", "codex", "gemini"].iter().all(|b| dir.join(b).exists());
    if installed {
        return Some(dir);
    }
    if std::env::var("REQUIRE_AGENTS").is_ok_and(|v| v == "1") {
        panic!("REQUIRE_AGENTS=1 but the agents are not installed: run `npm ci --prefix tools/agents`");
    }
    eprintln!("agents not installed (npm ci --prefix tools/agents): skipped");
    None
}

/// Files to write before a run: under its `HOME`, and in the folder it runs in.
#[derive(Default)]
pub struct Files<'a> {
    pub home: &'a [(&'a str, String)],
    pub project: &'a [(&'a str, String)],
}

/// Runs `agent` with `args` in a fresh folder, with only `env` (plus `PATH`, `HOME`, `TERM`).
pub async fn run(bin: &Path, agent: Agent, args: &[&str], env: &[(&str, String)], files: Files<'_>) -> Run {
    let work = tempfile::tempdir().expect("temp dir");
    let home = work.path().join("home");
    let cwd = work.path().join("project");
    std::fs::create_dir_all(&cwd).expect("project dir");
    for (root, list) in [(&home, files.home), (&cwd, files.project)] {
        for (path, contents) in list {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("dir");
            std::fs::write(file, contents).expect("file");
        }
    }
    std::fs::create_dir_all(&home).expect("home");
    let mut command = tokio::process::Command::new(bin.join(agent.binary()));
    command
        .args(args)
        .current_dir(&cwd)
        .env_clear()
        .env("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()))
        .env("HOME", &home)
        .env("TERM", "dumb")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", agent.binary()));
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{} did not finish within 120 s", agent.binary()))
        .expect("output");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
