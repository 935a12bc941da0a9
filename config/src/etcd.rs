//! etcd v3 backend over gRPC (crate `etcd-client`).

use crate::backend::*;
use crate::error::{Error, Result};
use crate::etcd_options::EtcdOptions;
use async_trait::async_trait;
use etcd_client as ec;
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc;

/// A connected etcd client.
#[derive(Clone)]
pub struct EtcdBackend {
    /// Balances requests over every member it can reach.
    client: ec::Client,
    /// How many members the client was given (more than one: see [`EtcdBackend::timed_retry`]).
    members: usize,
    endpoint: String,
    timeout: Duration,
    max_txn_ops: usize,
}

impl EtcdBackend {
    /// Connect and check that the server answers (fails within `options.timeout`).
    ///
    /// Refused credentials or certificates give [`Error::Access`] (permanent), everything
    /// else [`Error::Connection`] (the server may come up later).
    pub async fn connect(options: &EtcdOptions) -> Result<Self> {
        let endpoints = options.endpoints().map_err(Error::Value)?;
        // What messages name: the one URL, or the list.
        let endpoint = endpoints.join(",");
        let unreachable = |e: String| Error::Connection(format!("Cannot connect to etcd at {endpoint}: {e}"));
        let refused = |e: String| Error::Access(format!("etcd at {endpoint} refused this client: {e}"));
        let mut copts = ec::ConnectOptions::new().with_connect_timeout(options.timeout);
        match (&options.username, &options.password) {
            (Some(u), Some(p)) => copts = copts.with_user(u.clone(), p.clone()).with_auto_token_refresh(true),
            (Some(_), None) => {
                return Err(Error::Value("SDP_CONFIG_USERNAME is set but SDP_CONFIG_PASSWORD is not: set both or neither".into()))
            }
            (None, Some(_)) => {
                return Err(Error::Value("SDP_CONFIG_PASSWORD is set but SDP_CONFIG_USERNAME is not: set both or neither".into()))
            }
            (None, None) => {}
        }
        match options.protocol.as_str() {
            "http" => {
                if options.cert.is_some() || options.client_cert.is_some() {
                    return Err(Error::Value(
                        "SDP_CONFIG_CERT / SDP_CONFIG_CLIENT_CERT are set but SDP_CONFIG_PROTOCOL is http: set SDP_CONFIG_PROTOCOL=https"
                            .into(),
                    ));
                }
            }
            "https" => copts = tls_options(copts, options)?,
            other => return Err(Error::Value(format!("SDP_CONFIG_PROTOCOL {other:?} is not supported: use http or https"))),
        }
        // Every member: etcd-client spreads requests over those it can reach, so a member that
        // dies costs only the requests in flight to it (and `timed_retry` sends again those
        // that never reached it).
        let connect = ec::Client::connect(endpoints.clone(), Some(copts));
        let client = match tokio::time::timeout(options.timeout, connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) if is_refusal(&e) => return Err(refused(describe_err(&e))),
            Ok(Err(e)) => return Err(unreachable(with_tls_hint(options, describe_err(&e)))),
            Err(_) => return Err(unreachable(format!("no answer within {} s", options.timeout.as_secs_f32()))),
        };
        let backend = EtcdBackend {
            client,
            members: endpoints.len(),
            endpoint: endpoint.clone(),
            timeout: options.timeout,
            max_txn_ops: options.max_txn_ops,
        };
        // The channel connects lazily: probe so that an unreachable server is reported now.
        // A user whose role does not cover the probed key gets "permission denied", which
        // still proves that the server is there and took our credentials.
        let probe = backend
            .send_retry(|| {
                let mut kv = backend.client.kv_client();
                async move { kv.get("0", Some(ec::GetOptions::new().with_keys_only().with_limit(1))).await }
            })
            .await;
        match probe {
            Some(Ok(_)) => Ok(backend),
            Some(Err(ec::Error::GRpcStatus(s))) if i32::from(s.code()) == grpc_code::PERMISSION_DENIED => Ok(backend),
            Some(Err(e)) if is_refusal(&e) => Err(refused(describe_err(&e))),
            Some(Err(e)) => Err(unreachable(with_tls_hint(options, describe_err(&e)))),
            None => Err(unreachable(format!("no answer within {} s", options.timeout.as_secs_f32()))),
        }
    }

    /// The endpoint URLs this client talks to (comma-separated).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Make a request within the time limit ([`EtcdBackend::timed_retry`] without the
    /// message): the raw error, or `None` when no answer came in time.
    async fn send_retry<T, F: Future<Output = std::result::Result<T, ec::Error>>>(
        &self,
        mut f: impl FnMut() -> F,
    ) -> Option<std::result::Result<T, ec::Error>> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            match tokio::time::timeout_at(deadline, f()).await {
                Ok(Err(e)) if self.members > 1 && never_sent(&e) && tokio::time::Instant::now() + RESEND_AFTER < deadline => {
                    tracing::debug!("etcd: {}; sending it again", describe_err(&e));
                    tokio::time::sleep(RESEND_AFTER).await;
                }
                Ok(r) => return Some(r),
                Err(_) => return None,
            }
        }
    }

    /// Make a request within the time limit. With several members, a request that could not
    /// even connect (the balancer chose a member that is down, or reports a dead member's
    /// connection error once more) is sent again after [`RESEND_AFTER`], until the time limit:
    /// safe for writes too, as a request that never connected was never applied. A request
    /// without an answer in time is not sent again (it may have been applied). With one member
    /// there is nowhere else to go: errors are reported at once, as before.
    async fn timed_retry<T, F: Future<Output = std::result::Result<T, ec::Error>>>(&self, what: &str, f: impl FnMut() -> F) -> Result<T> {
        match self.send_retry(f).await {
            Some(r) => r.map_err(|e| Error::Connection(format!("etcd at {}: {what} failed: {}", self.endpoint, describe_err(&e)))),
            None => {
                Err(Error::Connection(format!("etcd at {}: {what} got no answer within {} s", self.endpoint, self.timeout.as_secs_f32())))
            }
        }
    }
}

