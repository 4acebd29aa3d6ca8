//! `zk wire decode` on the golden vectors of proto-tests: every captured and handcrafted frame
//! decodes and round-trips (exit 0), and every negative vector is reported (exit 1).

use std::path::{Path, PathBuf};
use std::process::Command;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto-tests/vectors")
}

fn jsonl_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
}

fn decode(file: &Path) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_zk"))
        .args(["wire", "decode"])
        .arg(file)
        .output()
        .unwrap();
    let lines = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        output.status.code(),
        lines,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn every_golden_vector_decodes_and_round_trips() {
    let files = jsonl_files(&vectors_dir());
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let (status, lines, stderr) = decode(&file);
        assert_eq!(status, Some(0), "{}: {stderr}", file.display());
        let input_lines = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count();
        assert_eq!(lines.len(), input_lines, "{}", file.display());
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(
                line["roundtrip"],
                true,
                "{}:{}: {line}",
                file.display(),
                i + 1
            );
            assert!(line.get("body").is_some(), "{line}");
            assert!(line.get("error").is_none(), "{line}");
            let kind = line["kind"].as_str().unwrap();
            assert!(
                ["connect", "request", "response", "notification"].contains(&kind),
                "{line}"
            );
            if kind == "response" || kind == "notification" {
                assert!(line["err"].is_i64() && line["zxid"].is_i64(), "{line}");
            }
        }
    }
}

#[test]
fn decoded_lines_name_ops_and_paths() {
    let (_, lines, _) = decode(&vectors_dir().join("zkcli-3.8.0.jsonl"));
    let stat = lines
        .iter()
        .find(|l| l["kind"] == "request" && l["op"] == "exists" && l["path"] == "/zkcli")
        .unwrap();
    let reply = lines
        .iter()
        .find(|l| l["kind"] == "response" && l["xid"] == stat["xid"] && l["conn"] == stat["conn"])
        .unwrap();
    assert_eq!(reply["op"], "exists");
    assert_eq!(reply["err"], 0);
    assert_eq!(reply["body"]["stat"]["version"], 0);
    let notification = lines.iter().find(|l| l["kind"] == "notification").unwrap();
    assert_eq!(notification["xid"], -1);
    assert!(notification["path"].is_string());
}

#[test]
fn negative_vectors_are_reported_and_exit_one() {
    let file = vectors_dir().join("negative/negative.jsonl");
    let (status, lines, stderr) = decode(&file);
    assert_eq!(status, Some(1));
    assert!(stderr.starts_with("zk: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let errors = lines.iter().filter(|l| l.get("error").is_some()).count();
    let expected = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"expect\""))
        .count();
    assert_eq!(errors, expected);
}

#[test]
fn stdin_is_read_with_a_dash() {
    let file = vectors_dir().join("handcrafted.jsonl");
    let output = Command::new(env!("CARGO_BIN_EXE_zk"))
        .args(["wire", "decode", "-"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(!output.stdout.is_empty());
}

#[test]
fn usage_errors_exit_two_and_missing_files_exit_one() {
    let status = Command::new(env!("CARGO_BIN_EXE_zk"))
        .args(["wire", "decode"])
        .output()
        .unwrap()
        .status;
    assert_eq!(status.code(), Some(2));
    let output = Command::new(env!("CARGO_BIN_EXE_zk"))
        .args(["wire", "decode", "/nonexistent/file.jsonl"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("zk: cannot open"));
}

#[test]
fn record_writes_each_frame_as_a_line_until_sigterm() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    // A stand-in upstream: reads one frame, answers with a fixed frame.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = upstream.accept().unwrap();
        let mut frame = [0u8; 6];
        s.read_exact(&mut frame).unwrap();
        s.write_all(&[0, 0, 0, 1, 0x42]).unwrap();
    });
    let dir = std::env::temp_dir().join(format!("zk-wire-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("rec.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_zk"))
        .args(["wire", "record", "--listen", "127.0.0.1:0", "--upstream"])
        .arg(upstream_addr.to_string())
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut listen = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut listen)
        .unwrap();
    let mut client = TcpStream::connect(listen.trim()).unwrap();
    client.write_all(&[0, 0, 0, 2, 0xab, 0xcd]).unwrap();
    let mut reply = [0u8; 5];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(reply, [0, 0, 0, 1, 0x42]);
    server.join().unwrap();
    // Both frames are flushed as they pass.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if text.lines().count() >= 2 || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["dir"], "c2s");
    assert_eq!(lines[0]["hex"], "00000002abcd");
    assert_eq!(lines[1]["dir"], "s2c");
    assert_eq!(lines[1]["hex"], "0000000142");
    assert_eq!(lines[0]["conn"], lines[1]["conn"]);
    // The shell's builtin kill: no dependency on procps.
    let killed = Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "zk wire record ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
