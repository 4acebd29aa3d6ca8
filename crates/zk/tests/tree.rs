//! zc.zk's tree model against a real ZooKeeper server: the trees of zc.zk 2.1.0's README
//! (import, export, trim, delete_recursive, links, property links, walk) and the acceptance
//! checklist items 36–68, plus an export → import → export fixed-point test on generated trees.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use zc_zk::tree::{self, ImportChange, ImportOptions, Node, Trim, format_tree, parse_tree};
use zc_zk::zk_session::{ACL, CreateOptions, Id, Perms};
use zc_zk::{DeleteOptions, DeleteStep, Error, PropertyMap, ZooKeeper};
use zk_testkit::{shared_server, unique_path};

const WAIT: Duration = Duration::from_secs(20);

fn map(v: Value) -> PropertyMap {
    v.as_object().cloned().expect("an object")
}

async fn connect_to(connect_string: &str) -> ZooKeeper {
    ZooKeeper::connect(connect_string).await.expect("connect")
}

async fn connect() -> ZooKeeper {
    connect_to(&shared_server().connect_string()).await
}

/// A connection chrooted at a fresh node, so `/` is ours.
async fn chrooted(name: &str) -> ZooKeeper {
    let root = unique_path(name);
    let admin = connect().await;
    admin
        .client()
        .create(&root, b"{}", &CreateOptions::persistent())
        .await
        .unwrap();
    admin.close().await;
    connect_to(&format!("{}{root}", shared_server().connect_string())).await
}

/// A fresh empty node.
async fn fresh(zk: &ZooKeeper, name: &str) -> String {
    let root = unique_path(name);
    zk.client()
        .create(&root, b"{}", &CreateOptions::persistent())
        .await
        .unwrap();
    root
}

async fn create(zk: &ZooKeeper, path: &str, data: &str) {
    zk.client()
        .create(path, data.as_bytes(), &CreateOptions::persistent())
        .await
        .unwrap_or_else(|e| panic!("create {path}: {e}"));
}