#[cfg(feature = "tls")]
fn read_pem(variable: &str, path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Value(format!("cannot read {variable} {path}: {e}")))
}

#[cfg(feature = "tls")]
fn tls_options(copts: ec::ConnectOptions, options: &EtcdOptions) -> Result<ec::ConnectOptions> {
    // rustls only trusts the CAs it is given (no system store is loaded): without
    // SDP_CONFIG_CERT no server certificate could be verified.
    let ca = options.cert.as_deref().ok_or_else(|| {
        Error::Value(
            "SDP_CONFIG_PROTOCOL=https needs SDP_CONFIG_CERT: the CA certificate (PEM file) that signed the etcd server's certificate"
                .into(),
        )
    })?;
    let mut tls = ec::TlsOptions::new().ca_certificate(ec::Certificate::from_pem(read_pem("SDP_CONFIG_CERT", ca)?));
    match (&options.client_cert, &options.client_key) {
        (Some(cert), Some(key)) => {
            tls = tls.identity(ec::Identity::from_pem(read_pem("SDP_CONFIG_CLIENT_CERT", cert)?, read_pem("SDP_CONFIG_CLIENT_KEY", key)?));
        }
        (None, None) => {}
        _ => return Err(Error::Value("SDP_CONFIG_CLIENT_CERT and SDP_CONFIG_CLIENT_KEY go together: set both or neither".into())),
    }
    Ok(copts.with_tls(tls))
}

#[cfg(not(feature = "tls"))]
fn tls_options(_copts: ec::ConnectOptions, _options: &EtcdOptions) -> Result<ec::ConnectOptions> {
    Err(Error::Value("SDP_CONFIG_PROTOCOL=https needs TLS support: build sdp-config with its `tls` feature".into()))
}

/// The gRPC status codes etcd answers refused credentials with (numbers from the gRPC
/// spec; etcd-client does not re-export tonic's `Code`).
mod grpc_code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const UNAUTHENTICATED: i32 = 16;
}

