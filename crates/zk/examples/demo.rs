//! The README's main job: zc.zk's story against a throwaway local ZooKeeper.
//!
//! Two servers register for a service, a client lists them, a watcher prints the changes while a
//! third registers and one goes away, then the service's configuration is read and updated while
//! a watcher prints it. Run with `scripts/demo` (or `cargo run -p zc-zk --example demo`; set
//! `ZC_ZK_CONNECTION_STRING` to use a server of your own instead of a throwaway one).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Notify;
use zc_zk::zk_session::CreateOptions;
use zc_zk::{Change, PropertyMap, ZooKeeper};

fn say(text: &str) {
    println!("\n== {text}");
}

fn props(v: serde_json::Value) -> PropertyMap {
    v.as_object().cloned().unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Start the throwaway server before the runtime: it takes a moment, so show progress.
    let own = std::env::var(zc_zk::CONNECTION_STRING_ENV).ok();
    let server = match own {
        Some(_) => None,
        None => {
            print!("Starting a throwaway ZooKeeper server on 127.0.0.1 ...");
            std::io::stdout().flush()?;
            let started = Instant::now();
            let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let ticker = {
                let done = done.clone();
                std::thread::spawn(move || {
                    while !done.load(std::sync::atomic::Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(500));
                        if !done.load(std::sync::atomic::Ordering::Relaxed) {
                            print!(".");
                            let _ = std::io::stdout().flush();
                        }
                    }
                })
            };
            let server = zk_testkit::Server::start();
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = ticker.join();
            let server = server?;
            println!(
                " up at {} after {:.1} s.",
                server.connect_string(),
                started.elapsed().as_secs_f64()
            );
            Some(server)
        }
    };
    let connect = own.unwrap_or_else(|| {
        server
            .as_ref()
            .map(|s| s.connect_string())
            .unwrap_or_default()
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(story(&connect));
    drop(runtime);
    if server.is_some() {
        println!("\nStopping the throwaway server; nothing is left running.");
    }
    drop(server);
    result
}

async fn story(connect: &str) -> Result<(), Box<dyn std::error::Error>> {
    say(&format!("Connecting to ZooKeeper at {connect}"));
    let zk = ZooKeeper::connect(connect).await?;
    println!("Connected, session {:#x}.", zk.session_id());

    let service = format!("/fooservice-{}", std::process::id());
    let providers_path = format!("{service}/providers");
    let client = zk.client();
    client
        .create(
            &service,
            br#"{"database":"/databases/foomain","threads":1}"#,
            &CreateOptions::persistent(),
        )
        .await?;
    client
        .create(&providers_path, b"", &CreateOptions::persistent())
        .await?;
    println!("Created the service node {service} with its configuration, and {providers_path}.");

    say("Two servers register for the service");
    let a = zk
        .register_server(
            &providers_path,
            ("192.168.0.42", 8080),
            props(json!({"version": "1.0"})),
        )
        .await?;
    let b = zk
        .register_server(
            &providers_path,
            ("192.168.0.42", 8081),
            props(json!({"version": "1.0"})),
        )
        .await?;
    for r in [&a, &b] {
        println!("registered {}", r.paths().join(", "));
    }
    println!(
        "Each is an ephemeral node holding its properties and pid as JSON; it goes when its session does."
    );

    say("A client lists the providers");
    let watcher_zk = ZooKeeper::connect(connect).await?;
    let providers = watcher_zk.children(&providers_path).await?;
    for name in providers.names().iter() {
        let p = watcher_zk
            .get_properties(&format!("{providers_path}/{name}"))
            .await?;
        println!("  {name}  {}", serde_json::Value::Object(p));
    }

    say("A watcher prints every change while a third server registers and one goes away");
    let changed = Arc::new(Notify::new());
    let signal = changed.clone();
    providers.on_change(move |change| {
        match change {
            Change::Changed(names) => {
                println!("  [watcher] providers are now: {}", names.join(", "))
            }
            Change::Deleted => println!("  [watcher] the providers node was deleted"),
        }
        signal.notify_one();
        Ok(())
    })?;
    changed.notified().await;
    println!("Registering 192.168.0.42:8082 ...");
    let c = zk
        .register_server(
            &providers_path,
            ("192.168.0.42", 8082),
            props(json!({"version": "1.1"})),
        )
        .await?;
    providers
        .wait_for(Duration::from_secs(10), |n| n.len() == 3)
        .await?;
    changed.notified().await;
    println!("Unregistering 192.168.0.42:8081 ...");
    b.unregister().await?;
    providers
        .wait_for(Duration::from_secs(10), |n| n.len() == 2)
        .await?;
    changed.notified().await;

    say("The service's configuration is read, then updated while a watcher prints it");
    let config = watcher_zk.properties(&service).await?;
    println!(
        "threads = {}, database = {}",
        config.get("threads").unwrap_or_default(),
        config.get("database").unwrap_or_default()
    );
    let seen = Arc::new(Notify::new());
    let signal = seen.clone();
    config.on_change(move |change| {
        if let Change::Changed(p) = change {
            println!(
                "  [watcher] configuration is now: {}",
                serde_json::Value::Object((**p).clone())
            );
        }
        signal.notify_one();
        Ok(())
    })?;
    seen.notified().await;
    println!("Updating threads to 4 (a compare-and-set merge) ...");
    let admin = zk.properties(&service).await?;
    admin.update(props(json!({"threads": 4}))).await?;
    config
        .wait_for(Duration::from_secs(10), |p| {
            p.get("threads") == Some(&json!(4))
        })
        .await?;
    seen.notified().await;
    println!("Replacing the configuration with set() ...");
    admin
        .set(props(
            json!({"database": "/databases/foomain", "threads": 2, "debug": true}),
        ))
        .await?;
    config
        .wait_for(Duration::from_secs(10), |p| {
            p.get("debug") == Some(&json!(true))
        })
        .await?;
    seen.notified().await;

    say("Cleaning up");
    drop(providers);
    c.unregister().await?;
    a.unregister().await?;
    drop(admin);
    drop(config);
    client.delete(&providers_path, None).await?;
    client.delete(&service, None).await?;
    watcher_zk.close().await;
    zk.close().await;
    println!("Sessions closed.");
    Ok(())
}
