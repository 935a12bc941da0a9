//! `sdpcfg`: command-line access to the SDP configuration database, a drop-in for
//! the Python tool of ska-sdp-config 0.0.5 (same verbs, same output).

use clap::{Arg, ArgAction, ArgMatches, Command};
use sdp_config::{Config, Deployment, EbStatus, Error, ProcessingBlock, Recurse, Txn, Workflow};
use serde_json::Value;
use std::io::{Read, Write};
use std::process::ExitCode;

const USAGE: &str = "Usage:
  sdpcfg [options] (get|watch) <path>
  sdpcfg [options] [watch] (ls|list) [values] [-R] <path>
  sdpcfg [options] delete [-R] <path>
  sdpcfg [options] (create|update) <path> <value>
  sdpcfg [options] edit <path>
  sdpcfg [options] process <workflow> [<parameters>]
  sdpcfg [options] deploy <type> <name> <parameters>
  sdpcfg [options] create eb <execution-block>
  sdpcfg [options] end eb <eb_id> [--cancel]
  sdpcfg --help";

const DOC_TAIL: &str = "
Options:
  -q, --quiet          Cut back on unnecessary output
  --prefix <prefix>    Path prefix for high-level API (process, deploy)

<value> or <parameters> given as - are read from standard input.

Execution blocks (ADR-8 interface): `create eb` stores an execution block given as JSON or
YAML (an object with `eb_id`, and `processing_blocks` [{pb_id, script {kind, name, version},
parameters, dependencies}] stored with it in one transaction) and its state (ACTIVE);
`end eb` marks it FINISHED (with --cancel: CANCELLED). `ls -R /eb` lists them, `get
/eb/<eb_id>/state` shows one's state.

Environment Variables:
  SDP_CONFIG_BACKEND   Database backend (default etcd3; or memory)
  SDP_CONFIG_HOST      Database host address (default 127.0.0.1)
  SDP_CONFIG_PORT      Database port (default 2379)
  SDP_CONFIG_PROTOCOL  Database access protocol (default http)
  SDP_CONFIG_CERT      Client certificate
  SDP_CONFIG_USERNAME  User name
  SDP_CONFIG_PASSWORD  User password
";

fn doc() -> String {
    format!("Command line utility for accessing SKA SDP configuration.\n\n{USAGE}\n{DOC_TAIL}")
}

fn path_arg() -> Arg {
    Arg::new("path").required(true).allow_hyphen_values(true)
}

fn cli() -> Command {
    let recursive = || Arg::new("R").short('R').action(ArgAction::SetTrue);
    let list = |name: &'static str| {
        Command::new(name).arg(recursive()).arg(Arg::new("words").num_args(1..).action(ArgAction::Append).required(true))
    };
    Command::new("sdpcfg")
        .disable_help_flag(true)
        .disable_help_subcommand(true)
        .disable_version_flag(true)
        .subcommand_required(false)
        .arg(Arg::new("help").long("help").short('h').action(ArgAction::SetTrue).global(true))
        .arg(Arg::new("quiet").short('q').long("quiet").action(ArgAction::SetTrue).global(true))
        .arg(Arg::new("prefix").long("prefix").num_args(1).global(true))
        .subcommand(Command::new("get").arg(path_arg()))
        .subcommand(
            Command::new("watch")
                .args_conflicts_with_subcommands(true)
                .subcommand_negates_reqs(true)
                .arg(path_arg())
                .subcommand(list("ls"))
                .subcommand(list("list")),
        )
        .subcommand(list("ls"))
        .subcommand(list("list"))
        .subcommand(Command::new("delete").arg(recursive()).arg(path_arg()))
        .subcommand(Command::new("create").arg(path_arg()).arg(Arg::new("value").required(true).allow_hyphen_values(true)))
        .subcommand(Command::new("update").arg(path_arg()).arg(Arg::new("value").required(true).allow_hyphen_values(true)))
        .subcommand(Command::new("edit").arg(path_arg()))
        .subcommand(Command::new("process").arg(Arg::new("workflow").required(true)).arg(Arg::new("parameters").allow_hyphen_values(true)))
        .subcommand(
            Command::new("end")
                .arg(Arg::new("what").required(true).value_parser(["eb"]))
                .arg(Arg::new("id").required(true))
                .arg(Arg::new("cancel").long("cancel").action(ArgAction::SetTrue)),
        )
        .subcommand(
            Command::new("deploy")
                .arg(Arg::new("type").required(true))
                .arg(Arg::new("name").required(true))
                .arg(Arg::new("parameters").required(true).allow_hyphen_values(true)),
        )
}

