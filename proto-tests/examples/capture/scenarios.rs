//! The capture scenarios, one recording each.

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use zk_proto::{
    ACL, AddWatchMode, AddWatchRequest, CheckVersionRequest, CheckWatchesRequest, ConnectRequest,
    CreateMode, CreateRequest, CreateTTLRequest, DeleteRequest, ErrorCode,
    GetAllChildrenNumberRequest, GetChildrenRequest, GetDataRequest, GetEphemeralsRequest,
    GetSASLRequest, MultiOp, MultiRequest, OpCode, ReconfigRequest, RemoveWatchesRequest, Request,
    SetDataRequest, WatcherType,
};
use zk_testkit::{FaultProxy, Server};

use crate::raw::RawClient;
use crate::{Event, Kind, Proc, Recording, Res, STEP_DEADLINE};

/// Every scenario, in the order they run.
pub const ALL: &[&str] = &["zkcli", "cli_mt", "kazoo", "raw"];

/// The version of the Java client (the server's jars).
const ZK_VERSION: &str = "3.8.0";

/// Runs the scenario `name`.
pub fn run(name: &str, server: &Server, out: &Path, work: &Path) -> Res<()> {
    match name {
        "zkcli" => zkcli(server, out, work),
        "cli_mt" => cli_mt(server, out, work),
        "kazoo" => kazoo(server, out, work),
        "raw" => raw(server, out),
        other => Err(format!("unknown scenario {other}; known: {ALL:?}").into()),
    }
}

fn recording_proxy(server: &Server, file: &Path) -> Res<(FaultProxy, Recording)> {
    let proxy = FaultProxy::with_recording(server.addr(), File::create(file)?)?;
    Ok((proxy, Recording::new(file)))
}

/// Sends `sync <prefix>-<label>` and waits for its reply.
fn barrier(cli: &mut Proc, rec: &Recording, prefix: &str, label: &str) -> Res<Vec<Event>> {
    let path = format!("{prefix}-{label}");
    cli.send(&format!("sync {path}"))?;
    rec.wait_reply(OpCode::Sync, &path)
}

fn is_reply(op: OpCode) -> impl Fn(&Event) -> bool {
    move |e| e.kind == Kind::Response && e.op == Some(op)
}

