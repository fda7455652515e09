//! The Cloudflare Worker under test: `scripts/worker-local.sh` serving the built Worker in a
//! local workerd (Miniflare) on 127.0.0.1, with a test's `api.yaml` as its `API_YAML` secret.
//!
//! The Worker must have been built (`bash scripts/build-worker.sh`; CI does it). Without a build
//! the Worker tests are skipped with a notice, unless `REQUIRE_WORKER` is set (CI), where a
//! missing build fails them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Client;

/// A Worker serving on 127.0.0.1 for one test; stopped (SIGTERM) when dropped.
pub struct WorkerGateway {
    client: Client,
    child: Child,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for WorkerGateway {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

impl WorkerGateway {
    /// Starts the Worker with `yaml`; `None` (test skipped) when the Worker is not built here.
    pub fn start(yaml: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("api.yaml");
        std::fs::write(&config, yaml).expect("write config");
        Self::launch(&["--config".into(), config.to_str().unwrap().into()], dir)
    }

    /// Starts the Worker with `CONFIG_URL` set to `url`, these variables, and its KV, D1 and
    /// Durable Object state kept in `persist` (so a later Worker finds what this one stored).
    pub fn start_from_url(url: &str, vars: &[(&str, &str)], persist: &std::path::Path) -> Option<Self> {
        let mut args =
            vec!["--config-url".to_owned(), url.to_owned(), "--persist".into(), persist.display().to_string()];
        for (name, value) in vars {
            args.extend(["--var".to_owned(), format!("{name}={value}")]);
        }
        Self::launch(&args, tempfile::tempdir().expect("tempdir"))
    }

    fn launch(args: &[String], dir: tempfile::TempDir) -> Option<Self> {
        let root = repo_root();
        let built = root.join("build/index.js").exists() && root.join("node_modules/miniflare").exists();
        if !built {
            assert!(
                std::env::var_os("REQUIRE_WORKER").is_none(),
                "REQUIRE_WORKER is set but the Worker is not built (bash scripts/build-worker.sh; npm ci)"
            );
            eprintln!("the Worker is not built (bash scripts/build-worker.sh; npm ci): skipping this Worker test");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new("bash")
            .arg(root.join("scripts/worker-local.sh"))
            .args(args)
            .args(["--port", &port.to_string()])
            .current_dir(&root)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start scripts/worker-local.sh");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match lines.next() {
                Some(Ok(line)) if line.starts_with("ready on") => break,
                Some(Ok(_)) => {}
                _ => panic!("the Worker did not start"),
            }
            assert!(Instant::now() < deadline, "the Worker did not start within 120 s");
        }
        // Keep draining the Worker's log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        Some(Self { client: Client::new(addr), child, _dir: dir })
    }
}

impl Drop for WorkerGateway {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
