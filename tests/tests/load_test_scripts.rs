//! The k6 scripts in `load-test/` and the manifests that run them in the cluster, checked
//! without k6 or a cluster: node parses every script as an ES module and evaluates each
//! one's `options` (with the `k6` modules stubbed out), and `kubectl kustomize` renders
//! every overlay. Neither tool is optional: a missing one fails the test, naming the
//! package to install.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;
use serde_json::{Value, json};

/// The scenarios, their scripts and the stage length README.md gives for each.
const SCENARIOS: [(&str, f64); 4] = [
    ("ramp", 35.0 * 60.0),
    ("spike", 21.0 * 60.0),
    ("sustained", 33.0 * 60.0),
    // The default STAGES, 30s:10,5m:100,1m:0.
    ("flexible", 6.5 * 60.0),
];

/// The only bare module names the scripts may import: modules built into k6. Anything
/// else (`k6/x/…`) would make k6 fetch an extension binary at start.
const K6_MODULES: [&str; 2] = ["k6", "k6/http"];

fn load_test() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the repository root")
        .join("load-test")
}

fn scripts_dir() -> PathBuf {
    load_test().join("scripts")
}

/// Runs `program args…`, failing the test with an install hint when it is missing.
fn run(program: &str, args: &[&str], stdin: Option<&str>, cwd: Option<&Path>) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        let hint = match program {
            "node" => "install Node.js 18 or later (Debian: apt-get install nodejs)",
            "kubectl" => "install kubectl 1.21 or later (it bundles kustomize v4+; Debian's kubernetes-client 1.20 is too old)",
            _ => "install it",
        };
        panic!("cannot run `{program}` ({e}): the load-test checks need it; {hint}")
    });
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Every `.js` file under `dir`, recursively, sorted.
fn js_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "js") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

/// node's verdict on `source` as an ES module: syntax only, imports are not resolved.
fn es_module_syntax(source: &str) -> Result<(), String> {
    let out = run(
        "node",
        &["--input-type=module", "--check"],
        Some(source),
        None,
    );
    if out.ok { Ok(()) } else { Err(out.stderr) }
}

/// The module specifiers of a script's static imports and re-exports (`… from '…'` and
/// `import '…'`). The scripts keep to these forms; no dynamic `import()`.
fn imports(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for keyword in ["from", "import"] {
        let mut rest = source;
        while let Some(at) = rest.find(keyword) {
            let after = &rest[at + keyword.len()..];
            let before_ok = rest[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric() && c != '_' && c != '.');
            let trimmed = after.trim_start();
            let spaced = trimmed.len() < after.len();
            if let (true, true, Some(quote @ ('\'' | '"'))) =
                (before_ok, spaced, trimmed.chars().next())
                && let Some(end) = trimmed[1..].find(quote)
            {
                found.push(trimmed[1..=end].to_string());
            }
            rest = after;
        }
    }
    found
}

/// The files the ConfigMap generator in `load-test/scripts/kustomization.yaml` ships.
fn shipped_files() -> Vec<String> {
    let text = std::fs::read_to_string(scripts_dir().join("kustomization.yaml"))
        .expect("load-test/scripts/kustomization.yaml");
    let k: Value = yaml_serde::from_str(&text).expect("kustomization YAML");
    let generators = k["configMapGenerator"]
        .as_array()
        .expect("a configMapGenerator list");
    assert_eq!(
        generators.len(),
        1,
        "one ConfigMap of scripts: {generators:?}"
    );
    generators[0]["files"]
        .as_array()
        .expect("a files list")
        .iter()
        .map(|f| f.as_str().expect("a file name").to_string())
        .collect()
}

/// `kubectl kustomize dir`, one JSON value per YAML document.
fn kustomize(dir: &Path) -> Vec<Value> {
    let path = dir.to_string_lossy();
    let out = run("kubectl", &["kustomize", &path], None, None);
    assert!(out.ok, "kubectl kustomize {path} failed:\n{}", out.stderr);
    yaml_serde::Deserializer::from_str(&out.stdout)
        .map(|doc| Value::deserialize(doc).expect("a YAML document"))
        .collect()
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
}