/// A parsed command line.
#[derive(Debug)]
enum Cmd {
    Get { path: String, watch: bool },
    List { path: String, values: bool, recursive: bool, watch: bool },
    Delete { path: String, recursive: bool },
    Create { path: String, value: String },
    Update { path: String, value: String },
    Edit { path: String },
    Process { workflow: Workflow, parameters: Option<String> },
    Deploy { kind: String, name: String, parameters: String },
    CreateEb { value: String },
    EndEb { eb_id: String, cancel: bool },
}

struct Opts {
    quiet: bool,
    prefix: String,
}

fn usage_error(lines: &[String], full: bool) -> ExitCode {
    let mut err = std::io::stderr().lock();
    for l in lines {
        let _ = writeln!(err, "{l}");
    }
    let _ = writeln!(err, "{}", if full { doc() } else { USAGE.to_string() });
    ExitCode::from(1)
}

fn read_stdin_if_dash(v: Option<&String>) -> Result<Option<String>, String> {
    match v {
        Some(s) if s == "-" => {
            let mut buf = String::new();
            std::io::stdin().read_to_string(&mut buf).map_err(|e| format!("cannot read standard input: {e}"))?;
            Ok(Some(buf))
        }
        other => Ok(other.cloned()),
    }
}

fn list_cmd(m: &ArgMatches, watch: bool) -> Result<Cmd, String> {
    let words: Vec<&String> = m.get_many::<String>("words").map(|w| w.collect()).unwrap_or_default();
    let (values, path) = match words.as_slice() {
        [p] => (false, (*p).clone()),
        [v, p] if v.as_str() == "values" => (true, (*p).clone()),
        _ => return Err(format!("unexpected argument '{}'", words[0])),
    };
    Ok(Cmd::List { path, values, recursive: m.get_flag("R"), watch })
}

/// Parse and validate; `Err(exit code)` when usage or validation failed (already reported).
fn parse(args: Vec<String>) -> Result<(Cmd, Opts), ExitCode> {
    let m = match cli().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => {
            // clap's message, on one line (it may span a few before its own usage part).
            let text = e.to_string();
            let msg: Vec<&str> = text.lines().take_while(|l| !l.is_empty() && !l.starts_with("Usage:")).map(str::trim).collect();
            let msg = if msg.is_empty() { "error: invalid arguments".to_string() } else { msg.join(" ") };
            return Err(usage_error(&[msg], false));
        }
    };
    let sub = m.subcommand();
    let help = m.get_flag("help") || sub.is_some_and(|(_, s)| s.get_flag("help"));
    if help {
        print!("{}", doc());
        return Err(ExitCode::SUCCESS);
    }
    let Some((name, sm)) = sub else {
        return Err(usage_error(&[], false));
    };
    let s = |k: &str| sm.get_one::<String>(k).cloned().unwrap_or_default();
    let value = |k: &str| read_stdin_if_dash(sm.get_one::<String>(k));
    let cmd = match name {
        "get" => Ok(Cmd::Get { path: s("path"), watch: false }),
        "watch" => match sm.subcommand() {
            Some((_, lm)) => list_cmd(lm, true),
            None => Ok(Cmd::Get { path: s("path"), watch: true }),
        },
        "ls" | "list" => list_cmd(sm, false),
        "delete" => Ok(Cmd::Delete { path: s("path"), recursive: sm.get_flag("R") }),
        "create" if s("path") == "eb" => value("value").map(|v| Cmd::CreateEb { value: v.unwrap_or_default() }),
        "end" => Ok(Cmd::EndEb { eb_id: s("id"), cancel: sm.get_flag("cancel") }),
        "create" | "update" => value("value").map(|v| {
            let (path, value) = (s("path"), v.unwrap_or_default());
            if name == "create" {
                Cmd::Create { path, value }
            } else {
                Cmd::Update { path, value }
            }
        }),
        "edit" => Ok(Cmd::Edit { path: s("path") }),
        "process" => {
            let parts: Vec<&str> = sm.get_one::<String>("workflow").map_or(vec![], |w| w.split(':').collect());
            if parts.len() != 3 {
                return Err(usage_error(&["Please specify workflow as 'type:name:version'!".into()], true));
            }
            value("parameters").map(|p| Cmd::Process { workflow: Workflow::new(parts[0], parts[1], parts[2]), parameters: p })
        }
        "deploy" => value("parameters").map(|p| Cmd::Deploy { kind: s("type"), name: s("name"), parameters: p.unwrap_or_default() }),
        _ => Err(format!("unknown command {name}")),
    };
    let cmd = cmd.map_err(|e| usage_error(&[e], false))?;
    // Path checks, as the Python tool made them before connecting.
    let path = match &cmd {
        Cmd::Get { path, .. } | Cmd::List { path, .. } | Cmd::Delete { path, .. } => Some(path),
        Cmd::Create { path, .. } | Cmd::Update { path, .. } | Cmd::Edit { path } => Some(path),
        _ => None,
    };
    if let Some(path) = path {
        let mut problems = Vec::new();
        if !path.starts_with('/') {
            problems.push("Path must start with '/'!".to_string());
        }
        if !path.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'/') {
            problems.push("Path contains non-permissable characters!".to_string());
        }
        if !problems.is_empty() {
            return Err(usage_error(&problems, true));
        }
    }
    let opts = Opts { quiet: m.get_flag("quiet"), prefix: m.get_one::<String>("prefix").cloned().unwrap_or_default() };
    Ok((cmd, opts))
}

