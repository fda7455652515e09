//! The gateway as a separate process (the `uni-api` command), for what only shows from outside:
//! signals, config files changing on disk, shutdown and exit codes, the log.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::Client;

/// A running `uni-api` process with its working folder and log.
pub struct GatewayProcess {
    pub child: tokio::process::Child,
    pub client: Client,
    pub dir: PathBuf,
    log: PathBuf,
}

impl std::ops::Deref for GatewayProcess {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

impl GatewayProcess {
    /// Starts `binary` in `dir` (where its `api.yaml` is) with `env`, and waits until it answers
    /// `/healthz`. Statistics are off unless `env` turns them on.
    pub async fn spawn(binary: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let log = dir.join("gateway.log");
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = tokio::process::Command::new(binary);
        command
            .args(args)
            .current_dir(dir)
            .env_remove("CONFIG_URL")
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("RUST_LOG", "info")
            .env("DISABLE_DATABASE", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().expect("log")))
            .stderr(Stdio::from(file))
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let client = Client::new(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        let process = Self { child, client, dir: dir.to_path_buf(), log };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = process.http.get(process.url("/healthz")).send().await {
                if response.status() == 200 {
                    return process;
                }
            }
            assert!(Instant::now() < deadline, "the gateway did not start:\n{}", process.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle` `times` times; false after `within`.
    pub async fn log_shows(&self, needle: &str, times: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.log().matches(needle).count() >= times {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Sends a signal (`HUP`, `TERM`, `INT`) to the process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("the gateway is running");
        let status = std::process::Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name} {pid}");
    }

    /// Waits for the process to exit; its exit code, or `None` if it was still running after `within`.
    pub async fn exit_code(&mut self, within: Duration) -> Option<i32> {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(Ok(status)) => Some(status.code().unwrap_or(-1)),
            _ => None,
        }
    }
}