/// Did the server (or the TLS handshake) refuse who we are, rather than not answer?
fn is_refusal(e: &ec::Error) -> bool {
    match e {
        // etcd: "authentication failed, invalid user ID or password" (InvalidArgument),
        // "user name is empty", "invalid auth token" (Unauthenticated), "authentication is
        // not enabled" (FailedPrecondition), "permission denied" (PermissionDenied)
        ec::Error::GRpcStatus(s) => {
            matches!(
                i32::from(s.code()),
                grpc_code::INVALID_ARGUMENT | grpc_code::PERMISSION_DENIED | grpc_code::FAILED_PRECONDITION | grpc_code::UNAUTHENTICATED
            ) || s.message().contains("auth")
                || is_certificate_problem(&describe_err(e))
        }
        other => is_certificate_problem(&describe_err(other)),
    }
}

/// rustls reports "invalid peer certificate: UnknownIssuer", "NotValidForName", ...; a
/// server that wants a client certificate ends the handshake with "CertificateRequired"
/// or a "bad certificate" alert.
fn is_certificate_problem(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("certificate") || t.contains("unknownissuer") || t.contains("handshake")
}

/// A TLS 1.3 server that rejects our client certificate (or its absence) does so after
/// the handshake, and the client usually sees only the connection close on its first
/// request, not the alert saying why. Name the likely cause; the error stays a
/// [`Error::Connection`] because a server going away looks the same.
fn with_tls_hint(options: &EtcdOptions, text: String) -> String {
    let t = text.to_ascii_lowercase();
    let closed = ["connection closed", "broken pipe", "connection reset", "operation was canceled"].iter().any(|c| t.contains(c));
    if options.protocol != "https" || !closed {
        return text;
    }
    match &options.client_cert {
        None => format!(
            "{text} (the server closed the TLS connection: if etcd runs with --client-cert-auth, set SDP_CONFIG_CLIENT_CERT and SDP_CONFIG_CLIENT_KEY)"
        ),
        Some(cert) => format!(
            "{text} (the server closed the TLS connection: is the client certificate {cert} signed by the CA etcd trusts (--trusted-ca-file)?)"
        ),
    }
}

/// Keys per page of a prefix read (see `range`).
const RANGE_PAGE: i64 = 1000;

/// The largest answer accepted (one page of keys with large values, a watch batch).
const MAX_MESSAGE: usize = 64 << 20;

/// The end of the range of keys that start with `prefix` (etcd's prefix range end): the prefix
/// with its last byte incremented (bytes 0xff dropped first); "\0" for everything.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(&last) = end.last() {
        if last < 0xff {
            *end.last_mut().expect("not empty") += 1;
            return end;
        }
        end.pop();
    }
    vec![0]
}

/// Wait before sending again a request that could not connect.
const RESEND_AFTER: Duration = Duration::from_millis(50);

/// Did the request fail before it reached any server (no connection could be made)?
fn never_sent(e: &ec::Error) -> bool {
    describe_err(e).contains("tcp connect error")
}

/// The error and every cause below it, once each: tonic's transport errors say only
/// "transport error" at the top, the useful part ("invalid peer certificate:
/// UnknownIssuer") is in the chain.
fn describe_err(e: &ec::Error) -> String {
    let mut parts: Vec<String> = vec![match e {
        ec::Error::GRpcStatus(s) => s.message().to_string(),
        other => other.to_string(),
    }];
    // a gRPC status carries the transport error as its own source
    let mut source = match e {
        ec::Error::GRpcStatus(s) => std::error::Error::source(s),
        other => std::error::Error::source(other),
    };
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.retain(|p| !p.is_empty());
    parts.join(": ")
}

