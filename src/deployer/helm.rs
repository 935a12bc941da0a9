//! The `helm` deployer: each `/deploy` entry of type `helm` becomes a Helm release of
//! the same name in one namespace, through the real `helm` CLI.
//!
//! Start-up: `helm repo add stable <url>` and `helm repo update` (when a stable repo is
//! configured), then `helm list -q -n <ns>` to learn what exists. Then, on start and on
//! every change: releases without a deployment are uninstalled, deployments without a
//! release are installed (`helm install <id> <chart> -n <ns> [--repo R] [--ca-file C]
//! [--set k=v,...]`), and a deployment whose args changed is upgraded (`helm upgrade`,
//! same arguments). Releases found at start-up are checked with `helm get values`
//! against their deployments, so changes made while no deployer ran are upgraded too
//! (the values, typed as Helm types `--set` strings; a changed chart name alone is not
//! seen then). Every call has a timeout;
//! a failed call is retried with backoff and the error is kept in `/deploy/<id>/state`
//! until a later attempt succeeds.
//!
//! `SDP_HELM_VALUES` (a JSON object) holds values of this site that every release gets
//! under its deployment's own values: the chart sets it to the Secret names of etcd's TLS
//! and authentication (`global.etcd.*`), so that workflows reach a secured etcd without
//! the deployment entries, or any command line, carrying more than those names.

use super::{backoff, desired, report, watch_from};
use crate::error::Result;
use sdp_config::{json, Config, Deployment};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Settings {
    pub helm: String,
    pub namespace: String,
    pub timeout: Duration,
    pub repo: Option<String>,
    pub ca_file: Option<String>,
    /// URL of the `stable` chart repository; `None`: do not add it.
    pub stable_repo: Option<String>,
    /// Working directory of every helm call: where local charts (`workflow`, ...) live.
    pub chart_dir: Option<PathBuf>,
    /// How often to run `helm repo update`.
    pub refresh: Duration,
    /// Values given to every release, flat (dotted keys); a deployment's own values win.
    pub values: BTreeMap<String, Value>,
}

impl Settings {
    pub fn from_env() -> Result<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
        let secs = |k: &str, d: u64| -> Result<Duration> {
            match var(k) {
                None => Ok(Duration::from_secs(d)),
                Some(v) => {
                    Ok(Duration::from_secs_f64(v.parse::<f64>().map_err(|_| format!("{k} must be a number of seconds, not {v:?}"))?))
                }
            }
        };
        Ok(Settings {
            helm: var("SDP_HELM").unwrap_or_else(|| "helm".into()),
            namespace: var("SDP_HELM_NAMESPACE").unwrap_or_else(|| "sdp".into()),
            timeout: secs("SDP_HELM_TIMEOUT", 300)?,
            repo: var("SDP_HELM_REPO"),
            ca_file: var("SDP_HELM_REPO_CA"),
            stable_repo: match std::env::var("SDP_HELM_STABLE_REPO") {
                Ok(s) if s.is_empty() => None,
                Ok(s) => Some(s),
                Err(_) => Some("https://charts.helm.sh/stable".into()),
            },
            chart_dir: var("SDP_CHART_DIR").map(PathBuf::from),
            refresh: secs("SDP_CHART_REFRESH", 300)?,
            values: match var("SDP_HELM_VALUES") {
                None => BTreeMap::new(),
                Some(v) => match serde_json::from_str::<Value>(&v) {
                    Ok(o @ Value::Object(_)) => flatten(&o),
                    _ => return Err(format!("SDP_HELM_VALUES must be a JSON object of Helm values, not {v:?}").into()),
                },
            },
        })
    }
}

/// A values object with nested objects turned into dotted keys (`{"a": {"b": 1}}` →
/// `{"a.b": 1}`); lists and scalars are leaves.
pub fn flatten(values: &Value) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    walk(&if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, v, out);
                }
            }
            other if !prefix.is_empty() => {
                out.insert(prefix.to_string(), other.clone());
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk("", values, &mut out);
    out
}

/// `--set` argument for a values object: dotted keys in sorted order, nested objects
/// flattened, lists as `{a,b}`, commas in values escaped.
pub fn set_arg(values: &Value) -> Option<String> {
    fn scalar(v: &Value) -> String {
        match v {
            Value::String(s) => s.replace('\\', "\\\\").replace(',', "\\,"),
            Value::Array(a) => format!("{{{}}}", a.iter().map(scalar).collect::<Vec<_>>().join(",")),
            other => other.to_string(),
        }
    }
    let pairs = flatten(values);
    if pairs.is_empty() {
        None
    } else {
        Some(pairs.iter().map(|(k, v)| format!("{k}={}", scalar(v))).collect::<Vec<_>>().join(","))
    }
}