/// Evaluates scripts under node as k6 would at init, with `k6` and `k6/http` replaced by
/// stubs that refuse to send anything. Each case is `(script, env)`; the answer is, per
/// case, `{"options": …, "setup": bool, "default": bool}` or `{"error": message}`.
fn evaluate(cases: &[(&str, Value)]) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    for script in js_files(&scripts_dir()) {
        std::fs::copy(&script, root.join(file_name(&script))).expect("copy script");
    }
    std::fs::write(root.join("package.json"), r#"{"type":"module"}"#).expect("package.json");
    let k6 = root.join("node_modules/k6");
    std::fs::create_dir_all(&k6).expect("stub dir");
    std::fs::write(
        k6.join("package.json"),
        r#"{"name":"k6","type":"module","exports":{".":"./index.js","./http":"./http.js"}}"#,
    )
    .expect("stub package.json");
    std::fs::write(
        k6.join("index.js"),
        "export function check() { throw new Error('no checks at init'); }\n\
         export function sleep() { throw new Error('no sleep at init'); }\n",
    )
    .expect("stub k6");
    std::fs::write(
        k6.join("http.js"),
        "export default { get() { throw new Error('no requests at init'); } };\n",
    )
    .expect("stub k6/http");
    // A fresh module instance per case (the query string), so each reads its own __ENV.
    let program = r#"
import { pathToFileURL } from 'node:url';
const cases = JSON.parse(process.env.LOAD_TEST_CASES);
const results = [];
for (const [i, [script, env]] of cases.entries()) {
  globalThis.__ENV = env;
  try {
    const url = pathToFileURL(`${process.cwd()}/${script}`).href + `?case=${i}`;
    const m = await import(url);
    results.push({
      options: m.options,
      setup: typeof m.setup === 'function',
      default: typeof m.default === 'function',
    });
  } catch (e) {
    results.push({ error: String(e && e.message) });
  }
}
console.log(JSON.stringify(results));
"#;
    let cases_json = serde_json::to_string(
        &cases
            .iter()
            .map(|(s, env)| json!([s, env]))
            .collect::<Vec<_>>(),
    )
    .expect("cases JSON");
    let mut cmd = Command::new("node");
    cmd.args(["--input-type=module"])
        .current_dir(root)
        .env("LOAD_TEST_CASES", cases_json)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .expect("node (install Node.js 18 or later: apt-get install nodejs)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(program.as_bytes())
        .expect("write program");
    let out = child.wait_with_output().expect("node");
    assert!(
        out.status.success(),
        "node failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("results JSON");
    assert_eq!(results.len(), cases.len());
    results
}

fn seconds(duration: &str) -> f64 {
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = duration.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                0.001
            }
            ('s', _) => 1.0,
            ('m', _) => 60.0,
            ('h', _) => 3600.0,
            _ => panic!("bad duration {duration}"),
        };
        total += number.parse::<f64>().expect("a number") * unit;
        number.clear();
    }
    assert!(number.is_empty(), "bad duration {duration}");
    total
}

#[test]
fn every_script_under_load_test_parses_as_an_es_module() {
    // The check itself must reject a broken script, or passing means nothing.
    assert!(es_module_syntax("import http from 'k6/http';\nexport default function () {").is_err());
    assert!(es_module_syntax("import http from 'k6/http';\nexport default function () {}").is_ok());

    let files = js_files(&load_test());
    assert!(files.len() >= 6, "expected the k6 scripts, found {files:?}");
    for file in files {
        let source = std::fs::read_to_string(&file).expect("read script");
        if let Err(e) = es_module_syntax(&source) {
            panic!("{} is not a valid ES module:\n{e}", file.display());
        }
    }
}

#[test]
fn imports_resolve_to_files_the_configmap_ships() {
    let shipped = shipped_files();
    let shipped_set: BTreeSet<&str> = shipped.iter().map(String::as_str).collect();
    let dir = scripts_dir();
    let on_disk: BTreeSet<String> = js_files(&dir)
        .iter()
        .filter(|p| p.parent() == Some(dir.as_path()))
        .map(|p| file_name(p))
        .collect();
    // The ConfigMap is flat (keys cannot hold `/`), so everything sits in scripts/.
    assert_eq!(
        js_files(&dir).len(),
        on_disk.len(),
        "no subdirectories under load-test/scripts: the ConfigMap cannot hold them"
    );
    for f in &shipped {
        assert!(
            on_disk.contains(f),
            "the ConfigMap lists {f}, which does not exist"
        );
    }
    for f in &on_disk {
        assert!(
            shipped_set.contains(f.as_str()),
            "load-test/scripts/{f} is not in the ConfigMap (scripts/kustomization.yaml)"
        );
    }

    let mut relative = 0;
    for f in &on_disk {
        let source = std::fs::read_to_string(dir.join(f)).expect("read script");
        let specs = imports(&source);
        assert!(
            !specs.is_empty() || f == "config.js",
            "{f} imports nothing?"
        );
        for spec in specs {
            if let Some(name) = spec.strip_prefix("./") {
                relative += 1;
                assert!(
                    !name.contains('/'),
                    "{f} imports {spec}: the mounted ConfigMap is flat"
                );
                assert!(
                    shipped_set.contains(name),
                    "{f} imports {spec}, which the ConfigMap does not ship"
                );
            } else {
                assert!(
                    K6_MODULES.contains(&spec.as_str()),
                    "{f} imports {spec}: only ./file.js or a module built into k6 ({K6_MODULES:?})"
                );
            }
        }
    }
    assert!(
        relative >= 8,
        "the scenario scripts import config.js and common.js"
    );
}