fn yaml_to_json(text: &str) -> Result<Value, Error> {
    let v: Value = serde_yaml_ng::from_str(text).map_err(|e| Error::Value(format!("Invalid YAML: {e}")))?;
    Ok(v)
}

/// Write to stdout; a closed pipe ends the program quietly.
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

fn edit_value(path: &str, val: Option<String>) -> Result<Option<String>, Error> {
    let editor = std::env::var("EDITOR").map_err(|_| Error::Value("EDITOR is not set: cannot edit".into()))?;
    let val = val.unwrap_or_else(|| "None".into());
    let parsed: Option<Value> = serde_json::from_str(&val).ok();
    let (text, suffix) = match &parsed {
        Some(v) => (serde_yaml_ng::to_string(v).map_err(|e| Error::Value(e.to_string()))?, "yml"),
        None => (format!("{val}\n"), "dat"),
    };
    let base = path.rsplit('/').next().unwrap_or("value");
    let file = std::env::temp_dir().join(format!("{base}-{}.{suffix}", std::process::id()));
    std::fs::write(&file, &text).map_err(|e| Error::Runtime(format!("cannot write {}: {e}", file.display())))?;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} {}", file.display()))
        .status()
        .map_err(|e| Error::Runtime(format!("cannot run editor: {e}")))?;
    let new = std::fs::read_to_string(&file).map_err(|e| Error::Runtime(format!("cannot read {}: {e}", file.display())));
    let _ = std::fs::remove_file(&file);
    if !status.success() {
        return Err(Error::Runtime(format!("editor exited with {status}; nothing changed")));
    }
    let new = new?;
    let new =
        if parsed.is_some() { sdp_config::json::dumps(&yaml_to_json(&new)?) } else { new.strip_suffix('\n').unwrap_or(&new).to_string() };
    Ok(if new == val { None } else { Some(new) })
}

/// One pass of the command inside the transaction. Returns the text to print.
async fn body(txn: &mut Txn, cmd: &Cmd, opts: &Opts) -> Result<(String, Option<String>), Error> {
    let mut out = String::new();
    let mut pb_id = None;
    match cmd {
        Cmd::Get { path, .. } => {
            let v = txn.get(path).await?.unwrap_or_else(|| "None".into());
            if opts.quiet {
                out = format!("{v}\n");
            } else {
                out = format!("{path} = {v}\n");
            }
        }
        Cmd::List { path, values, recursive, .. } => {
            let keys = txn.list_keys(path, Recurse::Depth(if *recursive { 8 } else { 0 })).await?;
            if *values {
                let mut vals = Vec::new();
                for k in &keys {
                    vals.push(txn.get(k).await?.unwrap_or_else(|| "None".into()));
                }
                if opts.quiet {
                    out = format!("{}\n", vals.join(" "));
                } else {
                    out = format!("Keys with {path} prefix:\n");
                    for (k, v) in keys.iter().zip(vals) {
                        out.push_str(&format!("{k} = {v}\n"));
                    }
                }
            } else if opts.quiet {
                out = format!("{}\n", keys.join(" "));
            } else {
                out = format!("Keys with {path} prefix: {}\n", keys.join(", "));
            }
        }
        Cmd::Create { path, value } => txn.create(path, value, None).await?,
        Cmd::Update { path, value } => txn.update(path, value).await?,
        Cmd::Delete { path, recursive: false } => txn.delete(path, true, false).await?,
        // Not in the transaction: any number of keys (see `run`).
        Cmd::Delete { recursive: true, .. } => unreachable!("recursive delete runs outside the transaction"),
        Cmd::Edit { path } => {
            let val = txn.get(path).await?;
            match edit_value(path, val)? {
                None => out.push_str("No change!\n"),
                Some(new) => txn.update(path, &new).await?,
            }
        }
        Cmd::Process { workflow, parameters } => {
            let pars = match parameters {
                Some(p) => yaml_to_json(p)?,
                None => Value::Object(Default::default()),
            };
            let id = txn.new_processing_block_id(&workflow.kind).await?;
            let mut pb = ProcessingBlock::new(&id, Value::Null, workflow.clone())?;
            pb.parameters = pars;
            txn.create_processing_block(&pb).await?;
            pb_id = Some(id);
        }
        Cmd::Deploy { kind, name, parameters } => {
            let args = yaml_to_json(parameters)?;
            txn.create_deployment(&Deployment::new(name, kind, args)?).await?;
        }
        Cmd::CreateEb { value } => {
            let (eb, pbs) = execution_block_from(&yaml_to_json(value)?)?;
            txn.create_execution_block(&eb, &pbs).await?;
        }
        Cmd::EndEb { eb_id, cancel } => {
            let status = if *cancel { EbStatus::CANCELLED } else { EbStatus::FINISHED };
            txn.end_execution_block(eb_id, status).await?;
        }
    }
    Ok((out, pb_id))
}