async fn import(zk: &ZooKeeper, text: &str, path: &str, trim: Trim, dry_run: bool) -> Vec<String> {
    zk.import_tree(
        text,
        path,
        ImportOptions {
            trim,
            dry_run,
            ..ImportOptions::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("import at {path}: {e}"))
    .messages()
}

fn delete_opts(dry_run: bool, force: bool) -> DeleteOptions {
    DeleteOptions {
        dry_run,
        force,
        ignore_if_ephemeral: false,
    }
}

const README_TREE: &str = "
/lb : ipvs
  /pools
    /cms
      # The address is fixed because it's
      # exposed externally
      address = '1.2.3.4:80'
      providers -> /cms/providers
    /retail
      address = '1.2.3.5:80'
      providers -> /cms/providers

/cms : z4m cms
  threads = 3
  /providers
  /databases
    /main
      /providers

/retail : z4m retail
  threads = 1
  /providers
  /databases
    main -> /cms/databases/main
    /ugc
      /providers
";

const README_TREE_2: &str = "
/lb : ipvs
  /pools
    /cms
      # The address is fixed because it's
      # exposed externally
      address = '1.2.3.4:80'
      providers -> /cms/providers

/cms : z4m cms
  threads = 4
  /providers
  /databases
    /main
      /providers
";

/// The README's story, from "Tree-definition format, import, and export" to "Property links",
/// in a chroot so that `/` is ours.
#[tokio::test]
async fn the_readme_tree_story() {
    let zk = chrooted("readme").await;
    let pid = std::process::id();
    // zc.zk's test fixture at that point of the README, and a /zookeeper node for export to
    // leave out (the chroot hides the real one).
    create(&zk, "/fooservice", r#"{"secret":"1234","threads":3}"#).await;
    create(&zk, "/fooservice/providers", "").await;
    create(&zk, "/zookeeper", "").await;
    create(&zk, "/zookeeper/quota", "").await;
    let mut registrations = Vec::new();
    for port in [8080, 8081, 8082] {
        registrations.push(
            zk.register_server(
                "/fooservice/providers",
                ("192.168.0.42", port),
                PropertyMap::new(),
            )
            .await
            .unwrap(),
        );
    }

    assert!(
        import(&zk, README_TREE, "/", Trim::Report, false)
            .await
            .is_empty()
    );
    let exported = zk.export_tree("/", false, None).await.unwrap();
    assert_eq!(
        exported,
        "\
/cms : z4m cms
  threads = 3
  /databases
    /main
      /providers
  /providers
/fooservice
  secret = u'1234'
  threads = 3
  /providers
/lb : ipvs
  /pools
    /cms
      address = u'1.2.3.4:80'
      providers -> /cms/providers
    /retail
      address = u'1.2.3.5:80'
      providers -> /cms/providers
/retail : z4m retail
  threads = 1
  /databases
    main -> /cms/databases/main
    /ugc
      /providers
  /providers
"
    );
    assert_eq!(
        zk.export_tree("/fooservice", false, None).await.unwrap(),
        "/fooservice\n  secret = u'1234'\n  threads = 3\n  /providers\n"
    );
    assert_eq!(
        zk.export_tree("/fooservice", true, None).await.unwrap(),
        format!(
            "/fooservice\n  secret = u'1234'\n  threads = 3\n  /providers\n    \
             /192.168.0.42:8080\n      pid = {pid}\n    /192.168.0.42:8081\n      pid = {pid}\n    \
             /192.168.0.42:8082\n      pid = {pid}\n"
        )
    );
    assert_eq!(
        zk.print_tree("/fooservice").await.unwrap(),
        zk.export_tree("/fooservice", true, None).await.unwrap()
    );

    // Re-import a modified tree: a warning about what was not trimmed, nothing deleted.
    assert_eq!(
        import(&zk, README_TREE_2, "/", Trim::Report, false).await,
        ["extra path not trimmed: /lb/pools/retail"]
    );
    let after = zk.export_tree("/", false, None).await.unwrap();
    assert_eq!(
        after,
        exported.replace("threads = 3\n  /databases", "threads = 4\n  /databases")
    );
    assert_eq!(
        import(&zk, README_TREE_2, "/", Trim::Delete, true).await,
        ["would delete /lb/pools/retail."]
    );
    assert!(
        import(&zk, README_TREE_2, "/", Trim::Keep, false)
            .await
            .is_empty()
    );
    assert_eq!(
        import(&zk, README_TREE_2, "/", Trim::Delete, true).await,
        ["would delete /lb/pools/retail."]
    );
    assert!(
        import(&zk, README_TREE_2, "/", Trim::Delete, false)
            .await
            .is_empty()
    );
    let trimmed = zk.export_tree("/", false, None).await.unwrap();
    assert!(!trimmed.contains("/lb/pools/retail") && !trimmed.contains("1.2.3.5"));
    assert!(
        trimmed.contains("/retail : z4m retail"),
        "top-level nodes are never trimmed"
    );

    // Recursive deletion.
    let report = zk
        .delete_recursive("/retail", delete_opts(false, false))
        .await
        .unwrap();
    assert!(report.messages().is_empty());
    assert!(zk.client().exists("/retail").await.unwrap().is_none());
    let report = zk
        .delete_recursive("/fooservice", delete_opts(false, false))
        .await
        .unwrap();
    assert_eq!(
        report.messages(),
        [
            "Not deleting /fooservice/providers/192.168.0.42:8080 because it's ephemeral.",
            "Not deleting /fooservice/providers/192.168.0.42:8081 because it's ephemeral.",
            "Not deleting /fooservice/providers/192.168.0.42:8082 because it's ephemeral.",
            "/fooservice/providers not deleted due to ephemeral descendent.",
            "/fooservice not deleted due to ephemeral descendent.",
        ]
    );
    assert!(
        zk.client()
            .exists("/fooservice/providers/192.168.0.42:8082")
            .await
            .unwrap()
            .is_some()
    );

    // Symbolic links.
    assert_eq!(
        zk.resolve("/lb/pools/cms/providers").await.unwrap(),
        "/cms/providers"
    );
    let _r = zk
        .register_server("/cms/providers", "1.2.3.4:5", PropertyMap::new())
        .await
        .unwrap();
    assert_eq!(
        zk.resolve("/lb/pools/cms/providers/1.2.3.4:5")
            .await
            .unwrap(),
        "/cms/providers/1.2.3.4:5"
    );

    // Moving a node: export under another name, import elsewhere, link the old place; views
    // opened on the old path follow it.
    let main_children = zk.children("/cms/databases/main").await.unwrap();
    let main_properties = zk.properties("/cms/databases/main").await.unwrap();
    assert_eq!(main_children.path(), "/cms/databases/main");
    assert_eq!(main_children.real_path(), "/cms/databases/main");
    assert_eq!(main_properties.real_path(), "/cms/databases/main");
    let export = zk
        .export_tree("/cms/databases/main", false, Some("cms"))
        .await
        .unwrap();
    assert_eq!(export, "/cms\n  /providers\n");
    create(&zk, "/databases", "").await;
    assert!(
        import(&zk, &export, "/databases", Trim::Report, false)
            .await
            .is_empty()
    );
    assert_eq!(
        zk.export_tree("/databases", false, None).await.unwrap(),
        "/databases\n  /cms\n    /providers\n"
    );
    zk.ln("/databases/cms", "/cms/databases/main")
        .await
        .unwrap();
    assert_eq!(
        zk.get_properties("/cms/databases").await.unwrap(),
        map(json!({"main ->": "/databases/cms"}))
    );
    zk.delete_recursive("/cms/databases/main", delete_opts(false, false))
        .await
        .unwrap();
    assert_eq!(
        zk.resolve("/cms/databases/main").await.unwrap(),
        "/databases/cms"
    );
    wait_until(|| main_children.real_path() == "/databases/cms").await;
    wait_until(|| main_properties.real_path() == "/databases/cms").await;
    assert_eq!(main_children.path(), "/cms/databases/main");
    assert!(!main_children.is_deleted() && !main_properties.is_deleted());
    main_children
        .wait_for(WAIT, |n| n == ["providers"])
        .await
        .unwrap();
    zk.client()
        .delete("/databases/cms/providers", None)
        .await
        .unwrap();
    main_children
        .wait_for(WAIT, <[String]>::is_empty)
        .await
        .unwrap();
    assert!(main_properties.is_empty());
    zk.properties("/databases/cms")
        .await
        .unwrap()
        .set(map(json!({"a": 1})))
        .await
        .unwrap();
    main_properties
        .wait_for(WAIT, |p| *p == map(json!({"a": 1})))
        .await
        .unwrap();

    // Relative links.
    let relative = "/a\n  /b\n    l -> c\n    l2 -> ../c\n    /c\n  /c\n";
    import(&zk, relative, "/", Trim::Report, false).await;
    assert_eq!(zk.resolve("/a/b/l").await.unwrap(), "/a/b/c");
    assert_eq!(zk.resolve("/a/b/l2").await.unwrap(), "/a/c");
    zk.delete_recursive("/a", delete_opts(false, false))
        .await
        .unwrap();

    // Property links.
    let property_link_source = "
/cms : z4m cms
  threads => /fooservice threads
  /databases
    /main
      /providers
  /providers
/fooservice
  secret = u'1234'
  threads = 3
  /providers
/lb : ipvs
  /pools
    /cms
      address = u'1.2.3.4:80'
      providers -> /cms/providers
";
    create(&zk, "/test-propery-links", "").await;
    import(
        &zk,
        property_link_source,
        "/test-propery-links",
        Trim::Report,
        false,
    )
    .await;
    let cms = "/test-propery-links/cms";
    assert_eq!(
        zk.get_properties(cms).await.unwrap()["threads =>"],
        json!("/fooservice threads")
    );
    assert_eq!(
        zk.get_property(cms, "threads").await.unwrap(),
        Some(json!(3))
    );
    assert_eq!(
        import(
            &zk,
            "/cms\n  threads => /fooservice\n",
            "/test-propery-links",
            Trim::Report,
            false
        )
        .await,
        [
            "extra path not trimmed: /test-propery-links/cms/databases",
            "extra path not trimmed: /test-propery-links/cms/providers",
        ]
    );
    assert_eq!(
        zk.get_properties(cms).await.unwrap()["threads =>"],
        json!("/fooservice")
    );
    assert_eq!(
        zk.get_property(cms, "threads").await.unwrap(),
        Some(json!(3))
    );
    // The property link exports in a form that imports again.
    let exported = zk.export_tree(cms, false, None).await.unwrap();
    assert!(
        exported.contains("  threads => /fooservice\n"),
        "{exported}"
    );
    zk.delete_recursive("/test-propery-links", delete_opts(false, false))
        .await
        .unwrap();

    // Walk includes /zookeeper at the root; export does not.
    let paths = zk.walk("/", true).collect().await.unwrap();
    assert!(paths.contains(&"/zookeeper/quota".to_owned()));
    assert!(
        !zk.export_tree("/", true, None)
            .await
            .unwrap()
            .contains("zookeeper")
    );
    zk.close().await;
}

/// Waits (polling, with a deadline) for a condition on a view's path, which changes without a
/// change event of its own.
async fn wait_until(condition: impl Fn() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("condition within the deadline");
}

/// Items 10, 20, 30, 35, 43: children, properties and registration resolve their paths, write
/// to the real path, and follow a path that resolves elsewhere after a deletion.
#[tokio::test]
async fn views_and_registration_resolve_links() {
    let zk = chrooted("views").await;
    import(
        &zk,
        "/svc\n  /providers\n/alias\n  p -> /svc/providers\n  s -> /svc\n  l1 -> l2\n  l2 -> l1\n",
        "/",
        Trim::Report,
        false,
    )
    .await;
    let r = zk
        .register_server("/alias/p", "h:1", PropertyMap::new())
        .await
        .unwrap();
    assert_eq!(r.paths(), ["/svc/providers/h:1"]);
    let children = zk.children("/alias/p").await.unwrap();
    assert_eq!(children.path(), "/alias/p");
    assert_eq!(children.real_path(), "/svc/providers");
    assert_eq!(*children.names(), ["h:1"]);
    // Writes through a link go to the real node.
    let props = zk.properties("/alias/s").await.unwrap();
    assert_eq!(props.real_path(), "/svc");
    props.update(map(json!({"threads": 2}))).await.unwrap();
    assert_eq!(
        zk.get_properties("/svc").await.unwrap(),
        map(json!({"threads": 2}))
    );
    assert!(matches!(
        zk.children("/alias/l1").await,
        Err(Error::LinkLoop { .. })
    ));
    assert!(matches!(zk.properties("/alias/nope").await, Err(ref e) if e.is_no_node()));
    // Followed to a node with the same state: the callbacks still run.
    import(
        &zk,
        "/m\n  /x\n    /c\n  /y\n/n\n  /c\n",
        "/",
        Trim::Report,
        false,
    )
    .await;
    let moving = zk.children("/m/x").await.unwrap();
    let moving_props = zk.properties("/m/y").await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let tx2 = tx.clone();
    moving
        .on_change(move |c| {
            let _ = tx.send(format!("children {c:?}"));
            Ok(())
        })
        .unwrap();
    moving_props
        .on_change(move |c| {
            let _ = tx2.send(format!("properties {c:?}"));
            Ok(())
        })
        .unwrap();
    rx.recv().await.unwrap();
    rx.recv().await.unwrap();
    zk.ln("/n", "/m/x").await.unwrap();
    zk.ln("/n", "/m/y").await.unwrap();
    zk.delete_recursive("/m/x", delete_opts(false, false))
        .await
        .unwrap();
    zk.client().delete("/m/y", None).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(
            tokio::time::timeout(WAIT, rx.recv())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    seen.sort();
    assert!(
        seen[0].starts_with("children Changed") && seen[0].contains("\"c\""),
        "{seen:?}"
    );
    assert!(seen[1].starts_with("properties Changed"), "{seen:?}");
    assert_eq!(moving.real_path(), "/n");
    assert_eq!(moving_props.real_path(), "/n");
    // A deleted node with nothing to resolve to: the view is deleted.
    create(&zk, "/gone", "").await;
    let gone = zk.properties("/gone").await.unwrap();
    zk.client().delete("/gone", None).await.unwrap();
    wait_until(|| gone.is_deleted()).await;
    assert_eq!(gone.real_path(), "/gone");
    drop(r);
    zk.close().await;
}

/// Items 47 and 49: a write with a bad property link is refused whole; a change of a linked
/// node runs the referring view's callbacks; deleting it makes the link re-resolve.
#[tokio::test]
async fn property_links_in_views() {
    let zk = chrooted("plink-views").await;
    import(
        &zk,
        "/src\n  threads = 3\n/other\n  threads = 7\n/cfg\n  threads => /src\n  l -> /src\n",
        "/",
        Trim::Report,
        false,
    )
    .await;
    let cfg = zk.properties("/cfg").await.unwrap();
    assert_eq!(cfg.get_linked("threads").await.unwrap(), Some(json!(3)));
    assert_eq!(
        cfg.linked_snapshot().await.unwrap(),
        map(json!({"threads": 3, "l ->": "/src"}))
    );
    // A bad link is refused and nothing is written.
    let before = zk.client().get_data("/cfg").await.unwrap().1.version;
    let e = cfg
        .update(map(json!({"x": 1, "bad =>": "/nowhere"})))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::BadPropertyLink { .. }), "{e}");
    assert_eq!(
        zk.client().get_data("/cfg").await.unwrap().1.version,
        before
    );
    assert!(!cfg.contains_key("x"));
    // A change of the linked node runs the callbacks, with the view's own data unchanged.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    cfg.on_change(move |change| {
        let _ = tx.send(format!("{change:?}"));
        Ok(())
    })
    .unwrap();
    assert!(rx.recv().await.is_some(), "called at once");
    zk.update_properties("/src", map(json!({"threads": 4})))
        .await
        .unwrap();
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a callback")
        .unwrap();
    assert_eq!(cfg.get_linked("threads").await.unwrap(), Some(json!(4)));
    // One callback per change: the next one is for this write of our own.
    cfg.update(map(json!({"y": 1}))).await.unwrap();
    let next = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(next.contains("\"y\""), "{next}");
    // Another change keeps being watched.
    zk.update_properties("/src", map(json!({"threads": 5})))
        .await
        .unwrap();
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a second callback")
        .unwrap();
    // Moving the link to another node watches that one instead.
    cfg.update(map(json!({"threads =>": "/other"})))
        .await
        .unwrap();
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("own change")
        .unwrap();
    assert_eq!(cfg.get_linked("threads").await.unwrap(), Some(json!(7)));
    zk.update_properties("/other", map(json!({"threads": 8})))
        .await
        .unwrap();
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("linked change")
        .unwrap();
    // Deleting the linked node notifies, and reading reports the bad link.
    zk.client().delete("/other", None).await.unwrap();
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("deletion")
        .unwrap();
    assert!(matches!(
        cfg.get_linked("threads").await,
        Err(Error::BadPropertyLink { .. })
    ));
    zk.close().await;
}