#[test]
fn the_import_scanner_finds_static_imports() {
    let src = "import http from 'k6/http';\nimport {\n  a,\n  b as c,\n} from \"./config.js\";\n\
               import './side.js';\nexport { x } from './re.js';\nconst transform = 1; // from here\n";
    assert_eq!(
        imports(src),
        ["k6/http", "./config.js", "./re.js", "./side.js"].map(String::from)
    );
}

#[test]
fn every_overlay_renders_a_pinned_hardened_job_running_a_shipped_script() {
    let k8s = load_test().join("k8s");
    let mut scripts_run = BTreeSet::new();
    for dir in ["base", "ramp", "spike", "sustained", "flexible"] {
        let docs = kustomize(&k8s.join(dir));
        let job = docs
            .iter()
            .find(|d| d["kind"] == "Job")
            .unwrap_or_else(|| panic!("{dir}: no Job"));
        let cm = docs
            .iter()
            .find(|d| d["kind"] == "ConfigMap")
            .unwrap_or_else(|| panic!("{dir}: no ConfigMap"));
        assert_eq!(docs.len(), 2, "{dir}: a ConfigMap and a Job only");
        for d in [job, cm] {
            assert_eq!(str_at(d, "/metadata/namespace"), "demo", "{dir}");
        }
        let expected_name = if dir == "base" {
            "k6".to_string()
        } else {
            format!("k6-{dir}")
        };
        assert_eq!(str_at(job, "/metadata/name"), expected_name);

        assert_eq!(job["spec"]["backoffLimit"], 0, "{dir}: backoffLimit");
        assert!(
            job["spec"]["ttlSecondsAfterFinished"].as_u64().is_some(),
            "{dir}: ttlSecondsAfterFinished"
        );
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never", "{dir}");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{dir}");
        let containers = pod["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 1, "{dir}");
        let c = &containers[0];

        // Pinned: a version tag, never `latest` and never no tag at all.
        let image = str_at(c, "/image");
        let (name, tag) = image
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{dir}: image {image} has no tag"));
        assert_eq!(name, "grafana/k6", "{dir}");
        assert!(
            tag != "latest" && tag.split('.').all(|p| p.parse::<u32>().is_ok()),
            "{dir}: image {image} must be pinned to a release (x.y.z)"
        );

        for kind in ["requests", "limits"] {
            for r in ["cpu", "memory"] {
                assert!(
                    c["resources"][kind][r].is_string(),
                    "{dir}: resources.{kind}.{r} unset"
                );
            }
        }
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{dir}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{dir}");

        // The script: K6_SCRIPT names a key of the ConfigMap the Job mounts at /scripts.
        let env = c["env"].as_array().expect("env");
        let var = |n: &str| env.iter().position(|e| e["name"] == n);
        let value = |n: &str| {
            let i = var(n).unwrap_or_else(|| panic!("{dir}: no {n}"));
            str_at(&env[i], "/value").to_string()
        };
        assert_eq!(
            c["args"],
            json!(["run", "/scripts/$(K6_SCRIPT)"]),
            "{dir}: args"
        );
        let script = value("K6_SCRIPT");
        assert!(
            cm["data"][&script].is_string(),
            "{dir}: K6_SCRIPT={script} is not in the ConfigMap"
        );
        scripts_run.insert(script);
        let mounts = c["volumeMounts"].as_array().expect("volumeMounts");
        let mount = mounts
            .iter()
            .find(|m| m["mountPath"] == "/scripts")
            .unwrap_or_else(|| panic!("{dir}: nothing mounted at /scripts"));
        let volume = pod["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == mount["name"])
            .expect("the /scripts volume");
        assert_eq!(
            volume["configMap"]["name"], cm["metadata"]["name"],
            "{dir}: /scripts is not the generated ConfigMap"
        );
        for f in shipped_files() {
            assert!(cm["data"][&f].is_string(), "{dir}: ConfigMap lacks {f}");
        }

        // Through the ingress: the node's IP (defined before its use) and the Ingress host.
        let node_ip = var("NODE_IP").unwrap_or_else(|| panic!("{dir}: no NODE_IP"));
        assert_eq!(
            str_at(&env[node_ip], "/valueFrom/fieldRef/fieldPath"),
            "status.hostIP"
        );
        let target = var("TARGET_URL").unwrap_or_else(|| panic!("{dir}: no TARGET_URL"));
        assert!(node_ip < target, "{dir}: NODE_IP must precede TARGET_URL");
        assert!(value("TARGET_URL").contains("$(NODE_IP)"), "{dir}");
        assert_eq!(value("HOST_HEADER"), "web.demo.local", "{dir}");
    }
    let expected: BTreeSet<String> = SCENARIOS.iter().map(|(s, _)| format!("{s}.js")).collect();
    assert_eq!(scripts_run, expected, "one overlay per scenario script");
}

#[test]
fn scenario_options_carry_the_slo_thresholds_and_the_documented_shapes() {
    let cases: Vec<(String, Value)> = SCENARIOS
        .iter()
        .map(|(s, _)| (format!("{s}.js"), json!({})))
        .collect();
    let cases: Vec<(&str, Value)> = cases.iter().map(|(s, e)| (s.as_str(), e.clone())).collect();
    let results = evaluate(&cases);
    for ((name, length), r) in SCENARIOS.iter().zip(&results) {
        assert!(r["error"].is_null(), "{name}.js: {}", r["error"]);
        assert_eq!(r["setup"], true, "{name}.js exports setup (the preflight)");
        assert_eq!(r["default"], true, "{name}.js exports a default function");
        let options = &r["options"];
        let thresholds = options["thresholds"].to_string();
        assert!(
            thresholds.contains("p(95)<200") && thresholds.contains("http_req_failed"),
            "{name}.js thresholds: {thresholds}"
        );
        assert_eq!(
            options["thresholds"]["http_req_failed"],
            json!(["rate<0.01"])
        );
        let scenarios = options["scenarios"].as_object().expect("scenarios");
        assert_eq!(scenarios.len(), 1, "{name}.js");
        let (key, sc) = scenarios.iter().next().expect("a scenario");
        assert_eq!(key, name);
        assert_eq!(sc["tags"]["shape"], *name);
        assert_eq!(sc["executor"], "ramping-arrival-rate", "{name}.js");
        assert_eq!(sc["timeUnit"], "1s");
        let pre = sc["preAllocatedVUs"].as_u64().expect("preAllocatedVUs");
        let max = sc["maxVUs"].as_u64().expect("maxVUs");
        assert!(pre >= 1 && pre <= max, "{name}.js VUs {pre}/{max}");
        let stages = sc["stages"].as_array().expect("stages");
        let total: f64 = stages.iter().map(|s| seconds(str_at(s, "/duration"))).sum();
        assert!(
            (total - length).abs() < 1e-6,
            "{name}.js runs {total} s of stages, README says {length} s"
        );
        let peak = stages
            .iter()
            .map(|s| s["target"].as_u64().expect("target"))
            .max()
            .expect("a stage");
        assert!(max >= 2 * peak, "{name}.js: maxVUs {max} for {peak}/s");
    }
    // The spike is a x10 step within 30 s.
    let spike = &results[1]["options"]["scenarios"]["spike"];
    let stages = spike["stages"].as_array().expect("stages");
    let step = stages
        .iter()
        .position(|s| s["target"] == 200)
        .expect("the step");
    assert_eq!(stages[step]["duration"], "30s");
    assert_eq!(stages[step - 1]["target"], 20);
}

#[test]
fn flexible_reads_its_shape_from_the_environment_and_refuses_bad_values() {
    let ok_cases = [
        json!({}),
        json!({"STAGES": "1m:5, 10m:300 ,2m:0", "START": "5", "MAX_VUS": "900",
               "P95_MS": "350", "MAX_ERROR_RATE": "0.05",
               "TARGET_URL": "http://10.0.0.7/", "HOST_HEADER": "web.demo.local"}),
        json!({"EXECUTOR": "ramping-vus", "STAGES": "1m30s:20,500ms:0", "SLEEP_S": "0.5"}),
        // Empty means unset: the Kubernetes way of leaving a variable at its default.
        json!({"STAGES": "", "P95_MS": " "}),
    ];
    let bad_cases = [
        (json!({"STAGES": "5m"}), "STAGES="),
        (json!({"STAGES": "5x:10"}), "STAGES="),
        (json!({"STAGES": "1m:-1"}), "STAGES="),
        (json!({"STAGES": "1m:10,,1m:0"}), "STAGES="),
        (json!({"STAGES": "1m:0,2m:0"}), "STAGES="),
        (json!({"EXECUTOR": "constant-vus"}), "EXECUTOR="),
        (json!({"P95_MS": "fast"}), "P95_MS="),
        (json!({"P95_MS": "0"}), "P95_MS="),
        (json!({"MAX_ERROR_RATE": "2"}), "MAX_ERROR_RATE="),
        (json!({"TARGET_URL": "web.demo.local"}), "TARGET_URL="),
        (json!({"HOST_HEADER": "web demo"}), "HOST_HEADER="),
        (json!({"START": "1.5"}), "START="),
        (json!({"MAX_VUS": "0"}), "MAX_VUS="),
    ];
    let mut cases: Vec<(&str, Value)> = ok_cases
        .iter()
        .map(|e| ("flexible.js", e.clone()))
        .collect();
    cases.extend(bad_cases.iter().map(|(e, _)| ("flexible.js", e.clone())));
    // The fixed shapes share the same validation of the common variables.
    cases.push(("spike.js", json!({"MAX_ERROR_RATE": "none"})));
    let results = evaluate(&cases);

    let scenario = |r: &Value| r["options"]["scenarios"]["flexible"].clone();
    for (i, r) in results[..ok_cases.len()].iter().enumerate() {
        assert!(r["error"].is_null(), "case {i}: {}", r["error"]);
    }
    let default = scenario(&results[0]);
    assert_eq!(default["executor"], "ramping-arrival-rate");
    assert_eq!(
        default["stages"],
        json!([{"duration": "30s", "target": 10}, {"duration": "5m", "target": 100},
               {"duration": "1m", "target": 0}])
    );
    assert_eq!(default["startRate"], 0);

    let custom = scenario(&results[1]);
    assert_eq!(
        custom["stages"],
        json!([{"duration": "1m", "target": 5}, {"duration": "10m", "target": 300},
               {"duration": "2m", "target": 0}])
    );
    assert_eq!(custom["startRate"], 5);
    assert_eq!(custom["maxVUs"], 900);
    let thresholds = &results[1]["options"]["thresholds"];
    assert_eq!(thresholds["http_req_duration"], json!(["p(95)<350"]));
    assert_eq!(thresholds["http_req_failed"], json!(["rate<0.05"]));
    assert_eq!(thresholds["checks"], json!(["rate>0.95"]));

    let vus = scenario(&results[2]);
    assert_eq!(vus["executor"], "ramping-vus");
    assert_eq!(vus["startVUs"], 0);
    assert_eq!(vus["stages"][0], json!({"duration": "1m30s", "target": 20}));

    assert_eq!(scenario(&results[3])["stages"], default["stages"]);
    assert_eq!(
        results[3]["options"]["thresholds"]["http_req_duration"],
        json!(["p(95)<200"])
    );

    let refused = &results[ok_cases.len()..];
    for ((env, variable), r) in bad_cases.iter().zip(refused) {
        let message = r["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{env} was accepted: {}", r["options"]));
        assert!(
            message.contains(variable) && message.contains("expected"),
            "{env}: the message should name {variable} and what is expected: {message}"
        );
    }
    let spike = results.last().expect("the spike case");
    assert!(
        spike["error"]
            .as_str()
            .is_some_and(|m| m.contains("MAX_ERROR_RATE=")),
        "spike.js accepted MAX_ERROR_RATE=none: {spike}"
    );
}

#[test]
fn duration_parser_agrees_with_k6_units() {
    assert_eq!(seconds("30s"), 30.0);
    assert_eq!(seconds("1m30s"), 90.0);
    assert_eq!(seconds("500ms"), 0.5);
    assert_eq!(seconds("2h"), 7200.0);
}