fn utf8(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn convert_kv(kv: &ec::KeyValue) -> KeyValue {
    KeyValue {
        key: utf8(kv.key()),
        value: utf8(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
        lease: kv.lease(),
    }
}

fn convert_events(resp: &ec::WatchResponse) -> Vec<Event> {
    resp.events()
        .iter()
        .filter_map(|ev| {
            let mut kv = convert_kv(ev.kv()?);
            let kind = match ev.event_type() {
                ec::EventType::Put => EventKind::Put,
                ec::EventType::Delete => {
                    kv.value.clear();
                    EventKind::Delete
                }
            };
            Some(Event { kind, kv })
        })
        .collect()
}

fn range_key(range: &KeyRange) -> (String, bool) {
    match range {
        KeyRange::Key(k) => (k.clone(), false),
        KeyRange::Prefix(p) => (p.clone(), true),
    }
}

#[async_trait]
impl Backend for EtcdBackend {
    fn describe(&self) -> String {
        format!("etcd at {}", self.endpoint)
    }

    fn max_txn_ops(&self) -> usize {
        self.max_txn_ops
    }

    async fn range(&self, range: &KeyRange, revision: Option<i64>, keys_only: bool) -> Result<(Vec<KeyValue>, i64)> {
        let (key, prefix) = range_key(range);
        // A prefix is read in pages of RANGE_PAGE keys, all at the revision of the first:
        // one answer for 10 000 PBs with their values passed gRPC's 4 MiB message limit and
        // the read failed for ever (found by bench/controller_scale.py).
        let end = prefix.then(|| prefix_end(&key));
        // Every key (the empty prefix): etcd's range from "\0" to "\0".
        let mut start = if prefix && key.is_empty() { "\0".to_string() } else { key.clone() };
        let mut rev = revision;
        let mut kvs: Vec<KeyValue> = Vec::new();
        loop {
            let mut opts = ec::GetOptions::new();
            if let Some(end) = &end {
                opts = opts.with_range(end.clone()).with_limit(RANGE_PAGE);
            }
            if let Some(r) = rev {
                opts = opts.with_revision(r);
            }
            if keys_only {
                opts = opts.with_keys_only();
            }
            let resp = self
                .timed_retry("get", || {
                    let mut kv = self.client.kv_client().max_decoding_message_size(MAX_MESSAGE);
                    let (start, opts) = (start.clone(), opts.clone());
                    async move { kv.get(start, Some(opts)).await }
                })
                .await?;
            let served = resp.header().map_or(0, |h| h.revision());
            rev.get_or_insert(served);
            kvs.extend(resp.kvs().iter().map(convert_kv));
            match kvs.last() {
                Some(last) if resp.more() => start = format!("{}\0", last.key),
                _ => break,
            }
        }
        kvs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok((kvs, rev.unwrap_or(0)))
    }

    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<TxnResponse> {
        let cmps: Vec<ec::Compare> = compares
            .into_iter()
            .map(|c| {
                let (key, prefix) = range_key(&c.range);
                let op = match c.op {
                    CmpOp::Equal => ec::CompareOp::Equal,
                    CmpOp::NotEqual => ec::CompareOp::NotEqual,
                    CmpOp::Less => ec::CompareOp::Less,
                    CmpOp::Greater => ec::CompareOp::Greater,
                };
                let cmp = match c.target {
                    Target::Version => ec::Compare::version(key, op, c.value),
                    Target::CreateRevision => ec::Compare::create_revision(key, op, c.value),
                    Target::ModRevision => ec::Compare::mod_revision(key, op, c.value),
                };
                if prefix {
                    cmp.with_prefix()
                } else {
                    cmp
                }
            })
            .collect();
        let txn_ops: Vec<ec::TxnOp> = ops
            .into_iter()
            .map(|op| match op {
                Op::Put { key, value, lease } => {
                    let opts = lease.filter(|l| *l != 0).map(|l| ec::PutOptions::new().with_lease(l));
                    ec::TxnOp::put(key, value, opts)
                }
                Op::Delete(range) => {
                    let (key, prefix) = range_key(&range);
                    ec::TxnOp::delete(key, prefix.then(|| ec::DeleteOptions::new().with_prefix()))
                }
            })
            .collect();
        let txn = ec::Txn::new().when(cmps).and_then(txn_ops);
        let resp = self
            .timed_retry("txn", || {
                let mut kv = self.client.kv_client();
                let txn = txn.clone();
                async move { kv.txn(txn).await }
            })
            .await?;
        Ok(TxnResponse { succeeded: resp.succeeded(), revision: resp.header().map_or(0, |h| h.revision()) })
    }

    async fn watch(&self, range: &KeyRange, start_revision: Option<i64>) -> Result<WatchStream> {
        self.watch_many(std::slice::from_ref(range), start_revision).await
    }

    async fn watch_many(&self, ranges: &[KeyRange], start_revision: Option<i64>) -> Result<WatchStream> {
        let (tx, rx) = mpsc::unbounded_channel();
        if ranges.is_empty() {
            return Ok(WatchStream::new(rx, Some(Box::new(tx))));
        }
        // With several members, a try that reached a dead one is made again (once per member).
        let mut opened = open_watch(&self.client, ranges, start_revision, self.timeout, &self.endpoint).await;
        for _ in 1..self.members {
            if opened.is_ok() {
                break;
            }
            tokio::time::sleep(RESEND_AFTER).await;
            opened = open_watch(&self.client, ranges, start_revision, self.timeout, &self.endpoint).await;
        }
        let (mut stream, pending) = opened?;
        let endpoint = self.endpoint.clone();
        let (client, ranges, timeout, members) = (self.client.clone(), ranges.to_vec(), self.timeout, self.members);
        let task = tokio::spawn(async move {
            // The revision up to which everything was delivered: a resumed watch starts after it.
            // A watch from "now" owes nothing up to the revision it was created at.
            let mut seen = match start_revision {
                Some(r) => r - 1,
                None => pending.iter().filter(|r| r.created()).filter_map(|r| r.header()).map(|h| h.revision()).max().unwrap_or(0),
            };
            let deliver = |resp: &ec::WatchResponse, seen: &mut i64| {
                let evs = convert_events(resp);
                if let Some(last) = evs.iter().map(|e| e.kv.mod_revision).max() {
                    *seen = (*seen).max(last);
                }
                evs.is_empty() || tx.send(Ok(evs)).is_ok()
            };
            for resp in pending {
                if !deliver(&resp, &mut seen) {
                    return;
                }
            }
            loop {
                let failure = tokio::select! {
                    _ = tx.closed() => return,
                    msg = stream.message() => match msg {
                        Ok(Some(resp)) => {
                            if resp.canceled() {
                                let _ = tx.send(Err(Error::Connection(format!(
                                    "etcd at {endpoint}: watch cancelled: {}", resp.cancel_reason()))));
                                return;
                            }
                            if !deliver(&resp, &mut seen) {
                                return;
                            }
                            continue;
                        }
                        Ok(None) => "watch stream closed".to_string(),
                        Err(e) => describe_err(&e),
                    }
                };
                // With several members, the member serving the watch died: resume on another
                // from just after the last revision delivered (nothing lost, nothing twice).
                // With one there is nowhere to go: the watcher hears of it and starts over.
                if members > 1 {
                    let deadline = tokio::time::Instant::now() + timeout;
                    let mut resumed = None;
                    while resumed.is_none() && tokio::time::Instant::now() < deadline {
                        match open_watch(&client, &ranges, Some(seen + 1), timeout, &endpoint).await {
                            Ok(w) => resumed = Some(w),
                            Err(e) => {
                                tracing::debug!("watch: {e}; trying again");
                                tokio::time::sleep(RESEND_AFTER).await;
                            }
                        }
                    }
                    if let Some((s, pending)) = resumed {
                        tracing::info!("watch resumed from revision {} after: {failure}", seen + 1);
                        stream = s;
                        for resp in pending {
                            if !deliver(&resp, &mut seen) {
                                return;
                            }
                        }
                        continue;
                    }
                }
                let _ = tx.send(Err(Error::Connection(format!("etcd at {endpoint}: watch failed: {failure}"))));
                return;
            }
        });
        Ok(WatchStream::new(rx, Some(Box::new(AbortOnDrop(task)))))
    }

    async fn lease_grant(&self, ttl: i64) -> Result<i64> {
        let resp = self
            .timed_retry("lease grant", || {
                let mut lc = self.client.lease_client();
                async move { lc.grant(ttl, None).await }
            })
            .await?;
        Ok(resp.id())
    }

    async fn lease_keep_alive(&self, id: i64) -> Result<i64> {
        let mut lc = self.client.lease_client();
        // etcd-client's keep_alive() sends one refresh and waits for its answer; etcd
        // answers TTL 0 for an unknown lease, which etcd-client reports as an error.
        match tokio::time::timeout(self.timeout, lc.keep_alive(id)).await {
            Ok(Ok(_)) => Ok(1),
            Ok(Err(ec::Error::LeaseKeepAliveError(_))) => Ok(0),
            Ok(Err(e)) => Err(Error::Connection(format!("etcd at {}: lease keep-alive failed: {}", self.endpoint, describe_err(&e)))),
            Err(_) => Err(Error::Connection(format!("etcd at {}: lease keep-alive got no answer", self.endpoint))),
        }
    }

    async fn lease_revoke(&self, id: i64) -> Result<()> {
        self.timed_retry("lease revoke", || {
            let mut lc = self.client.lease_client();
            async move { lc.revoke(id).await }
        })
        .await?;
        Ok(())
    }

    async fn lease_time_to_live(&self, id: i64) -> Result<i64> {
        let resp = self
            .timed_retry("lease time-to-live", || {
                let mut lc = self.client.lease_client();
                async move { lc.time_to_live(id, None).await }
            })
            .await?;
        Ok(resp.ttl())
    }
}

/// Open one watch stream over `ranges` from `start_revision`, and wait until the server has
/// confirmed every range, so that no change made after this returns can be missed. Returns the
/// responses read meanwhile (events may already arrive) with the stream.
async fn open_watch(
    client: &ec::Client,
    ranges: &[KeyRange],
    start_revision: Option<i64>,
    timeout: Duration,
    endpoint: &str,
) -> Result<(ec::WatchStream, Vec<ec::WatchResponse>)> {
    async fn timed<T>(endpoint: &str, timeout: Duration, f: impl Future<Output = std::result::Result<T, ec::Error>>) -> Result<T> {
        match tokio::time::timeout(timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Error::Connection(format!("etcd at {endpoint}: watch failed: {}", describe_err(&e)))),
            Err(_) => Err(Error::Connection(format!("etcd at {endpoint}: watch got no answer within {} s", timeout.as_secs_f32()))),
        }
    }
    let opts = |range: &KeyRange| {
        let (key, prefix) = range_key(range);
        let mut o = ec::WatchOptions::new();
        if prefix {
            o = o.with_prefix();
        }
        if let Some(r) = start_revision {
            o = o.with_start_revision(r);
        }
        (key, o)
    };
    let mut wc = client.watch_client().max_decoding_message_size(MAX_MESSAGE);
    let (first, rest) = ranges.split_first().expect("at least one range");
    let (key, o) = opts(first);
    let mut stream = timed(endpoint, timeout, wc.watch(key, Some(o))).await?;
    for range in rest {
        let (key, o) = opts(range);
        timed(endpoint, timeout, stream.watch(key, Some(o))).await?;
    }
    let mut pending = Vec::new();
    let mut created = 0;
    while created < ranges.len() {
        match timed(endpoint, timeout, stream.message()).await? {
            Some(resp) if resp.canceled() => {
                return Err(Error::Connection(format!(
                    "etcd at {endpoint}: watch refused: {} (compacted at {})",
                    resp.cancel_reason(),
                    resp.compact_revision()
                )))
            }
            Some(resp) => {
                if resp.created() {
                    created += 1;
                }
                pending.push(resp);
            }
            None => return Err(Error::Connection(format!("etcd at {endpoint}: watch stream closed"))),
        }
    }
    Ok((stream, pending))
}
