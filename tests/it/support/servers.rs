//! Object storage servers on 127.0.0.1 for the tests: moto (S3), Azurite (Azure Blob) and
//! fake-gcs-server (GCS), installed by `tests/servers/install.sh` (which `.ci/run` runs)
//! and started here, once per test binary (a test that kills its server starts its own);
//! a fault-injecting proxy (`tests/servers/proxy.py`) to put in front of one; and an
//! independent client (`tests/servers/objstore.py`, Python's standard library) to fill
//! buckets and list them afterwards, so the tests never check sweep with sweep's own
//! client library.

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{Sweep, Tree, missing};

/// The `--now` the object tests evaluate at.
pub const NOW: &str = "2024-07-12T12:00:00Z";
pub const AZ_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    S3,
    Az,
    Gcs,
}

impl Kind {
    pub fn scheme(self) -> &'static str {
        match self {
            Kind::S3 => "s3",
            Kind::Az => "az",
            Kind::Gcs => "gs",
        }
    }
    fn tool(self) -> &'static str {
        match self {
            Kind::S3 => "s3",
            Kind::Az => "az",
            Kind::Gcs => "gcs",
        }
    }
}

pub fn servers_dir() -> PathBuf {
    std::env::var_os("SWEEP_TEST_SERVERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-servers"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server process, killed when the test process ends (a watchdog polls this process)
/// or when dropped.
pub struct Server {
    pub kind: Kind,
    pub endpoint: String,
    child: Child,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts a server of `kind`, or says why it cannot (not installed).
    pub fn start(kind: Kind) -> Result<Server, String> {
        let dir = servers_dir();
        let port = free_port();
        let data = tempfile::tempdir().unwrap();
        let (program, args): (PathBuf, Vec<String>) = match kind {
            // moto, handling one request at a time so that a conditional write is one
            // step, as on S3 (see the script).
            Kind::S3 => (
                dir.join("venv/bin/python"),
                vec![
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers/moto_serial.py").display().to_string(),
                    "-H".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    port.to_string(),
                ],
            ),
            Kind::Az => (
                dir.join("node/node_modules/.bin/azurite-blob"),
                [
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    &port.to_string(),
                    "--inMemoryPersistence",
                    "--skipApiVersionCheck",
                    "--loose",
                    "--disableTelemetry",
                    "--silent",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ),
            Kind::Gcs => (
                dir.join("fake-gcs-server"),
                vec![
                    "-scheme".into(),
                    "http".into(),
                    "-host".into(),
                    "127.0.0.1".into(),
                    "-port".into(),
                    port.to_string(),
                    "-backend".into(),
                    // The filesystem backend cannot hold `dir/` beside `dir/file`.
                    "memory".into(),
                    "-log-level".into(),
                    "warn".into(),
                    "-public-host".into(),
                    format!("127.0.0.1:{port}"),
                    "-external-url".into(),
                    format!("http://127.0.0.1:{port}"),
                ],
            ),
        };
        if !program.exists() {
            return Err(format!("{} is not installed (run tests/servers/install.sh)", program.display()));
        }
        // The server dies with this process: a watchdog shell polls our pid.
        let script = format!(
            "\"$@\" & s=$!; while kill -0 {} 2>/dev/null && kill -0 $s 2>/dev/null; do sleep 0.5; done; kill -9 $s 2>/dev/null",
            std::process::id()
        );
        let child = Command::new("bash")
            .arg("-c")
            .arg(script)
            .arg("server")
            .arg(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| e.to_string())?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(60) {
                return Err(format!("{kind:?} server did not answer on port {port} within 60 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Server { kind, endpoint, child, _data: data })
    }

    /// Kills the server (and its watchdog's child) at once.
    pub fn kill(&mut self) {
        let pgid = self.child.id();
        let _ = Command::new("kill").args(["-9", "--", &format!("-{pgid}")]).status();
        let _ = self.child.wait();
    }

    /// The environment sweep reads for this server.
    pub fn env(&self, cmd: &mut Sweep) {
        for k in
            ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AZURE_STORAGE_CONNECTION_STRING", "GOOGLE_APPLICATION_CREDENTIALS"]
        {
            cmd.command().env_remove(k);
        }
        match self.kind {
            Kind::S3 => {
                cmd.env("AWS_ACCESS_KEY_ID", "testing")
                    .env("AWS_SECRET_ACCESS_KEY", "testing")
                    .env("AWS_REGION", "us-east-1")
                    .env("AWS_ENDPOINT_URL", &self.endpoint)
                    // The servers are plain http on 127.0.0.1: allowed by name only.
                    .env("AWS_ALLOW_HTTP", "true");
            }
            Kind::Az => {
                // The connection string, as Azure's own tools take it.
                let cs = format!(
                    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZ_KEY};BlobEndpoint={}/devstoreaccount1;",
                    self.endpoint
                );
                cmd.env("AZURE_STORAGE_CONNECTION_STRING", &cs);
            }
            Kind::Gcs => {
                cmd.env("STORAGE_EMULATOR_HOST", &self.endpoint);
            }
        }
    }

    pub fn objstore(&self, args: &[&str], stdin: Option<&str>) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers/objstore.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(self.kind.tool())
            .arg(&self.endpoint)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(text) = stdin {
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "objstore.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// A fresh bucket filled with `keys` (objects of `size` bytes; `KEY/` are markers).
    pub fn bucket(&self, keys: &[String], size: usize) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!("t{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        self.objstore(&["mkbucket", &name], None);
        self.objstore(&["put", &name, &size.to_string()], Some(&keys.join("\n")));
        name
    }

    pub fn list(&self, bucket: &str) -> Vec<String> {
        self.objstore(&["list", bucket], None).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
    }

    pub fn sweep(&self, sub: &str, policy: &Path, t: &Tree) -> Sweep {
        let mut s = t.sweep(sub, policy, NOW);
        self.env(&mut s);
        s
    }
}

/// The shared server of `kind`, started on first use; `None` (a loud skip, or a failure
/// under CI) when it is not installed.
pub fn shared(kind: Kind, test: &str) -> Option<&'static Server> {
    static S3: OnceLock<Result<Server, String>> = OnceLock::new();
    static AZ: OnceLock<Result<Server, String>> = OnceLock::new();
    static GCS: OnceLock<Result<Server, String>> = OnceLock::new();
    let cell = match kind {
        Kind::S3 => &S3,
        Kind::Az => &AZ,
        Kind::Gcs => &GCS,
    };
    match cell.get_or_init(|| Server::start(kind)) {
        Ok(s) => Some(s),
        Err(why) => {
            missing(test, why);
            None
        }
    }
}

/// A fault-injecting proxy (`tests/servers/proxy.py`) in front of an S3 server, with its
/// rules (see the script), and the log of what it served.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let pgid = self.child.id();
        let _ = Command::new("kill").args(["-9", "--", &format!("-{pgid}")]).status();
        let _ = self.child.wait();
    }
}

impl Proxy {
    /// Starts a proxy in front of `upstream` with `rules` (JSON, as the script reads it).
    pub fn start(upstream: &Server, rules: &serde_json::Value) -> Proxy {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.log");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers/proxy.py");
        let watchdog = format!(
            "\"$@\" & s=$!; while kill -0 {} 2>/dev/null && kill -0 $s 2>/dev/null; do sleep 0.5; done; kill -9 $s 2>/dev/null",
            std::process::id()
        );
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(watchdog)
            .arg("proxy")
            .arg("python3")
            .arg(&script)
            .arg(&upstream.endpoint)
            .arg(rules.to_string())
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("python3 runs the proxy");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("the proxy did not start: {line:?}"));
        Proxy { endpoint: format!("http://127.0.0.1:{port}"), log, child, _dir: dir }
    }

    /// What it served so far: method, target (path and query), status.
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut f = l.rsplitn(2, ' ');
                let status = f.next()?.parse().ok()?;
                let (method, target) = f.next()?.split_once(' ')?;
                Some((method.to_string(), target.to_string(), status))
            })
            .collect()
    }

    /// The keys of the DeleteObjects requests the server answered, in order (a key sent
    /// twice is there twice).
    pub fn deleted_keys(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.strip_prefix("KEY "))
            .map(|k| {
                let bytes = k.as_bytes();
                let mut out = Vec::new();
                let mut i = 0;
                while i < bytes.len() {
                    if bytes[i] == b'%' && i + 2 < bytes.len() {
                        out.push(u8::from_str_radix(&k[i + 1..i + 3], 16).unwrap());
                        i += 3;
                    } else {
                        out.push(bytes[i]);
                        i += 1;
                    }
                }
                String::from_utf8(out).unwrap()
            })
            .collect()
    }

    /// ListObjectsV2 requests it served (any status).
    pub fn lists(&self) -> usize {
        self.requests().iter().filter(|(m, t, _)| m == "GET" && t.contains("list-type=2")).count()
    }

    /// `sweep SUB` against `server` through this proxy.
    pub fn sweep(&self, server: &Server, sub: &str, policy: &Path, t: &Tree) -> Sweep {
        let mut s = server.sweep(sub, policy, t);
        s.env("AWS_ENDPOINT_URL", &self.endpoint);
        s
    }
}