/// Item 56 and 57: every grammar error fails before anything is written, naming its line.
#[tokio::test]
async fn a_text_that_does_not_parse_changes_nothing() {
    let zk = connect().await;
    let root = fresh(&zk, "badtext").await;
    for (text, line) in [
        ("/a\n  /b\n  x = 1\n  /c\n    y = 2\n      z = 3\n", 6),
        ("/a\n/b\n  x = __import__('os').getpid()\n", 3),
        ("/a\n  /b\n /c\n", 3),
        ("/a\n/a\n", 2),
        ("/a\n  x = 1\n  x = 2\n", 3),
        ("x = 1\n", 1),
        ("/y\nx = 1", 2),
        ("/a\n  x -> a b\n", 2),
        ("/a\n  x => /b y /z\n", 2),
        ("/a\n  {1, 2}\n", 2),
    ] {
        let result = zk.import_tree(text, &root, ImportOptions::default()).await;
        match result {
            Err(Error::Parse {
                line: l,
                ref message,
            }) => {
                assert_eq!(l, line, "{text:?}: {message}");
            }
            other => panic!("{text:?}: {other:?}"),
        }
        assert!(
            zk.client().get_children(&root).await.unwrap().is_empty(),
            "{text:?}"
        );
    }
    let e = zk
        .import_tree("x = 1", &root, ImportOptions::default())
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("Can't import properties above imported nodes"),
        "{e}"
    );
    // The import path must exist.
    let missing = zk
        .import_tree("/a", &format!("{root}/nope"), ImportOptions::default())
        .await;
    assert!(
        matches!(missing, Err(ref e) if e.is_no_node()),
        "{missing:?}"
    );
    zk.close().await;
}