/// Waits until the server no longer lists `session_id` among the sessions with ephemerals.
fn wait_session_expired(server: &Server, session_id: i64) -> Res<()> {
    let id = format!("0x{session_id:x}");
    let deadline = Instant::now() + STEP_DEADLINE;
    loop {
        let dump = server.four_letter_word("dump")?;
        if !dump.lines().any(|l| l.trim_end_matches(':') == id) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("session {id} did not expire:\n{dump}").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The session of the last accepted handshake.
fn last_session(events: &[Event]) -> Res<i64> {
    events
        .iter()
        .rev()
        .find_map(|e| match e.session {
            Some((id, timeout)) if timeout > 0 => Some(id),
            _ => None,
        })
        .ok_or_else(|| "no session in the recording".into())
}

/// The Java client, `zkCli.sh`, fed commands on stdin.
fn zkcli(server: &Server, out: &Path, work: &Path) -> Res<()> {
    let file = out.join(format!("zkcli-{ZK_VERSION}.jsonl"));
    let (proxy, rec) = recording_proxy(server, &file)?;
    let mut cmd = Command::new("/usr/share/zookeeper/bin/zkCli.sh");
    cmd.args(["-timeout", "6000", "-server", &proxy.connect_string()])
        .env("ZOO_LOG_DIR", work)
        .env("ZOO_LOG4J_PROP", "WARN,CONSOLE");
    let mut cli = Proc::spawn("zkCli.sh", cmd, &work.join("zkcli.log"))?;
    let b = "/zkcli-barrier";
    for line in [
        "create /zkcli root",
        "create /zkcli again",
        "create -e /zkcli/eph ephemeral",
        "create -s /zkcli/seq- sequential",
        "create -e -s /zkcli/eseq- both",
        "create -c /zkcli/container",
        "create /zkcli/container/child x",
        "create -t 60000 /zkcli/ttl x",
        "create /zkcli/a hello",
        "stat /zkcli",
        "stat /zkcli/missing",
        "get -s /zkcli/a",
        "get /zkcli/missing",
        "set /zkcli/a v2",
        "set -v 99 /zkcli/a v3",
        "set -s /zkcli/a v3",
        "getAcl /zkcli/a",
        "setAcl /zkcli/a world:anyone:cdrwa",
        "setAcl -v 99 /zkcli/a world:anyone:cdrwa",
        "ls /zkcli",
        "ls -s /zkcli",
        "sync /zkcli",
        "delete /zkcli",
        "delete -v 99 /zkcli/a",
        "create /zkcli/ro x world:anyone:r",
        "set /zkcli/ro y",
        "getEphemerals /zkcli",
        "getEphemerals",
        "getAllChildrenNumber /zkcli",
        "config",
        "whoami",
        "addauth digest user:secret",
        "whoami",
        "create /zkcli/mine x auth::cdrwa",
        "getAcl /zkcli/mine",
        // Watches that fire.
        "get -w /zkcli/a",
        "set /zkcli/a v4",
        "ls -w /zkcli",
        "create /zkcli/b x",
        "stat -w /zkcli/later",
        "create /zkcli/later x",
        "get -w /zkcli/b",
        "delete /zkcli/b",
    ] {
        cli.send(line)?;
    }
    barrier(&mut cli, &rec, b, "ops")?;
    // One-shot watches left pending for the reconnect.
    for line in [
        "get -w /zkcli/a",
        "ls -w /zkcli/a",
        "stat -w /zkcli/nothere",
    ] {
        cli.send(line)?;
    }
    let events = barrier(&mut cli, &rec, b, "pending")?;
    // Idle: the client pings after a third of its session timeout.
    rec.wait_more("a ping reply", &events, 1, is_reply(OpCode::Ping))?;
    // Cut: the client resumes the session and re-arms its watches with setWatches.
    let events = rec.events()?;
    proxy.cut();
    rec.wait_more(
        "setWatches after the first cut",
        &events,
        1,
        is_reply(OpCode::SetWatches),
    )?;
    barrier(&mut cli, &rec, b, "reconnected")?;
    // Persistent watches, which make the next reconnect send setWatches2.
    for line in [
        "addWatch /zkcli/rec",
        "addWatch -m PERSISTENT /zkcli/per",
        "create /zkcli/rec x",
        "create /zkcli/rec/child x",
        "set /zkcli/rec/child y",
        "create /zkcli/per x",
        "set /zkcli/per y",
        "get -w /zkcli/a",
    ] {
        cli.send(line)?;
    }
    let events = barrier(&mut cli, &rec, b, "persistent")?;
    proxy.cut();
    rec.wait_more(
        "setWatches2 after the second cut",
        &events,
        1,
        is_reply(OpCode::SetWatches2),
    )?;
    barrier(&mut cli, &rec, b, "reconnected2")?;
    for line in [
        "removewatches /zkcli/per -a",
        "removewatches /zkcli/rec -a",
        "close",
        &format!("connect {}", proxy.connect_string()),
        "create -e /zkcli/eph2 x",
    ] {
        cli.send(line)?;
    }
    let events = barrier(&mut cli, &rec, b, "second-session")?;
    // Expiry: keep the client away until the server expires the session, then let it back in:
    // its handshake gets the expired answer (timeOut 0).
    let session = last_session(&events)?;
    proxy.refuse_new(true);
    proxy.cut();
    wait_session_expired(server, session)?;
    proxy.refuse_new(false);
    rec.wait("the expired handshake", |events| {
        events
            .iter()
            .any(|e| matches!(e.session, Some((_, t)) if t <= 0))
    })?;
    cli.send("quit")?;
    cli.finish()?;
    drop(proxy);
    Ok(())
}

/// The C client's `cli_mt`, fed commands on stdin.
fn cli_mt(server: &Server, out: &Path, work: &Path) -> Res<()> {
    let file = out.join(format!("cli_mt-{ZK_VERSION}.jsonl"));
    let (proxy, rec) = recording_proxy(server, &file)?;
    let mut cmd = Command::new("/usr/lib/zookeeper/bin/cli_mt");
    cmd.arg(proxy.connect_string());
    let mut cli = Proc::spawn("cli_mt", cmd, &work.join("cli_mt.log"))?;
    let b = "/cmt-barrier";
    rec.wait("the C client's handshake", |events| {
        events.iter().any(|e| e.kind == Kind::ConnectResponse)
    })?;
    for line in [
        "create /cmt",
        "create /cmt",
        "create +e /cmt/e",
        "create +s /cmt/s",
        "create2 /cmt/c2",
        "create2 +c /cmt/cont",
        "create2 +t=60000 /cmt/ttl",
        "exists /cmt",
        "exists /cmt/missing",
        "wexists /cmt/later",
        "set /cmt newdata",
        "get /cmt",
        "get /cmt/missing",
        "ls /cmt",
        "ls2 /cmt",
        "delete /cmt",
        "delete /cmt/missing",
        "sync /cmt",
        "addauth digest user:secret",
        "config",
        "reconfig -add 5=127.0.0.1:1234:1235;1236",
    ] {
        cli.send(line)?;
    }
    let events = barrier(&mut cli, &rec, b, "ops")?;
    proxy.cut();
    rec.wait_more(
        "setWatches after the cut",
        &events,
        1,
        is_reply(OpCode::SetWatches),
    )?;
    cli.send("create /cmt/later")?;
    barrier(&mut cli, &rec, b, "end")?;
    cli.send("quit")?;
    rec.wait("closeSession", |events| {
        events.iter().any(is_reply(OpCode::CloseSession))
    })?;
    cli.finish()?;
    drop(proxy);
    Ok(())
}

/// kazoo, through `proto-tests/capture/kazoo_client.py`.
fn kazoo(server: &Server, out: &Path, work: &Path) -> Res<()> {
    let version = Command::new("python3")
        .args([
            "-c",
            "import kazoo.version; print(kazoo.version.__version__)",
        ])
        .output()?;
    let version = String::from_utf8(version.stdout)?.trim().to_owned();
    if version.is_empty() {
        return Err("kazoo is not installed (python3 -m pip install kazoo)".into());
    }
    let file = out.join(format!("kazoo-{version}.jsonl"));
    let (proxy, rec) = recording_proxy(server, &file)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("capture/kazoo_client.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(proxy.connect_string());
    let mut cli = Proc::spawn("kazoo", cmd, &work.join("kazoo.log"))?;
    rec.wait_reply(OpCode::Sync, "/kazoo-barrier-ops")?;
    cli.send("go")?;
    let events = rec.wait_reply(OpCode::Sync, "/kazoo-barrier-idle")?;
    rec.wait_more("a ping reply", &events, 1, is_reply(OpCode::Ping))?;
    cli.send("go")?;
    let events = rec.wait_reply(OpCode::Sync, "/kazoo-barrier-cut")?;
    proxy.cut();
    rec.wait_more("the resumed handshake", &events, 1, |e| {
        e.kind == Kind::ConnectResponse
    })?;
    cli.send("go")?;
    rec.wait_reply(OpCode::Sync, "/kazoo-barrier-end")?;
    cli.send("go")?;
    rec.wait("closeSession", |events| {
        events.iter().any(is_reply(OpCode::CloseSession))
    })?;
    cli.finish()?;
    drop(proxy);
    Ok(())
}

fn create(path: &str, data: &[u8], flags: CreateMode) -> Request {
    Request::Create(CreateRequest {
        path: Some(path.into()),
        data: Some(Bytes::copy_from_slice(data)),
        acl: Some(ACL::open_unsafe()),
        flags,
    })
}

fn path_of(path: &str) -> Option<String> {
    Some(path.to_owned())
}

/// The raw zk-proto client: requests no real client here sends, and a really expired session.
fn raw(server: &Server, out: &Path) -> Res<()> {
    let file = out.join("raw-zk-proto.jsonl");
    let (proxy, rec) = recording_proxy(server, &file)?;
    let addr = proxy.addr();

    // A pre-3.5 handshake: 44 bytes, no readOnly; the server answers with 36 bytes.
    let mut old = RawClient::connect(
        addr,
        ConnectRequest {
            time_out: 10_000,
            passwd: Some(Bytes::from_static(&[0; 16])),
            read_only: None,
            ..ConnectRequest::default()
        },
    )?;
    if old.session.read_only.is_some() {
        return Err("the server answered an old client with readOnly".into());
    }
    old.expect(
        OpCode::Create,
        create("/raw", b"raw", CreateMode::Persistent),
        ErrorCode::Ok,
    )?;
    old.expect(
        OpCode::GetData,
        Request::GetData(GetDataRequest {
            path: path_of("/raw"),
            watch: false,
        }),
        ErrorCode::Ok,
    )?;
    old.close_session()?;

    let mut c = RawClient::new_session(addr, 10_000)?;
    for (path, data) in [("/raw/a", &b"alpha"[..]), ("/raw/b", b"")] {
        c.expect(
            OpCode::Create2,
            create(path, data, CreateMode::Persistent),
            ErrorCode::Ok,
        )?;
    }
    // multiRead: per-op results, an error among them.
    c.expect(
        OpCode::MultiRead,
        Request::Multi(MultiRequest {
            ops: vec![
                MultiOp::GetChildren(GetChildrenRequest {
                    path: path_of("/raw"),
                    watch: false,
                }),
                MultiOp::GetData(GetDataRequest {
                    path: path_of("/raw/a"),
                    watch: false,
                }),
                MultiOp::GetData(GetDataRequest {
                    path: path_of("/raw/missing"),
                    watch: false,
                }),
            ],
        }),
        ErrorCode::Ok,
    )?;
    // multi with create2, createContainer and createTTL: 3.8 answers create2 with a type-1
    // result (ZOOKEEPER-4026).
    let acl = Some(ACL::open_unsafe());
    c.expect(
        OpCode::Multi,
        Request::Multi(MultiRequest {
            ops: vec![
                MultiOp::Create2(CreateRequest {
                    path: path_of("/raw/m2"),
                    data: Some(Bytes::from_static(b"2")),
                    acl: acl.clone(),
                    flags: CreateMode::Persistent,
                }),
                MultiOp::CreateContainer(CreateRequest {
                    path: path_of("/raw/mc"),
                    data: Some(Bytes::from_static(b"c")),
                    acl: acl.clone(),
                    flags: CreateMode::Container,
                }),
                MultiOp::CreateTTL(CreateTTLRequest {
                    path: path_of("/raw/mt"),
                    data: Some(Bytes::from_static(b"t")),
                    acl: acl.clone(),
                    flags: CreateMode::PersistentWithTtl,
                    ttl: 60_000,
                }),
                MultiOp::SetData(SetDataRequest {
                    path: path_of("/raw/a"),
                    data: Some(Bytes::from_static(b"beta")),
                    version: -1,
                }),
                MultiOp::Check(CheckVersionRequest {
                    path: path_of("/raw/a"),
                    version: 1,
                }),
                MultiOp::Delete(DeleteRequest {
                    path: path_of("/raw/m2"),
                    version: -1,
                }),
            ],
        }),
        ErrorCode::Ok,
    )?;
    // An empty multi.
    c.expect(
        OpCode::Multi,
        Request::Multi(MultiRequest::default()),
        ErrorCode::Ok,
    )?;
    // A standalone check that does not match (a matching one crashes 3.8's server thread).
    c.expect(
        OpCode::Check,
        Request::Check(CheckVersionRequest {
            path: path_of("/raw/a"),
            version: 42,
        }),
        ErrorCode::BadVersion,
    )?;
    // createTTL and createContainer outside multi.
    c.expect(
        OpCode::CreateTTL,
        Request::CreateTTL(CreateTTLRequest {
            path: path_of("/raw/ttl-seq-"),
            data: None,
            acl: acl.clone(),
            flags: CreateMode::PersistentSequentialWithTtl,
            ttl: 1_000_000,
        }),
        ErrorCode::Ok,
    )?;
    // checkWatches and removeWatches.
    c.expect(
        OpCode::GetData,
        Request::GetData(GetDataRequest {
            path: path_of("/raw/a"),
            watch: true,
        }),
        ErrorCode::Ok,
    )?;
    c.expect(
        OpCode::CheckWatches,
        Request::CheckWatches(CheckWatchesRequest {
            path: path_of("/raw/a"),
            watcher_type: WatcherType::Data,
        }),
        ErrorCode::Ok,
    )?;
    c.expect(
        OpCode::CheckWatches,
        Request::CheckWatches(CheckWatchesRequest {
            path: path_of("/raw/b"),
            watcher_type: WatcherType::Children,
        }),
        ErrorCode::NoWatcher,
    )?;
    c.expect(
        OpCode::RemoveWatches,
        Request::RemoveWatches(RemoveWatchesRequest {
            path: path_of("/raw/a"),
            watcher_type: WatcherType::Data,
        }),
        ErrorCode::Ok,
    )?;
    // A persistent recursive watch, and the notification it gives.
    c.expect(
        OpCode::AddWatch,
        Request::AddWatch(AddWatchRequest {
            path: path_of("/raw"),
            mode: AddWatchMode::PersistentRecursive,
        }),
        ErrorCode::Ok,
    )?;
    c.expect(
        OpCode::SetData,
        Request::SetData(SetDataRequest {
            path: path_of("/raw/b"),
            data: None,
            version: -1,
        }),
        ErrorCode::Ok,
    )?;
    c.expect(
        OpCode::GetEphemerals,
        Request::GetEphemerals(GetEphemeralsRequest {
            prefix_path: path_of("/"),
        }),
        ErrorCode::Ok,
    )?;
    c.expect(
        OpCode::GetAllChildrenNumber,
        Request::GetAllChildrenNumber(GetAllChildrenNumberRequest {
            path: path_of("/raw"),
        }),
        ErrorCode::Ok,
    )?;
    c.expect(OpCode::WhoAmI, Request::Empty, ErrorCode::Ok)?;
    c.close_session()?;

    // Requests the server refuses: a read inside multi (MARSHALLINGERROR, no body), a write
    // inside multiRead (MARSHALLINGERROR with an empty MultiResponse), reconfig on a server
    // without reconfigEnabled (RECONFIGDISABLED); and a SASL token to a server without SASL,
    // answered with a null token.
    let mut c = RawClient::new_session(addr, 10_000)?;
    let body = c.expect(
        OpCode::Multi,
        Request::Multi(MultiRequest {
            ops: vec![MultiOp::GetData(GetDataRequest {
                path: path_of("/raw/a"),
                watch: false,
            })],
        }),
        ErrorCode::MarshallingError,
    )?;
    if !body.is_empty() {
        return Err("the refused multi has a body".into());
    }
    let body = c.expect(
        OpCode::MultiRead,
        Request::Multi(MultiRequest {
            ops: vec![MultiOp::Delete(DeleteRequest {
                path: path_of("/raw/a"),
                version: -1,
            })],
        }),
        ErrorCode::MarshallingError,
    )?;
    if body.is_empty() {
        return Err("the refused multiRead has no body".into());
    }
    c.expect(
        OpCode::Reconfig,
        Request::Reconfig(ReconfigRequest {
            joining_servers: Some("server.5=127.0.0.1:1234:1235;1236".into()),
            leaving_servers: Some("2,3".into()),
            new_members: None,
            cur_config_id: -1,
        }),
        ErrorCode::ReconfigDisabled,
    )?;
    c.expect(
        OpCode::Sasl,
        Request::Sasl(GetSASLRequest {
            token: Some(Bytes::from_static(b"a sasl token")),
        }),
        ErrorCode::Ok,
    )?;
    c.close_session()?;

    // An expired session: an ephemeral node shows the session in `dump`; drop the connection,
    // wait for the server to expire it, then try to resume it.
    let mut e = RawClient::new_session(addr, 2_000)?;
    e.expect(
        OpCode::Create,
        create("/raw-expiring", b"", CreateMode::Ephemeral),
        ErrorCode::Ok,
    )?;
    let session = e.session.clone();
    e.disconnect();
    wait_session_expired(server, session.session_id)?;
    let resumed = RawClient::connect(
        addr,
        ConnectRequest {
            last_zxid_seen: 0,
            time_out: 2_000,
            session_id: session.session_id,
            passwd: session.passwd.clone(),
            read_only: Some(false),
            ..ConnectRequest::default()
        },
    )?;
    if !resumed.session.is_expired() {
        return Err("the expired session was resumed".into());
    }
    rec.wait("the expired handshake", |events| {
        events
            .iter()
            .any(|e| matches!(e.session, Some((_, t)) if t <= 0))
    })?;
    drop(proxy);
    Ok(())
}
