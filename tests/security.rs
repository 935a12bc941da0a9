//! Security of the configuration-database connection, against real etcd servers started
//! here on 127.0.0.1 (Debian `etcd-server`) with certificates made at test time by the
//! `openssl` command line:
//!
//! - TLS (`SDP_CONFIG_PROTOCOL=https`, `SDP_CONFIG_CERT` = the CA) for `sdpcfg` and the
//!   library; a CA that did not sign the server's certificate is refused in one line;
//! - mutual TLS (`SDP_CONFIG_CLIENT_CERT` + `SDP_CONFIG_CLIENT_KEY`) against an etcd
//!   started with `--client-cert-auth`;
//! - etcd users (`SDP_CONFIG_USERNAME` + `SDP_CONFIG_PASSWORD`) with a role on `/`, for
//!   `sdpcfg`, the library and `sdp controller`; a wrong password is refused in one line
//!   and the controller stops at once instead of waiting for the database forever.

mod support;

use sdp_config::{BackendChoice, Config, EtcdServer, EtcdServerOptions, ServerTls};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{Daemon, Out, TempDir};

/// Certificates for one test: a CA, a server certificate for 127.0.0.1 signed by it, a
/// client certificate signed by it, and a second, unrelated CA with its own client
/// certificate (the "wrong" ones).
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = TempDir::new("pki");
        let d = dir.path();
        for ca in ["ca", "other-ca"] {
            openssl(
                d,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    &format!("/CN=sdp-test-{ca}"),
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.crt"),
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            );
        }
        Self::issue(d, "server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
        Self::issue(d, "client", "ca", "extendedKeyUsage=clientAuth\n");
        Self::issue(d, "other-client", "other-ca", "extendedKeyUsage=clientAuth\n");
        Pki { dir }
    }

    /// `<name>.key` and `<name>.crt`, signed by `<ca>`.
    fn issue(d: &Path, name: &str, ca: &str, extensions: &str) {
        let ext = d.join(format!("{name}.ext"));
        std::fs::write(&ext, format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n{extensions}")).unwrap();
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                &format!("/CN=sdp-test-{name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.crt"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &format!("{name}.crt"),
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }

    fn server_tls(&self, require_client_cert: bool) -> ServerTls {
        ServerTls {
            cert_file: PathBuf::from(self.path("server.crt")),
            key_file: PathBuf::from(self.path("server.key")),
            client_ca_file: require_client_cert.then(|| PathBuf::from(self.path("ca.crt"))),
        }
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl command line (apt-get install openssl)");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn tls_etcd(pki: &Pki, require_client_cert: bool) -> EtcdServer {
    EtcdServer::start_with(&EtcdServerOptions { tls: Some(pki.server_tls(require_client_cert)), ..Default::default() })
        .expect("start etcd with TLS")
}

fn sdpcfg(port: u16, env: &[(&str, &str)], args: &[&str]) -> Out {
    let t0 = Instant::now();
    let o = support::sdpcfg_with(port, env, args);
    // "fails fast" bound only: a refused connection must not wait for a timeout loop
    assert!(t0.elapsed() < Duration::from_secs(30), "sdpcfg {args:?} took {:?}", t0.elapsed());
    o
}

fn sdpcfg_ok(port: u16, env: &[(&str, &str)], args: &[&str]) -> String {
    let o = sdpcfg(port, env, args);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""), "sdpcfg {args:?} with {env:?}");
    o.stdout
}

/// sdpcfg failed with exactly one line on stderr that starts with `kind` and contains
/// one of `needles`; returns that line.
fn sdpcfg_refused(port: u16, env: &[(&str, &str)], args: &[&str], kind: &str, needles: &[&str]) -> String {
    sdpcfg_refused_as(port, env, args, &[(kind, needles)])
}