/// The user-supplied values `helm get values -o json` reports for a release installed
/// with `--set` from `values`: dotted keys nested, and each value typed the way Helm
/// types `--set` strings (`true`/`false`, `null`, integers; anything else a string).
pub fn values_as_helm_reports(values: &Value) -> Value {
    fn typed(s: &str) -> Value {
        match s.to_ascii_lowercase().as_str() {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            "null" => return Value::Null,
            _ => {}
        }
        let digits = s.strip_prefix('-').unwrap_or(s);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0')) {
            if let Ok(n) = s.parse::<i64>() {
                return Value::from(n);
            }
        }
        Value::String(s.to_string())
    }
    fn scalar(v: &Value) -> Value {
        match v {
            Value::String(s) => typed(s),
            Value::Array(a) => Value::Array(a.iter().map(scalar).collect()),
            other => typed(&other.to_string()),
        }
    }
    let mut root = serde_json::Map::new();
    for (key, v) in flatten(values) {
        let v = scalar(&v);
        let parts: Vec<&str> = key.split('.').collect();
        let mut node = &mut root;
        for p in &parts[..parts.len() - 1] {
            let e = node.entry(p.to_string()).or_insert_with(|| Value::Object(Default::default()));
            if !e.is_object() {
                *e = Value::Object(Default::default());
            }
            node = e.as_object_mut().unwrap();
        }
        node.insert(parts[parts.len() - 1].to_string(), v);
    }
    Value::Object(root)
}

struct Helm {
    s: Settings,
}

impl Helm {
    /// Run helm; Ok(stdout) on exit 0, Err(message) otherwise (or on timeout).
    async fn call(&self, args: &[String]) -> std::result::Result<String, String> {
        tracing::info!("{} {}", self.s.helm, args.join(" "));
        let mut cmd = tokio::process::Command::new(&self.s.helm);
        // Its own process group, so that a timeout ends helm and anything it started.
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(d) = &self.s.chart_dir {
            cmd.current_dir(d);
        }
        let child = cmd.spawn().map_err(|e| format!("cannot run {}: {e}", self.s.helm))?;
        let pid = child.id().map(|p| p as i32);
        let out = match tokio::time::timeout(self.s.timeout, child.wait_with_output()).await {
            Err(_) => {
                if let Some(pid) = pid {
                    // SAFETY: kill(2) on the process group we created for this call.
                    unsafe {
                        libc::kill(-pid, libc::SIGKILL);
                    }
                }
                return Err(format!("helm {} timed out after {:?}", args.first().map_or("", |s| s), self.s.timeout));
            }
            Ok(Err(e)) => return Err(format!("cannot run {}: {e}", self.s.helm)),
            Ok(Ok(o)) => o,
        };
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() {
            Ok(stdout)
        } else {
            let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
            Err(format!(
                "helm {} failed ({}): {}",
                args.first().map_or("", |s| s),
                out.status,
                if err.is_empty() { stdout.trim().to_string() } else { err }
            ))
        }
    }

    fn ns(&self) -> Vec<String> {
        vec!["-n".into(), self.s.namespace.clone()]
    }

    fn chart_args(&self, verb: &str, d: &Deployment) -> std::result::Result<Vec<String>, String> {
        let chart = d.args.get("chart").and_then(Value::as_str).ok_or("args.chart (a string) is required")?;
        let mut a = vec![verb.to_string(), d.deploy_id.clone(), chart.to_string()];
        a.extend(self.ns());
        if let Some(r) = &self.s.repo {
            a.extend(["--repo".into(), r.clone()]);
        }
        if let Some(c) = &self.s.ca_file {
            a.extend(["--ca-file".into(), c.clone()]);
        }
        if let Some(set) = set_arg(&self.values_of(d)) {
            a.extend(["--set".into(), set]);
        }
        Ok(a)
    }

    /// The values `d` is installed with: this site's values under the deployment's own.
    fn values_of(&self, d: &Deployment) -> Value {
        let mut v = self.s.values.clone();
        v.extend(flatten(d.args.get("values").unwrap_or(&Value::Null)));
        Value::Object(v.into_iter().collect())
    }

    async fn list(&self) -> std::result::Result<Vec<String>, String> {
        let mut a = vec!["list".to_string(), "-q".into()];
        a.extend(self.ns());
        Ok(self.call(&a).await?.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect())
    }

    async fn uninstall(&self, id: &str) -> std::result::Result<(), String> {
        let mut a = vec!["uninstall".to_string(), id.to_string()];
        a.extend(self.ns());
        self.call(&a).await.map(|_| ())
    }

