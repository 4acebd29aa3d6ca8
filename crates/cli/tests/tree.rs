//! `zk export`, `import`, `validate` and `set-property` against a real server.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use zk_testkit::{shared_server, unique_path};

/// Runs `zk` with `stdin`, bounded in time.
fn zk(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zk"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zk runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "zk {args:?} did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const TREE: &str = "\
/cms : z4m cms
  threads = 4
  database -> /databases/cms
  /providers
/databases
  /cms
    name = u'cms'
";

#[test]
fn validate_needs_no_server_and_names_the_bad_line() {
    let ok = zk(&["-s", "127.0.0.1:1", "validate", "-"], TREE);
    assert_eq!(ok.status.code(), Some(0), "{}", err(&ok));
    let bad = zk(&["validate", "-"], "/a\n  x = 1\n  y = nonsense(\n");
    assert_eq!(bad.status.code(), Some(1));
    assert!(err(&bad).contains("line 3"), "{}", err(&bad));
    let missing = zk(&["validate", "/nonexistent/tree.zk"], "");
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn import_dry_run_import_export_and_set_property() {
    let cs = shared_server().connect_string();
    let root = unique_path("cli-tree");
    let create = zk(&["-s", &cs, "create", &root], "");
    assert_eq!(create.status.code(), Some(0), "{}", err(&create));
    let chrooted = format!("{cs}{root}");

    let dry = zk(&["-s", &chrooted, "import", "--dry-run", "-", "/"], TREE);
    assert_eq!(dry.status.code(), Some(0), "{}", err(&dry));
    assert!(out(&dry).contains("add /cms"), "{}", out(&dry));
    let ls = zk(&["-s", &chrooted, "ls", "/"], "");
    assert_eq!(out(&ls), "", "a dry run writes nothing");

    let bad = zk(&["-s", &chrooted, "import", "-", "/"], "/x\n  = oops\n");
    assert_eq!(bad.status.code(), Some(1));
    assert!(err(&bad).contains("line 2"), "{}", err(&bad));
    assert_eq!(
        out(&zk(&["-s", &chrooted, "ls", "/"], "")),
        "",
        "a bad file changes nothing"
    );

    let import = zk(&["-s", &chrooted, "import", "-", "/"], TREE);
    assert_eq!(import.status.code(), Some(0), "{}", err(&import));
    assert_eq!(
        out(&zk(&["-s", &chrooted, "ls", "/"], "")),
        "cms\ndatabases\n"
    );

    let export = zk(&["-s", &chrooted, "export", "/cms"], "");
    assert_eq!(export.status.code(), Some(0), "{}", err(&export));
    let text = out(&export);
    assert!(text.starts_with("/cms : z4m cms\n"), "{text}");
    assert!(
        text.contains("  threads = 4\n") && text.contains("  database -> /databases/cms\n"),
        "{text}"
    );

    let file = tempfile::NamedTempFile::new().unwrap();
    let to_file = zk(
        &[
            "-s",
            &chrooted,
            "export",
            "/",
            "-o",
            file.path().to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(to_file.status.code(), Some(0), "{}", err(&to_file));
    let exported = std::fs::read_to_string(file.path()).unwrap();
    let again = zk(
        &[
            "-s",
            &chrooted,
            "import",
            file.path().to_str().unwrap(),
            "/",
        ],
        "",
    );
    assert_eq!(again.status.code(), Some(0), "{}", err(&again));
    assert_eq!(
        out(&again),
        "",
        "re-importing the export changes nothing: {exported}"
    );

    let set = zk(
        &[
            "-s",
            &chrooted,
            "set-property",
            "/cms",
            "threads=8",
            "debug=True",
            "comment='ok'",
        ],
        "",
    );
    assert_eq!(set.status.code(), Some(0), "{}", err(&set));
    let props = zk(&["-s", &chrooted, "props", "/cms"], "");
    let value: serde_json::Value = serde_json::from_str(&out(&props)).unwrap();
    assert_eq!(value["threads"], 8);
    assert_eq!(value["debug"], true);
    assert_eq!(value["comment"], "ok");
    assert_eq!(value["type"], "z4m cms", "merged, not replaced");
    let bad_value = zk(
        &[
            "-s",
            &chrooted,
            "set-property",
            "/cms",
            "x=os.system('true')",
        ],
        "",
    );
    assert_eq!(
        bad_value.status.code(),
        Some(2),
        "a value that is not a literal is a usage error"
    );
}