/// An execution block as `create eb` takes it: the EB object (its `processing_blocks` taken
/// out) and those PBs in the script layout.
fn execution_block_from(v: &Value) -> Result<(Value, Vec<ProcessingBlock>), Error> {
    let mut eb = v.as_object().cloned().ok_or_else(|| Error::Value("Execution block must be a JSON object!".into()))?;
    let eb_id =
        eb.get("eb_id").and_then(Value::as_str).ok_or_else(|| Error::Value("Execution block must have an eb_id!".into()))?.to_string();
    let mut pbs = Vec::new();
    for p in eb.remove("processing_blocks").and_then(|p| p.as_array().cloned()).unwrap_or_default() {
        let mut p = p.as_object().cloned().ok_or_else(|| Error::Value("A processing block must be a JSON object!".into()))?;
        p.insert("eb_id".into(), Value::String(eb_id.clone()));
        p.entry("dependencies").or_insert_with(|| Value::Array(vec![]));
        pbs.push(ProcessingBlock::from_value(&Value::Object(p))?);
    }
    Ok((Value::Object(eb), pbs))
}

async fn run(cmd: Cmd, opts: Opts) -> Result<(), Error> {
    let cfg = Config::from_env().await?.with_prefix(&opts.prefix);
    let watch = matches!(cmd, Cmd::Get { watch: true, .. } | Cmd::List { watch: true, .. });
    if let Cmd::Delete { path, recursive: true } = &cmd {
        // Range deletes in one transaction, however many keys (a transaction that compared
        // and deleted each listed key stopped at etcd's 128 operations).
        let deleted = cfg.db().delete_tree(path, 8).await?;
        if !opts.quiet {
            emit(&deleted.iter().map(|k| format!("{k}\n")).collect::<String>());
            emit("OK\n");
        }
        return Ok(());
    }
    let mut txn = cfg.txn();
    let pb_id = loop {
        let (out, pb_id) = body(&mut txn, &cmd, &opts).await?;
        if watch {
            // Read-only passes never retry: print now, then wait for a change.
            emit(&out);
            txn.repeat(true, None);
            txn.commit().await?;
            continue;
        }
        if txn.commit().await? {
            emit(&out);
            break pb_id;
        }
    };
    if !opts.quiet {
        match cmd {
            Cmd::Create { .. } | Cmd::Update { .. } | Cmd::Delete { .. } | Cmd::Edit { .. } | Cmd::CreateEb { .. } | Cmd::EndEb { .. } => {
                emit("OK\n")
            }
            Cmd::Process { .. } => emit(&format!("OK, pb_id = {}\n", pb_id.unwrap_or_default())),
            _ => {}
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let (cmd, opts) = match parse(std::env::args().collect()) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("RuntimeError: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let watch = matches!(cmd, Cmd::Get { watch: true, .. } | Cmd::List { watch: true, .. });
    let result = rt.block_on(async {
        tokio::select! {
            r = run(cmd, opts) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    match result {
        Some(Ok(())) => ExitCode::SUCCESS,
        Some(Err(e)) => {
            eprintln!("{}: {}", e.kind(), e.to_string().replace('\n', " "));
            ExitCode::from(1)
        }
        // Ctrl-C: the normal way to end a watch; anything else was interrupted.
        None if watch => ExitCode::SUCCESS,
        None => {
            eprintln!("KeyboardInterrupt");
            ExitCode::from(130)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Option<(Cmd, Opts)> {
        let mut v = vec!["sdpcfg".to_string()];
        v.extend(args.iter().map(|s| s.to_string()));
        parse(v).ok()
    }

    #[test]
    fn grammar_of_the_python_tool() {
        let (c, o) = p(&["ls", "values", "-R", "/pb"]).unwrap();
        assert!(matches!(c, Cmd::List { ref path, values: true, recursive: true, watch: false } if path == "/pb"));
        assert!(!o.quiet && o.prefix.is_empty());
        let (c, o) = p(&["-R", "list", "/pb/"]).map_or((None, None), |(c, o)| (Some(c), Some(o)));
        assert!(c.is_none() && o.is_none(), "-R belongs after ls/delete");
        let (c, o) = p(&["get", "/x", "-q"]).unwrap();
        assert!(matches!(c, Cmd::Get { watch: false, .. }) && o.quiet);
        let (c, _) = p(&["watch", "ls", "-R", "/w"]).unwrap();
        assert!(matches!(c, Cmd::List { watch: true, recursive: true, values: false, .. }));
        let (c, _) = p(&["watch", "/w/key"]).unwrap();
        assert!(matches!(c, Cmd::Get { watch: true, .. }));
        let (c, o) = p(&["--prefix", "/__t", "process", "realtime:a:1", "{x: 1}"]).unwrap();
        assert!(
            matches!(c, Cmd::Process { ref workflow, parameters: Some(ref s) } if workflow == &Workflow::new("realtime", "a", "1") && s == "{x: 1}")
        );
        assert_eq!(o.prefix, "/__t");
        let (c, _) = p(&["delete", "-R", "/foo"]).unwrap();
        assert!(matches!(c, Cmd::Delete { recursive: true, .. }));
        let (c, _) = p(&["deploy", "helm", "n", "{}"]).unwrap();
        assert!(matches!(c, Cmd::Deploy { ref kind, ref name, .. } if kind == "helm" && name == "n"));
    }

    #[test]
    fn execution_block_verbs() {
        let (c, _) = p(&["create", "eb", "{eb_id: eb-1}"]).unwrap();
        assert!(matches!(c, Cmd::CreateEb { ref value } if value == "{eb_id: eb-1}"));
        let (c, _) = p(&["end", "eb", "eb-1"]).unwrap();
        assert!(matches!(c, Cmd::EndEb { ref eb_id, cancel: false } if eb_id == "eb-1"));
        let (c, _) = p(&["end", "eb", "eb-1", "--cancel"]).unwrap();
        assert!(matches!(c, Cmd::EndEb { cancel: true, .. }));
        assert!(p(&["end", "pb", "x"]).is_none(), "only execution blocks are ended");
        let v = serde_json::json!({"eb_id": "eb-1", "max_length": 10, "processing_blocks": [
            {"pb_id": "pb-1", "script": {"kind": "realtime", "name": "vis_receive", "version": "0.1.0"}, "parameters": {}}]});
        let (eb, pbs) = execution_block_from(&v).unwrap();
        assert_eq!(eb, serde_json::json!({"eb_id": "eb-1", "max_length": 10}));
        assert_eq!((pbs[0].eb_id.as_deref(), pbs[0].workflow.id.as_str()), (Some("eb-1"), "vis_receive"));
        let e =
            execution_block_from(&serde_json::json!({"eb_id": "eb-1", "processing_blocks": [{"pb_id": "pb-1", "script": {"kind": "x"}}]}));
        assert_eq!(e.unwrap_err().to_string(), "Script must specify kind, name and version!");
        assert_eq!(execution_block_from(&serde_json::json!({"x": 1})).unwrap_err().to_string(), "Execution block must have an eb_id!");
    }

    #[test]
    fn rejected_before_connecting() {
        for bad in [
            &["get", "foo"][..],
            &["get", "/b@d"],
            &["process", "realtime:x"],
            &["ls", "extra", "/x"],
            &["create", "/x"],
            &["frobnicate"],
            &[],
        ] {
            assert!(p(bad).is_none(), "{bad:?}");
        }
    }
}
