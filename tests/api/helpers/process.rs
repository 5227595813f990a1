//! The real `thidua` binary as separate OS processes (`thidua serve`), for tests where
//! instances must share nothing but the database: no memory, no pool, no token cache.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;

/// The `iss`/`aud` every process of one test shares, so tokens from one verify on another.
pub const PUBLIC_URL: &str = "http://thidua.test";

/// A private temporary directory, deleted on drop: the shared signing key and process logs.
pub struct ScratchDir {
    pub path: PathBuf,
}

impl ScratchDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("thidua-proc-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("create a scratch directory");
        Self { path }
    }

    /// Writes a fresh Ed25519 signing key (PKCS#8 PEM) and returns its path.
    pub fn signing_key(&self) -> PathBuf {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let pem = key.to_pkcs8_pem(LineEnding::LF).expect("encode the key");
        let path = self.path.join("jwt.pem");
        std::fs::write(&path, pem.as_bytes()).expect("write the key");
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// One `thidua serve` child process; killed (SIGKILL) when dropped.
pub struct ServiceProcess {
    child: Child,
    pub name: String,
    pub port: u16,
    pub address: String,
    pub http: reqwest::Client,
    log: PathBuf,
}

/// A port that was free a moment ago (bound to :0, then released for the child to take).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

impl ServiceProcess {
    /// Starts `thidua serve` on `database_url` with the signing key `key` and `env` on top of
    /// the test defaults, and waits until `/readyz` answers 200.
    pub async fn start(
        name: &str,
        scratch: &ScratchDir,
        database_url: &str,
        key: &Path,
        env: &[(&str, &str)],
    ) -> Self {
        // The port is chosen before the child binds it; another process may take it in between,
        // so a child that cannot listen is retried on another port.
        for attempt in 0..5 {
            let port = free_port();
            let log = scratch.path.join(format!("{name}-{attempt}.log"));
            let child = spawn(scratch, database_url, key, env, port, &log);
            let mut process = Self {
                child,
                name: name.to_owned(),
                port,
                address: format!("http://127.0.0.1:{port}"),
                http: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(Duration::from_secs(30))
                    // Idle connections go before the service's keep-alive (actix-web's 5 s) closes
                    // them: a request sent on a connection the server is closing fails with
                    // `IncompleteMessage` (seen under load after a pause of about 5 s).
                    .pool_idle_timeout(Duration::from_secs(2))
                    .build()
                    .expect("http client"),
                log,
            };
            match process.wait_ready().await {
                Ok(()) => return process,
                Err(log) if log.contains("cannot listen") => continue,
                Err(log) => panic!("{name} did not become ready; its log:\n{log}"),
            }
        }
        panic!("{name} found no free port in 5 attempts");
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let probe = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(self.log());
            }
            let ready = probe.get(self.url("/readyz")).send().await;
            if ready.is_ok_and(|response| response.status() == 200) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(format!("(not ready within 60 s)\n{}", self.log()))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// `GET path` on this process with a bearer token.
    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (at most 60 s) for the exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {} failed", self.child.id());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the child") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within 60 s of SIGTERM; its log:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn spawn(
    scratch: &ScratchDir,
    database_url: &str,
    key: &Path,
    env: &[(&str, &str)],
    port: u16,
    log: &Path,
) -> Child {
    let stdout = std::fs::File::create(log).expect("create the log file");
    let stderr = stdout.try_clone().expect("clone the log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_thidua"));
    command
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        // No `.env` of the checkout, and no configuration inherited from the caller.
        .current_dir(&scratch.path)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    for (name, _) in std::env::vars() {
        if name.starts_with("THIDUA_") || name.starts_with("DATABASE_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
        .env("DATABASE_URL", database_url)
        .env("THIDUA_ENV", "development")
        .env("THIDUA_JWT_PRIVATE_KEY_FILE", key)
        .env("THIDUA_PUBLIC_URL", PUBLIC_URL)
        .env("THIDUA_WORKERS", "2")
        .env("THIDUA_DB_POOL_SIZE", "4")
        .env("THIDUA_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    command.spawn().expect("start the thidua binary")
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