/// Items 53 and 54: the dry run describes every change in zc.zk's words, and changes nothing.
#[tokio::test]
async fn dry_run_reports_every_change_and_writes_nothing() {
    let zk = connect().await;
    let root = fresh(&zk, "dryrun").await;
    let before = "
/a
  keep = 1
  change = 'old'
  gone = [1, 'x']
  l -> /old
  dead -> /x
  /b
    /c
  /extra
    /deeper
    /leaf
";
    import(&zk, before, &root, Trim::Report, false).await;
    let text = "
/a
  keep = 1
  change = 'new'
  l -> /new
  born -> /y
  added = {'k': None}
  /b
    /c
    /new
      /below
/top
";
    let _eph = zk
        .register_server(
            &format!("{root}/a/extra/deeper"),
            "eph:1",
            PropertyMap::new(),
        )
        .await
        .unwrap();
    // An ephemeral extra node given to the trim directly is not even mentioned.
    let _quiet = zk
        .register_server(&format!("{root}/a/b/c"), "eph:2", PropertyMap::new())
        .await
        .unwrap();
    let before_export = zk.export_tree(&root, true, None).await.unwrap();
    let messages = import(&zk, text, &root, Trim::Delete, true).await;
    let a = format!("{root}/a");
    assert_eq!(
        messages,
        [
            format!("{a} change change from old to new"),
            format!("{a} remove link dead -> /x"),
            format!("{a} remove property gone = [1, u'x']"),
            format!("{a} l link change from /old to /new"),
            format!("{a} add property added = {{u'k': None}}"),
            format!("{a} add link born -> /y"),
            format!("wouldn't delete {a}/extra/deeper/eph:1 because it's ephemeral."),
            format!("{a}/extra/deeper not deleted due to ephemeral descendent."),
            format!("would delete {a}/extra/leaf."),
            format!("{a}/extra not deleted due to ephemeral descendent."),
            format!("add {a}/b/new"),
            format!("add {root}/top"),
        ]
    );
    assert_eq!(
        zk.export_tree(&root, true, None).await.unwrap(),
        before_export
    );
    zk.close().await;
}