    async fn install(&self, d: &Deployment) -> std::result::Result<(), String> {
        match self.call(&self.chart_args("install", d)?).await {
            Ok(_) => Ok(()),
            // The release exists (installed behind our back): bring it to this spec.
            Err(e) if e.contains("already exists") || e.contains("cannot re-use a name") => {
                tracing::warn!("release {} exists already: upgrading it instead", d.deploy_id);
                self.call(&self.chart_args("upgrade", d)?).await.map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    /// `helm get values <id> -n <ns> -o json` (`null` → `{}`).
    async fn values(&self, id: &str) -> std::result::Result<Value, String> {
        let mut a = vec!["get".to_string(), "values".into(), id.to_string()];
        a.extend(self.ns());
        a.extend(["-o".into(), "json".into()]);
        let out = self.call(&a).await?;
        let v: Value = serde_json::from_str(out.trim()).map_err(|e| format!("helm get values {id}: not JSON ({e})"))?;
        Ok(if v.is_null() { Value::Object(Default::default()) } else { v })
    }

    async fn upgrade(&self, d: &Deployment) -> std::result::Result<(), String> {
        self.call(&self.chart_args("upgrade", d)?).await.map(|_| ())
    }
}

#[derive(Default)]
struct Retry {
    attempts: u32,
    next: Option<Instant>,
}

/// Run until SIGTERM/SIGINT (then log "Asked to terminate" and return).
pub async fn run(s: Settings) -> Result<()> {
    let stop = crate::signals::shutdown_signal();
    crate::configdb::serve_as(COMPONENT_NAME, "deployer", async |config, alive| serve(s, config, stop, alive).await).await
}

/// The Helm deployer's name in the component records (`/component/<name>`).
pub const COMPONENT_NAME: &str = "deployer-helm";

async fn serve(s: Settings, config: Config, mut stop: tokio::sync::watch::Receiver<bool>, alive: &sdp_config::Liveness) -> Result<()> {
    let helm = Helm { s };
    let refresh = helm.s.refresh;
    let stopped = |stop: &tokio::sync::watch::Receiver<bool>| *stop.borrow();
    if let Some(url) = helm.s.stable_repo.clone() {
        if let Err(e) = helm.call(&["repo".into(), "add".into(), "stable".into(), url]).await {
            tracing::warn!("{e}");
        }
        if let Err(e) = helm.call(&["repo".into(), "update".into()]).await {
            tracing::warn!("{e}");
        }
    }
    // Release name → args we installed it with (None: found installed at start-up).
    let mut attempt = 0;
    let mut known: BTreeMap<String, Option<String>> = loop {
        match helm.list().await {
            Ok(l) => break l.into_iter().map(|r| (r, None)).collect(),
            Err(e) => {
                let wait = backoff(attempt);
                attempt += 1;
                tracing::error!("{e}; retrying in {wait:?}");
                tokio::select! { _ = tokio::time::sleep(wait) => {}, _ = stop.changed() => {} }
                if stopped(&stop) {
                    tracing::info!("Asked to terminate");
                    return Ok(());
                }
            }
        }
    };
    tracing::info!("Found {} existing deployments.", known.len());
    // A release whose deployment changed while no deployer ran: compare its values with
    // what the deployment asks for; a difference makes the first pass upgrade it.
    if let Ok((target, _)) = desired(&config, "helm").await {
        for (id, d) in &target {
            let Some(slot) = known.get_mut(id) else { continue };
            match helm.values(id).await {
                Ok(have) => {
                    let want = values_as_helm_reports(&helm.values_of(d));
                    *slot = Some(if have == want {
                        json::dumps(&d.args)
                    } else {
                        tracing::info!("release {id} does not have the values of its deployment: upgrading it");
                        String::new()
                    });
                }
                Err(e) => tracing::warn!("{e}"),
            }
        }
    }
    let mut retries: BTreeMap<String, Retry> = BTreeMap::new();
    let mut watch = None;
    let mut next_refresh = Instant::now() + refresh;
    loop {
        if Instant::now() >= next_refresh && helm.s.stable_repo.is_some() {
            if let Err(e) = helm.call(&["repo".into(), "update".into()]).await {
                tracing::warn!("{e}");
            }
            next_refresh = Instant::now() + refresh;
        }
        // Reading and reconciling is work (a hang there is reported); waiting is not.
        let work = alive.working();
        match desired(&config, "helm").await {
            Err(e) => {
                tracing::warn!("cannot read deployments: {e}");
                watch = None;
            }
            Ok((target, rev)) => {
                reconcile(&config, &helm, &target, &mut known, &mut retries).await;
                if watch.is_none() {
                    match watch_from(&config, rev).await {
                        Ok(w) => watch = Some(w),
                        Err(e) => tracing::warn!("cannot watch deployments: {e}"),
                    }
                }
            }
        }
        drop(work);
        let mut wake = next_refresh;
        if let Some(t) = retries.values().filter_map(|r| r.next).min() {
            wake = wake.min(t);
        }
        tokio::select! {
            _ = super::next_change(&mut watch) => {}
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {}
            _ = stop.changed() => {
                tracing::info!("Asked to terminate");
                return Ok(());
            }
        }
    }
}

async fn reconcile(
    config: &Config,
    helm: &Helm,
    target: &BTreeMap<String, Deployment>,
    known: &mut BTreeMap<String, Option<String>>,
    retries: &mut BTreeMap<String, Retry>,
) {
    let now = Instant::now();
    retries.retain(|id, _| target.contains_key(id) || known.contains_key(id));
    let due = |retries: &BTreeMap<String, Retry>, id: &str| retries.get(id).and_then(|r| r.next).is_none_or(|t| t <= now);
    let gone: Vec<String> = known.keys().filter(|r| !target.contains_key(*r)).cloned().collect();
    for id in gone {
        if !due(retries, &id) {
            continue;
        }
        match helm.uninstall(&id).await {
            Ok(()) => {
                known.remove(&id);
                retries.remove(&id);
            }
            Err(e) => {
                let r = retries.entry(id.clone()).or_default();
                let wait = backoff(r.attempts);
                r.attempts += 1;
                r.next = Some(Instant::now() + wait);
                tracing::error!("{e}; retrying in {wait:?}");
            }
        }
    }
    for (id, d) in target {
        let canon = json::dumps(&d.args);
        let verb = match known.get(id) {
            None => "install",
            Some(Some(c)) if *c != canon => "upgrade",
            Some(_) => continue,
        };
        if !due(retries, id) {
            continue;
        }
        let r = if verb == "install" { helm.install(d).await } else { helm.upgrade(d).await };
        match r {
            Ok(()) => {
                known.insert(id.clone(), Some(canon));
                if retries.remove(id).is_some() {
                    report(config, id, None).await;
                }
            }
            Err(e) => {
                let r = retries.entry(id.clone()).or_default();
                let wait = backoff(r.attempts);
                r.attempts += 1;
                r.next = Some(Instant::now() + wait);
                tracing::error!("{e}; retrying in {wait:?}");
                let state =
                    json!({"status": "FAILED", "operation": verb, "error": e, "attempts": r.attempts, "retry_in_s": wait.as_secs()});
                report(config, id, Some(&state)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_compared_as_helm_types_them() {
        let v = json!({"worker.replicas": 2, "jupyter.enabled": "false", "scheduler.serviceType": "ClusterIP", "v": "0.1.0", "n": 1.5, "l": [1, "z"], "z": "007"});
        assert_eq!(
            values_as_helm_reports(&v),
            json!({"jupyter": {"enabled": false}, "scheduler": {"serviceType": "ClusterIP"}, "worker": {"replicas": 2},
                   "v": "0.1.0", "n": "1.5", "l": [1, "z"], "z": "007"})
        );
        assert_eq!(values_as_helm_reports(&Value::Null), json!({}));
    }

    #[test]
    fn flatten_gives_dotted_keys_whichever_way_values_are_written() {
        let nested = json!({"global": {"etcd": {"tls": {"enabled": true}}}, "l": [1, {"a": 2}]});
        let dotted = json!({"global.etcd.tls.enabled": true, "l": [1, {"a": 2}]});
        assert_eq!(flatten(&nested), flatten(&dotted));
        assert_eq!(
            flatten(&nested).into_iter().collect::<Vec<_>>(),
            vec![("global.etcd.tls.enabled".to_string(), json!(true)), ("l".to_string(), json!([1, {"a": 2}]))]
        );
        assert!(flatten(&Value::Null).is_empty() && flatten(&json!("x")).is_empty());
    }

    #[test]
    fn set_arg_is_sorted_flat_and_escaped() {
        let v = json!({"worker.replicas": 2, "jupyter.enabled": "false", "scheduler.serviceType": "ClusterIP"});
        assert_eq!(set_arg(&v).unwrap(), "jupyter.enabled=false,scheduler.serviceType=ClusterIP,worker.replicas=2");
        let v = json!({"a": {"b": true, "c": "x,y"}, "l": [1, "z"]});
        assert_eq!(set_arg(&v).unwrap(), "a.b=true,a.c=x\\,y,l={1,z}");
        assert_eq!(set_arg(&json!({})), None);
    }
}
