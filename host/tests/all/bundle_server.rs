//! A real bundle server for the tests: Debian's nginx (`make nginx`) on
//! 127.0.0.1 serving a directory, started and stopped by the test. nginx
//! answers `If-None-Match` with 304 from an ETag of the file's size and
//! modification second. The Python tests use the same setup
//! (tests/bundle_server.py).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

pub struct BundleServer {
    pub root: PathBuf,
    pub port: u16,
    dir: tempfile::TempDir,
    token: Option<String>,
    child: Option<Child>,
}

/// A gzipped tarball of `files` (path, contents), as `opa build` writes.
pub fn targz(files: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, body) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path.trim_start_matches('/'), body.as_bytes())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// Replaces `path` atomically with `data`, its modification time at least a
/// second past the old file's, so nginx's ETag changes.
pub fn publish(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let old = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).unwrap();
    f.write_all(data).unwrap();
    let now = SystemTime::now();
    let mtime = match old {
        Some(o) if o + Duration::from_secs(1) > now => o + Duration::from_secs(1),
        _ => now,
    };
    f.set_modified(mtime).unwrap();
    drop(f);
    std::fs::rename(&tmp, path).unwrap();
}

impl BundleServer {
    /// nginx serving `root` (started), requiring `Bearer <token>` if given.
    pub fn start(root: &Path, token: Option<&str>) -> BundleServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = BundleServer {
            root: root.to_owned(),
            port,
            dir: tempfile::tempdir().unwrap(),
            token: token.map(str::to_owned),
            child: None,
        };
        s.resume();
        s
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// Starts nginx again on the same port (after [`pause`](Self::pause)).
    pub fn resume(&mut self) {
        let d = self.dir.path().display();
        let auth = match &self.token {
            Some(t) => format!(r#"if ($http_authorization != "Bearer {t}") {{ return 401; }}"#),
            None => String::new(),
        };
        let conf = self.dir.path().join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  default_type application/gzip;
  server {{ listen 127.0.0.1:{}; root {}; etag on; location / {{ {auth} }} }}
}}
",
                self.port,
                self.root.display()
            ),
        )
        .unwrap();
        let nginx = ["/usr/sbin/nginx", "nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("nginx");
        let child = Command::new(nginx)
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is not installed: run `make nginx`");
        self.child = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nginx did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops nginx (an outage); [`resume`](Self::resume) brings it back.
    pub fn pause(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for BundleServer {
    fn drop(&mut self) {
        self.pause();
    }
}