/// Item 60: a no-op re-import writes nothing and fires no watcher; a change writes only the
/// node that changed.
#[tokio::test]
async fn unchanged_nodes_are_not_written() {
    let zk = connect().await;
    let root = fresh(&zk, "noop").await;
    let text = "/a : t\n  x = 1\n  l -> /x\n  /b\n    y = [1, 2]\n/c\n";
    import(&zk, text, &root, Trim::Report, false).await;
    let client = zk.client();
    let mut versions = BTreeMap::new();
    let mut watchers = Vec::new();
    for p in ["/a", "/a/b", "/c"] {
        let path = format!("{root}{p}");
        let (_, stat, watcher) = client.get_data_watch(&path).await.unwrap();
        versions.insert(path, stat.mzxid);
        watchers.push(watcher);
    }
    let plan = zk
        .import_tree(text, &root, ImportOptions::default())
        .await
        .unwrap();
    assert!(plan.is_noop(), "{plan:?}");
    // A read after the import: had a watch fired, its event would have arrived before this
    // reply.
    for (path, mzxid) in &versions {
        assert_eq!(
            client.get_data(path).await.unwrap().1.mzxid,
            *mzxid,
            "{path}"
        );
    }
    for w in &mut watchers {
        assert!(
            w.try_event().is_none(),
            "a watcher fired: {:?}",
            w.try_event()
        );
    }
    // Data written raw by someone else but equal as properties is not rewritten either.
    client
        .set_data(&format!("{root}/c"), b" { } ", None)
        .await
        .unwrap();
    let plan = zk
        .import_tree(text, &root, ImportOptions::default())
        .await
        .unwrap();
    assert!(plan.is_noop(), "{plan:?}");
    // One change, one write.
    let plan = zk
        .import_tree(
            &text.replace("x = 1", "x = 2"),
            &root,
            ImportOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(plan.writes(), 1, "{plan:?}");
    assert!(
        matches!(&plan.changes[0], ImportChange::SetProperties { path, .. } if path.ends_with("/a"))
    );
    zk.close().await;
}

/// Item 59: the ACL applies to created nodes, and an existing node's differing ACL is fixed.
#[tokio::test]
async fn import_applies_and_fixes_acls() {
    let zk = connect().await;
    let root = fresh(&zk, "acl").await;
    let acl = vec![
        ACL::new(Perms::ALL, Id::new("ip", "127.0.0.1")),
        ACL::new(Perms::READ, Id::anyone()),
    ];
    create(&zk, &format!("{root}/old"), "{}").await;
    let options = ImportOptions {
        acl: acl.clone(),
        ..ImportOptions::default()
    };
    let dry = zk
        .import_tree(
            "/old\n/new\n  /child\n",
            &root,
            ImportOptions {
                dry_run: true,
                ..options.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        dry.messages(),
        [
            format!("add {root}/new"),
            format!(
                "{root}/old acl change from [world:anyone:cdrwa] to [ip:127.0.0.1:cdrwa, world:anyone:r]"
            ),
        ]
    );
    let plan = zk
        .import_tree("/old\n/new\n  /child\n", &root, options.clone())
        .await
        .unwrap();
    assert_eq!(plan.writes(), 3, "{plan:?}");
    for p in ["/old", "/new", "/new/child"] {
        let (got, _) = zk.client().get_acl(&format!("{root}{p}")).await.unwrap();
        assert_eq!(got, acl, "{p}");
    }
    let again = zk
        .import_tree("/old\n/new\n  /child\n", &root, options)
        .await
        .unwrap();
    assert!(again.is_noop(), "{again:?}");
    zk.close().await;
}

/// Item 52: trim never deletes ephemeral nodes, their ancestors, or top-level siblings; an
/// ephemeral extra node is not even mentioned (zc.zk's "no spam").
#[tokio::test]
async fn trim_keeps_ephemeral_nodes_and_their_ancestors() {
    let zk = connect().await;
    let root = fresh(&zk, "trim").await;
    import(
        &zk,
        "/svc\n  /providers\n  /old\n    /x\n/sibling\n",
        &root,
        Trim::Report,
        false,
    )
    .await;
    let _a = zk
        .register_server(&format!("{root}/svc/providers"), "a:a", PropertyMap::new())
        .await
        .unwrap();
    let _b = zk
        .register_server(&format!("{root}/svc/old/x"), "b:b", PropertyMap::new())
        .await
        .unwrap();
    let messages = import(&zk, "/svc\n  /providers\n", &root, Trim::Delete, false).await;
    let svc = format!("{root}/svc");
    assert_eq!(
        messages,
        [
            format!("Not deleting {svc}/old/x/b:b because it's ephemeral."),
            format!("{svc}/old/x not deleted due to ephemeral descendent."),
            format!("{svc}/old not deleted due to ephemeral descendent."),
        ]
    );
    assert!(
        zk.client()
            .exists(&format!("{svc}/providers/a:a"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        zk.client()
            .exists(&format!("{svc}/old/x/b:b"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        zk.client()
            .exists(&format!("{root}/sibling"))
            .await
            .unwrap()
            .is_some()
    );
    zk.close().await;
}

/// Item 55: flexible spacing in property and link lines.
#[tokio::test]
async fn property_lines_accept_flexible_spacing() {
    let zk = connect().await;
    let root = fresh(&zk, "spacing").await;
    let text = "/n\n  a=1\n  b      =1\n  c=      1\n  ad->/x\n  ae->         /x\n";
    import(&zk, text, &root, Trim::Report, false).await;
    assert_eq!(
        zk.get_properties(&format!("{root}/n")).await.unwrap(),
        map(json!({"a": 1, "b": 1, "c": 1, "ad ->": "/x", "ae ->": "/x"}))
    );
    zk.close().await;
}

/// A tree bigger than one transaction.
#[tokio::test]
async fn a_large_import_spans_several_transactions() {
    let zk = connect().await;
    let root = fresh(&zk, "large").await;
    let mut tree = Node::default();
    for i in 0..12 {
        let mut a = Node::default();
        for j in 0..12 {
            let mut b = Node::default();
            b.properties.insert("v".into(), json!(format!("{i}-{j}")));
            for k in 0..5 {
                b.children.insert(format!("n{k}"), Node::default());
            }
            a.children.insert(format!("m{j}"), b);
        }
        tree.children.insert(format!("t{i}"), a);
    }
    let text = format_tree(&tree.children);
    let plan = zk
        .import_tree(&text, &root, ImportOptions::default())
        .await
        .unwrap();
    assert_eq!(plan.writes(), 12 + 144 + 720);
    let exported = zk.export_tree(&root, false, Some("x")).await.unwrap();
    assert_eq!(
        exported,
        format_tree(&BTreeMap::from([("x".to_owned(), tree)]))
    );
    let report = zk
        .delete_recursive(&root, delete_opts(false, false))
        .await
        .unwrap();
    assert_eq!(report.deleted().len(), 12 + 144 + 720 + 1);
    assert!(zk.client().exists(&root).await.unwrap().is_none());
    zk.close().await;
}

/// Items 61–63: what export leaves out, and naming.
#[tokio::test]
async fn export_names_and_omissions() {
    let zk = chrooted("export").await;
    import(&zk, "/b\n  /c\n/a : t\n", "/", Trim::Report, false).await;
    create(&zk, "/zookeeper", "").await;
    let _r = zk
        .register_server("/b", "h:1", PropertyMap::new())
        .await
        .unwrap();
    zk.client()
        .set_data("/", br#"{"root ->": "/a"}"#, None)
        .await
        .unwrap();
    assert_eq!(
        zk.export_tree("/", false, None).await.unwrap(),
        "/a : t\n/b\n  /c\n"
    );
    assert_eq!(
        zk.export_tree("/", false, Some("top")).await.unwrap(),
        "/top\n  root -> /a\n  /a : t\n  /b\n    /c\n"
    );
    assert_eq!(
        zk.export_tree("/b", false, Some("x")).await.unwrap(),
        "/x\n  /c\n"
    );
    assert_eq!(zk.export_tree("/b/h:1", false, None).await.unwrap(), "\n");
    assert!(
        zk.export_tree("/b/h:1", true, None)
            .await
            .unwrap()
            .starts_with("/h:1\n  pid = ")
    );
    assert!(matches!(zk.export_tree("/nope", false, None).await, Err(ref e) if e.is_no_node()));
    assert!(zk.export_tree("/b", false, Some("a/b")).await.is_err());
    // Raw (non-JSON) data exports as string_value, and imports back raw.
    create(&zk, "/raw", "not json").await;
    let text = zk.export_tree("/raw", false, Some("raw2")).await.unwrap();
    assert_eq!(text, "/raw2\n  string_value = u'not json'\n");
    import(&zk, &text, "/", Trim::Report, false).await;
    assert_eq!(
        &zk.client().get_data("/raw2").await.unwrap().0[..],
        b"not json"
    );
    // A falsy or non-string type survives (zc.zk dropped or crashed on them).
    create(&zk, "/typed", r#"{"type": ""}"#).await;
    create(&zk, "/typed/n", r#"{"type": 5}"#).await;
    let text = zk.export_tree("/typed", false, None).await.unwrap();
    assert_eq!(text, "/typed\n  type = u''\n  /n\n    type = 5\n");
    zk.close().await;
}

/// Items 36–41: resolve.
#[tokio::test]
async fn resolve_follows_links_and_detects_loops() {
    let zk = chrooted("resolve").await;
    let text = "
/top
  /a
    /b
      /c
        /d
  l -> a
  abs -> /top/a/b
  chain -> l
  loop1 -> loop2
  loop2 -> loop1
  self -> self/x
  broken -> /nowhere
  shadow -> /top/a
  /shadow
";
    import(&zk, text, "/", Trim::Report, false).await;
    zk.client()
        .set_data("/", br#"{"rootlink ->": "/top/a"}"#, None)
        .await
        .unwrap();
    let cases = [
        ("/top/a/b", "/top/a/b"),
        ("/top/l", "/top/a"),
        ("/top/l/b/c", "/top/a/b/c"),
        ("/top/abs/c/d", "/top/a/b/c/d"),
        ("/top/chain/b", "/top/a/b"),
        ("/top/shadow", "/top/shadow"),
        ("/rootlink/b", "/top/a/b"),
        ("/top/a/b/c/d/./../..", "/top/a/b"),
        ("/top/a/..", "/top"),
        ("/top/..", "/"),
        ("/top/l/../abs", "/top/a/b"),
    ];
    for (path, want) in cases {
        assert_eq!(zk.resolve(path).await.unwrap(), want, "{path}");
    }
    match zk.resolve("/top/loop1/x").await {
        Err(Error::LinkLoop { chain }) => {
            assert_eq!(chain, ["/top/loop1", "/top/loop2", "/top/loop1"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        zk.resolve("/top/self").await,
        Err(Error::LinkLoop { .. })
    ));
    match zk.resolve("/top/broken/x").await {
        Err(Error::NoNode { path }) => assert_eq!(path, "/top/broken/x"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        zk.resolve("/top/missing").await,
        Err(Error::NoNode { .. })
    ));
    assert!(zk.resolve("/top/../..").await.is_err());
    assert!(zk.resolve("relative").await.is_err());
    zk.close().await;
}

/// Items 44–48: property links.
#[tokio::test]
async fn property_links_read_through_and_report_bad_links() {
    let zk = chrooted("plinks").await;
    let text = "
/fooservice
  threads = 3
  name = 'foo'
  alias -> /a/b
/a
  /b
    x = 'b.x'
    up2 => .. name
    /c
      x = 'c.x'
  t1 => /fooservice threads
  threads => /fooservice
  up => .. x
  child => ./b x
  sibling => ../a/b x
  dots => .././a/b/c x
  real = 'mine'
  real => /fooservice name
  empty => /nowhere
  chained => /a t1
  loopy => /a loopy2
  loopy2 => /a loopy
  missing => /fooservice nope
";
    import(&zk, text, "/", Trim::Report, false).await;
    // The stored form (the empty link value and a three-word one written raw).
    zk.update_properties("/a", map(json!({"bad =>": "", "three =>": "/a b c"})))
        .await
        .unwrap();
    for (name, want) in [
        ("t1", json!(3)),
        ("threads", json!(3)),
        ("child", json!("b.x")),
        ("sibling", json!("b.x")),
        ("dots", json!("c.x")),
        ("real", json!("mine")),
        ("chained", json!(3)),
    ] {
        assert_eq!(
            zk.get_property("/a", name).await.unwrap(),
            Some(want),
            "{name}"
        );
    }
    // Relative to the virtual path: through the link /fooservice/alias to /a/b, `..` is
    // /fooservice (which has a name), not /a (which has none).
    assert_eq!(
        zk.get_property("/fooservice/alias", "up2").await.unwrap(),
        Some(json!("foo"))
    );
    assert!(zk.get_property("/a/b", "up2").await.is_err());
    assert_eq!(zk.get_property("/a", "nothing").await.unwrap(), None);
    for name in ["up", "empty", "bad", "three", "missing", "loopy"] {
        let e = zk.get_property("/a", name).await.unwrap_err();
        assert!(matches!(e, Error::BadPropertyLink { .. }), "{name}: {e}");
    }
    match zk.get_property("/a", "loopy").await.unwrap_err() {
        Error::BadPropertyLink { reason, .. } => {
            let mut reason = *reason;
            while let Error::BadPropertyLink { reason: inner, .. } = reason {
                reason = *inner;
            }
            assert!(matches!(reason, Error::LinkLoop { .. }), "{reason}");
        }
        other => panic!("{other}"),
    }
    // Whole-map view: link names without " =>", values resolved; a bad link is an error.
    zk.set_properties(
        "/a/b",
        map(json!({"x": 1, "y =>": "/fooservice threads", "l ->": "/a"})),
    )
    .await
    .unwrap();
    assert_eq!(
        zk.get_linked_properties("/a/b").await.unwrap(),
        map(json!({"x": 1, "y": 3, "l ->": "/a"}))
    );
    assert!(zk.get_linked_properties("/a").await.is_err());
    zk.close().await;
}

/// Items 65 and 66: walk, with its options at every depth.
#[tokio::test]
async fn walk_applies_its_options_at_every_depth() {
    let zk = connect().await;
    let root = fresh(&zk, "walk").await;
    import(
        &zk,
        "/b\n  /x\n    /y\n  /prov\n/a\n  /z\n",
        &root,
        Trim::Report,
        false,
    )
    .await;
    let _r = zk
        .register_server(&format!("{root}/b/prov"), "e:1", PropertyMap::new())
        .await
        .unwrap();
    let rel = |paths: Vec<String>| -> Vec<String> {
        paths
            .into_iter()
            .map(|p| p[root.len()..].to_owned())
            .collect()
    };
    assert_eq!(
        rel(zk.walk(&root, true).collect().await.unwrap()),
        [
            "",
            "/a",
            "/a/z",
            "/b",
            "/b/prov",
            "/b/prov/e:1",
            "/b/x",
            "/b/x/y"
        ]
    );
    assert_eq!(
        rel(zk.walk(&root, false).collect().await.unwrap()),
        ["", "/a", "/a/z", "/b", "/b/prov", "/b/x", "/b/x/y"]
    );
    // Pruning at depth 1.
    let mut walk = zk.walk(&root, true);
    let mut seen = Vec::new();
    while let Some(entry) = walk.next_with_children().await {
        let (path, children) = entry.unwrap();
        if path.ends_with("/b") {
            assert_eq!(*children, ["prov", "x"]);
            children.retain(|c| c != "x");
        }
        seen.push(path[root.len()..].to_owned());
    }
    assert_eq!(seen, ["", "/a", "/a/z", "/b", "/b/prov", "/b/prov/e:1"]);
    // Deletions during the walk are seen.
    let mut walk = zk.walk(&root, true);
    let mut seen = Vec::new();
    while let Some(path) = walk.next().await {
        let path = path.unwrap();
        if path == root {
            zk.delete_recursive(&format!("{root}/a"), delete_opts(false, false))
                .await
                .unwrap();
        }
        seen.push(path);
    }
    assert_eq!(
        rel(seen),
        ["", "/b", "/b/prov", "/b/prov/e:1", "/b/x", "/b/x/y"]
    );
    assert!(
        zk.walk(&format!("{root}/nope"), true)
            .collect()
            .await
            .unwrap()
            .is_empty()
    );
    zk.close().await;
}

/// Items 67 and 68: delete_recursive's modes, and is_ephemeral.
#[tokio::test]
async fn delete_recursive_modes_and_is_ephemeral() {
    let zk = connect().await;
    let root = fresh(&zk, "delete").await;
    import(&zk, "/s\n  /p\n  /q\n    /r\n", &root, Trim::Report, false).await;
    let reg = zk
        .register_server(&format!("{root}/s/p"), "e:1", PropertyMap::new())
        .await
        .unwrap();
    let eph = reg.paths()[0].clone();
    assert!(zk.is_ephemeral(&eph).await.unwrap());
    assert!(!zk.is_ephemeral(&root).await.unwrap());
    assert!(
        zk.is_ephemeral(&format!("{root}/nope"))
            .await
            .unwrap_err()
            .is_no_node()
    );
    let s = format!("{root}/s");
    let dry = zk
        .delete_recursive(&s, delete_opts(true, false))
        .await
        .unwrap();
    assert_eq!(
        dry.messages(),
        [
            format!("wouldn't delete {eph} because it's ephemeral."),
            format!("{s}/p not deleted due to ephemeral descendent."),
            format!("would delete {s}/q/r."),
            format!("would delete {s}/q."),
            format!("{s} not deleted due to ephemeral descendent."),
        ]
    );
    assert!(
        zk.client()
            .exists(&format!("{s}/q/r"))
            .await
            .unwrap()
            .is_some()
    );
    let report = zk
        .delete_recursive(&s, delete_opts(false, false))
        .await
        .unwrap();
    assert_eq!(report.deleted(), [format!("{s}/q/r"), format!("{s}/q")]);
    assert!(
        zk.client()
            .exists(&format!("{s}/q"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(zk.client().exists(&eph).await.unwrap().is_some());
    // ignore_if_ephemeral: nothing said about the ephemeral node given.
    let quiet = zk
        .delete_recursive(
            &eph,
            DeleteOptions {
                ignore_if_ephemeral: true,
                ..delete_opts(false, false)
            },
        )
        .await
        .unwrap();
    assert!(quiet.steps.is_empty());
    let forced = zk
        .delete_recursive(&s, delete_opts(false, true))
        .await
        .unwrap();
    assert_eq!(forced.steps.last(), Some(&DeleteStep::Delete(s.clone())));
    assert!(zk.client().exists(&s).await.unwrap().is_none());
    assert!(
        zk.delete_recursive(&s, delete_opts(false, false))
            .await
            .unwrap_err()
            .is_no_node()
    );
    zk.close().await;
}

/// Item 42, and create_recursive.
#[tokio::test]
async fn ln_and_create_recursive() {
    let zk = connect().await;
    let root = fresh(&zk, "ln").await;
    let base = format!("{root}/cms/databases");
    zk.create_recursive(&base, &map(json!({"keep": true})), &ACL::open_unsafe())
        .await
        .unwrap();
    assert_eq!(
        zk.get_properties(&format!("{root}/cms")).await.unwrap(),
        PropertyMap::new()
    );
    zk.ln("/databases/cms", &format!("{base}/main"))
        .await
        .unwrap();
    zk.ln("/x/", &format!("{base}/y")).await.unwrap();
    assert_eq!(
        zk.get_properties(&base).await.unwrap(),
        map(json!({"keep": true, "main ->": "/databases/cms", "y ->": "/x/y"}))
    );
    assert!(zk.ln("/x", &format!("{base}/")).await.is_err());
    assert!(zk.ln("/x", "/").await.is_err());
    assert!(
        zk.ln("/x", &format!("{root}/nope/l"))
            .await
            .unwrap_err()
            .is_no_node()
    );
    // create_recursive over an existing node replaces its data (zc.zk 2).
    zk.create_recursive(&base, &map(json!({"v": 2})), &ACL::open_unsafe())
        .await
        .unwrap();
    assert_eq!(
        zk.get_properties(&base).await.unwrap(),
        map(json!({"v": 2}))
    );
    zk.close().await;
}

// --- The fixed point, on generated trees --------------------------------------------------

/// SplitMix64: a small seeded generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const NAME_CHARS: &[char] = &[
    'a', 'b', 'z', '0', '9', '_', '.', ' ', '=', '>', '-', ':', '#', '"', '\'', '\\', ',', 'é',
    '€', '{', '[', '(',
];
const KEY_EXTRA: &[char] = &['\t', '\n', '/', '😀', '\u{7f}'];

fn gen_name(rng: &mut Rng, node: bool) -> String {
    loop {
        let len = 1 + rng.below(6);
        let mut s = String::new();
        for _ in 0..len {
            if !node && rng.chance(10) {
                s.push(*rng.pick(KEY_EXTRA));
            } else {
                s.push(*rng.pick(NAME_CHARS));
            }
        }
        if !(node && (s == "." || s == "..")) {
            return s;
        }
    }
}

fn gen_string(rng: &mut Rng) -> String {
    if rng.chance(30) {
        return rng
            .pick(&["/a/b", "..", "./c x", "/x y", "", " ", "a b c"])
            .to_string();
    }
    let len = rng.below(8);
    (0..len)
        .map(|_| {
            if rng.chance(20) {
                *rng.pick(KEY_EXTRA)
            } else {
                *rng.pick(NAME_CHARS)
            }
        })
        .collect()
}

fn gen_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 2 { 7 } else { 9 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(50)),
        2 => json!(rng.next() as i64 >> rng.below(63)),
        3 => json!(rng.next()),
        4 => {
            // Any finite float the data layer (serde_json) stores exactly.
            let f = f64::from_bits(rng.next());
            let stored = serde_json::to_string(&f)
                .ok()
                .and_then(|s| serde_json::from_str::<f64>(&s).ok());
            if f.is_finite() && stored == Some(f) {
                json!(f)
            } else {
                json!(rng.below(1000) as f64 / 8.0)
            }
        }
        5 | 6 => Value::String(gen_string(rng)),
        7 => Value::Array(
            (0..rng.below(4))
                .map(|_| gen_value(rng, depth + 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(4))
                .map(|_| (gen_name(rng, false), gen_value(rng, depth + 1)))
                .collect(),
        ),
    }
}

fn gen_node(rng: &mut Rng, depth: usize) -> Node {
    let mut node = Node::default();
    for _ in 0..rng.below(5) {
        let name = gen_name(rng, false);
        let (key, value) = match rng.below(5) {
            0 => (format!("{name} ->"), Value::String(gen_string(rng))),
            1 => (format!("{name} =>"), Value::String(gen_string(rng))),
            2 => (
                "type".to_owned(),
                if rng.chance(70) {
                    Value::String(gen_string(rng))
                } else {
                    gen_value(rng, 0)
                },
            ),
            _ => (name, gen_value(rng, 0)),
        };
        node.properties.insert(key, value);
    }
    if node.properties.len() == 1 && node.properties.contains_key("string_value") {
        node.properties.insert("x".into(), json!(1));
    }
    if depth < 3 {
        for _ in 0..rng.below(4) {
            node.children
                .insert(gen_name(rng, true), gen_node(rng, depth + 1));
        }
    }
    node
}

fn gen_forest(seed: u64) -> BTreeMap<String, Node> {
    let mut rng = Rng(seed);
    let mut forest = BTreeMap::new();
    for _ in 0..1 + rng.below(3) {
        forest.insert(gen_name(&mut rng, true), gen_node(&mut rng, 0));
    }
    forest
}

/// Item 64, without a server: format → parse gives the same trees, so format is a fixed point.
#[test]
fn generated_trees_format_and_parse_back() {
    for seed in 0..2000 {
        let forest = gen_forest(seed);
        let text = format_tree(&forest);
        let parsed = parse_tree(&text).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        assert_eq!(parsed.children, forest, "seed {seed}:\n{text}");
        assert_eq!(format_tree(&parsed.children), text, "seed {seed}");
    }
}

/// Arbitrary text never panics the parser.
#[test]
fn arbitrary_text_never_panics() {
    let alphabet = [
        "/", " ", "  ", "\t", "\n", "=", "=>", "->", ":", "#", "'", "\"", "u", "b", "r", "\\", "x",
        "1", "0x", "L", "(", ")", "[", "]", "{", "}", ",", "é", "True", "None", "e", ".", "-",
    ];
    let mut rng = Rng(7);
    for _ in 0..20_000 {
        let text: String = (0..rng.below(40)).map(|_| *rng.pick(&alphabet)).collect();
        let _ = parse_tree(&text);
        let _ = tree::parse_value(&text);
    }
}

/// Item 64 against the server: export → import → export is a fixed point, and re-importing
/// the export changes nothing.
#[tokio::test]
async fn export_import_export_is_a_fixed_point_on_generated_trees() {
    let zk = connect().await;
    for seed in 0..25 {
        let forest = gen_forest(1000 + seed);
        let a = fresh(&zk, "fixed-a").await;
        let text = format_tree(&forest);
        zk.import_tree(&text, &a, ImportOptions::default())
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        let first = zk.export_tree(&a, false, Some("t")).await.unwrap();
        let wrapped = BTreeMap::from([(
            "t".to_owned(),
            Node {
                properties: PropertyMap::new(),
                children: forest,
            },
        )]);
        assert_eq!(first, format_tree(&wrapped), "seed {seed}");
        let b = fresh(&zk, "fixed-b").await;
        zk.import_tree(&first, &b, ImportOptions::default())
            .await
            .unwrap();
        let second = zk
            .export_tree(&format!("{b}/t"), false, None)
            .await
            .unwrap();
        assert_eq!(second, first, "seed {seed}");
        let again = zk
            .import_tree(&first, &b, ImportOptions::default())
            .await
            .unwrap();
        assert!(again.is_noop(), "seed {seed}: {again:?}");
        for p in [a, b] {
            zk.delete_recursive(&p, DeleteOptions::default())
                .await
                .unwrap();
        }
    }
    zk.close().await;
}