/// Like [`sdpcfg_refused`] where the error may take one of several (kind, needles) forms.
fn sdpcfg_refused_as(port: u16, env: &[(&str, &str)], args: &[&str], forms: &[(&str, &[&str])]) -> String {
    let o = sdpcfg(port, env, args);
    assert_ne!(o.code, 0, "sdpcfg {args:?} with {env:?} should fail; stdout {:?}", o.stdout);
    assert_eq!(o.stdout, "", "nothing on stdout when refused");
    assert_eq!(o.stderr.lines().count(), 1, "one line on stderr, got {:?}", o.stderr);
    let matches =
        |(kind, needles): &(&str, &[&str])| o.stderr.starts_with(&format!("{kind}: ")) && needles.iter().any(|n| o.stderr.contains(n));
    assert!(forms.iter().any(matches), "one of {forms:?} expected, got {:?}", o.stderr);
    o.stderr.trim_end().to_string()
}

/// A library client configured exactly as the processes are: from `SDP_CONFIG_*` values.
async fn library(port: u16, env: &[(&str, &str)]) -> sdp_config::Result<Config> {
    let mut vars: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    vars.insert("SDP_CONFIG_HOST".into(), "127.0.0.1".into());
    vars.insert("SDP_CONFIG_PORT".into(), port.to_string());
    let backend = BackendChoice::from_lookup(|k| vars.get(k).cloned())?.connect().await?;
    Ok(Config::new(backend))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_the_servers_ca_works_and_any_other_ca_is_refused() {
    if !support::have_etcd() {
        return;
    }
    let pki = Pki::new();
    let etcd = tls_etcd(&pki, false);
    let port = etcd.port();
    let ca = pki.path("ca.crt");
    let https = [("SDP_CONFIG_PROTOCOL", "https"), ("SDP_CONFIG_CERT", ca.as_str())];

    // sdpcfg writes and reads over TLS
    assert_eq!(sdpcfg_ok(port, &https, &["create", "/security/tls", "yes"]), "OK\n");
    assert_eq!(sdpcfg_ok(port, &https, &["get", "/security/tls"]), "/security/tls = yes\n");

    // the library (what the devices, controller and deployers use) too
    let cfg = library(port, &https).await.expect("library over TLS");
    assert_eq!(cfg.db().get("/security/tls", None).await.unwrap().0.as_deref(), Some("yes"));
    cfg.db().create("/security/library", "also", None).await.unwrap();
    assert_eq!(sdpcfg_ok(port, &https, &["get", "/security/library"]), "/security/library = also\n");

    // a CA that did not sign the server's certificate: refused, one line, nothing written
    let other = pki.path("other-ca.crt");
    let line = sdpcfg_refused(
        port,
        &[("SDP_CONFIG_PROTOCOL", "https"), ("SDP_CONFIG_CERT", other.as_str())],
        &["create", "/security/wrong-ca", "no"],
        "AccessError",
        &["UnknownIssuer", "certificate"],
    );
    eprintln!("wrong CA: {line}");
    let err = library(port, &[("SDP_CONFIG_PROTOCOL", "https"), ("SDP_CONFIG_CERT", other.as_str())]).await.err().expect("refused");
    assert!(matches!(err, sdp_config::Error::Access(_)), "{err:?}");

    // https without a CA, a CA file that is not there, plain http to a TLS server
    sdpcfg_refused(port, &[("SDP_CONFIG_PROTOCOL", "https")], &["get", "/security/tls"], "ValueError", &["needs SDP_CONFIG_CERT"]);
    sdpcfg_refused(
        port,
        &[("SDP_CONFIG_PROTOCOL", "https"), ("SDP_CONFIG_CERT", "/nonexistent/ca.crt")],
        &["get", "/security/tls"],
        "ValueError",
        &["cannot read SDP_CONFIG_CERT /nonexistent/ca.crt"],
    );
    sdpcfg_refused(port, &[("SDP_CONFIG_CERT", ca.as_str())], &["get", "/security/tls"], "ValueError", &["SDP_CONFIG_PROTOCOL=https"]);
    sdpcfg_refused(port, &[], &["get", "/security/tls"], "ConnectionError", &["Cannot connect to etcd at http://127.0.0.1"]);

    assert_eq!(sdpcfg_ok(port, &https, &["ls", "/security/"]), "Keys with /security/ prefix: /security/library, /security/tls\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_a_client_certificate_from_the_trusted_ca() {
    if !support::have_etcd() {
        return;
    }
    let pki = Pki::new();
    let etcd = tls_etcd(&pki, true);
    let port = etcd.port();
    let (ca, cert, key) = (pki.path("ca.crt"), pki.path("client.crt"), pki.path("client.key"));
    let mtls = [
        ("SDP_CONFIG_PROTOCOL", "https"),
        ("SDP_CONFIG_CERT", ca.as_str()),
        ("SDP_CONFIG_CLIENT_CERT", cert.as_str()),
        ("SDP_CONFIG_CLIENT_KEY", key.as_str()),
    ];
    assert_eq!(sdpcfg_ok(port, &mtls, &["create", "/security/mtls", "yes"]), "OK\n");
    assert_eq!(sdpcfg_ok(port, &mtls, &["get", "/security/mtls"]), "/security/mtls = yes\n");
    let cfg = library(port, &mtls).await.expect("library with a client certificate");
    assert_eq!(cfg.db().get("/security/mtls", None).await.unwrap().0.as_deref(), Some("yes"));

    // Refused client certificates: etcd ends the connection after the TLS 1.3 handshake.
    // Whether the client reads etcd's alert first (then: AccessError naming it) or only sees
    // the connection close (then: ConnectionError with the likely cause) is a race.
    const ALERT: (&str, &[&str]) = ("AccessError", &["received fatal alert: BadCertificate", "received fatal alert: CertificateRequired"]);
    let line = sdpcfg_refused_as(
        port,
        &mtls[..2],
        &["get", "/security/mtls"],
        &[ALERT, ("ConnectionError", &["if etcd runs with --client-cert-auth, set SDP_CONFIG_CLIENT_CERT and SDP_CONFIG_CLIENT_KEY"])],
    );
    eprintln!("no client certificate: {line}");
    // a client certificate from another CA
    let (ocert, okey) = (pki.path("other-client.crt"), pki.path("other-client.key"));
    let line = sdpcfg_refused_as(
        port,
        &[mtls[0], mtls[1], ("SDP_CONFIG_CLIENT_CERT", ocert.as_str()), ("SDP_CONFIG_CLIENT_KEY", okey.as_str())],
        &["create", "/security/other", "no"],
        &[ALERT, ("ConnectionError", &["other-client.crt signed by the CA etcd trusts"])],
    );
    eprintln!("client certificate of another CA: {line}");
    // half a client identity
    sdpcfg_refused(port, &mtls[..3], &["get", "/security/mtls"], "ValueError", &["SDP_CONFIG_CLIENT_KEY"]);
    assert_eq!(sdpcfg_ok(port, &mtls, &["ls", "/security/"]), "Keys with /security/ prefix: /security/mtls\n");
}

fn etcdctl(endpoint: &str, args: &[&str]) {
    let mut c = Command::new("etcdctl");
    for (k, _) in std::env::vars() {
        if k.starts_with("ETCDCTL") {
            c.env_remove(k);
        }
    }
    let o = c.env("ETCDCTL_API", "3").arg("--endpoints").arg(endpoint).args(args).output().expect("etcdctl (Debian etcd-client)");
    assert!(o.status.success(), "etcdctl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// Users `root` (root role) and `sdp`, then `auth enable`. The library stores a path
/// `/a/b` as the key `2/a/b` (its depth first, see config/README.md), so the `sdp` role
/// gets the key range from `0` up to `:` (every key that starts with a digit), not `/`.
fn enable_auth(etcd: &EtcdServer) {
    let ep = etcd.endpoint();
    etcdctl(&ep, &["user", "add", "root", "--new-user-password=root-secret", "--interactive=false"]);
    etcdctl(&ep, &["role", "add", "root"]);
    etcdctl(&ep, &["user", "grant-role", "root", "root"]);
    etcdctl(&ep, &["role", "add", "sdp"]);
    etcdctl(&ep, &["role", "grant-permission", "sdp", "readwrite", "0", ":"]);
    etcdctl(&ep, &["user", "add", "sdp", "--new-user-password=sdp-secret", "--interactive=false"]);
    etcdctl(&ep, &["user", "grant-role", "sdp", "sdp"]);
    etcdctl(&ep, &["auth", "enable"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_users_for_sdpcfg_the_library_and_the_controller() {
    if !support::have_etcd() {
        return;
    }
    let etcd = EtcdServer::start().expect("start etcd");
    let port = etcd.port();
    enable_auth(&etcd);
    let user = [("SDP_CONFIG_USERNAME", "sdp"), ("SDP_CONFIG_PASSWORD", "sdp-secret")];
    let wrong = [("SDP_CONFIG_USERNAME", "sdp"), ("SDP_CONFIG_PASSWORD", "not-the-password")];

    // sdpcfg: a processing block created as user sdp
    let out = sdpcfg_ok(port, &user, &["process", "realtime:testdask:0.1.0"]);
    let pb = format!("realtime-{}-0000", sdp_config::entity::today());
    assert_eq!(out, format!("OK, pb_id = {pb}\n"));

    // wrong password, no credentials at all, half of them: one line each, nothing written
    let line = sdpcfg_refused(port, &wrong, &["process", "realtime:testdask:0.1.0"], "AccessError", &["invalid user ID or password"]);
    eprintln!("wrong password: {line}");
    sdpcfg_refused(port, &[], &["ls", "/pb/"], "AccessError", &["user name is empty", "auth", "permission denied"]);
    sdpcfg_refused(port, &user[..1], &["ls", "/pb/"], "ValueError", &["SDP_CONFIG_PASSWORD is not"]);

    // the library, as user sdp
    let cfg = library(port, &user).await.expect("library with user and password");
    assert!(cfg.db().get(&format!("/pb/{pb}"), None).await.unwrap().0.is_some());
    let err = library(port, &wrong).await.err().expect("refused");
    assert!(matches!(err, sdp_config::Error::Access(_)), "{err:?}");

    // the processing controller, as user sdp, deploys the PB's workflow
    let tmp = TempDir::new("auth-pc");
    let helm = [("SDP_DEPLOY_MODE", "helm"), ("SDP_HELM_NAMESPACE", "sdp")];
    let mut pc = Daemon::start(port, &["controller"], &[&helm[..], &user[..]].concat(), &tmp.path().join("controller.log"));
    let deploy = format!("/deploy/{pb}-workflow");
    let t0 = Instant::now();
    while cfg.db().get(&deploy, None).await.unwrap().0.is_none() {
        assert!(pc.child.try_wait().unwrap().is_none(), "controller exited: {}", pc.log_text());
        assert!(t0.elapsed() < Duration::from_secs(20), "no {deploy} after 20 s: {}", pc.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pc.terminate(), Some(0), "{}", pc.log_text());

    // with the wrong password it stops at once with the reason, instead of retrying forever
    let mut pc = Daemon::start(port, &["controller"], &[&helm[..], &wrong[..]].concat(), &tmp.path().join("refused.log"));
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = pc.child.try_wait().unwrap() {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "controller still running with a wrong password: {}", pc.log_text());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success());
    let text = pc.log_text();
    assert!(text.contains("invalid user ID or password"), "{text}");
    assert!(!text.contains("retrying"), "a refused password is not retried: {text}");
}
