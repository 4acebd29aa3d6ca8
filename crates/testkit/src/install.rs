//! Locating Java and a ZooKeeper installation.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::{Error, Result};

/// The hint appended to every "not installed" error.
const INSTALL_HINT: &str = "install Debian's package with `apt-get install -y zookeeper` \
     (or run `scripts/setup`), or set ZOOKEEPER_HOME to a ZooKeeper 3.5+ binary distribution";

/// Where the Debian `libzookeeper-java` package puts its jars.
const DEBIAN_JAVA_DIR: &str = "/usr/share/java";

/// Which kind of ZooKeeper installation was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstallationKind {
    /// An Apache binary distribution named by `$ZOOKEEPER_HOME`.
    ZooKeeperHome(PathBuf),
    /// The jars of Debian's `zookeeper` / `libzookeeper-java` packages.
    Debian,
}

/// A usable Java runtime plus the class path that runs a ZooKeeper server.
#[derive(Clone, Debug)]
pub struct Installation {
    /// The `java` executable.
    pub java: PathBuf,
    /// The class path (`:`-separated) for `org.apache.zookeeper.server.quorum.QuorumPeerMain`.
    pub classpath: OsString,
    /// Where the jars came from.
    pub kind: InstallationKind,
    /// JVM system properties that route the server's logging to standard output/error
    /// (the testkit redirects both to the server log file).
    pub logging_properties: Vec<(String, String)>,
}

impl Installation {
    /// Finds Java and ZooKeeper (cached after the first successful call).
    ///
    /// ZooKeeper: `$ZOOKEEPER_HOME` (jars in `$ZOOKEEPER_HOME/lib` and
    /// `$ZOOKEEPER_HOME/*.jar`, plus `$ZOOKEEPER_HOME/conf` for its logging
    /// configuration), else the jars of Debian's `zookeeper` package in
    /// `/usr/share/java` (located with `dpkg -L libzookeeper-java` if they are
    /// not at their usual place). Java: `$JAVA_HOME/bin/java`, else `java` on `PATH`.
    ///
    /// The error names the install command when something is missing.
    pub fn find() -> Result<Installation> {
        static FOUND: OnceLock<Installation> = OnceLock::new();
        if let Some(found) = FOUND.get() {
            return Ok(found.clone());
        }
        let found = Self::find_uncached()?;
        Ok(FOUND.get_or_init(|| found).clone())
    }

    fn find_uncached() -> Result<Installation> {
        let java = find_java()?;
        let (classpath, kind, logging_properties) = match env::var_os("ZOOKEEPER_HOME") {
            Some(home) if !home.is_empty() => {
                let home = PathBuf::from(home);
                (
                    zookeeper_home_classpath(&home)?,
                    InstallationKind::ZooKeeperHome(home),
                    vec![
                        // log4j (3.5-3.7) and logback (3.8+) configurations of the binary
                        // distributions both understand these two.
                        (
                            "zookeeper.root.logger".to_owned(),
                            "INFO,CONSOLE".to_owned(),
                        ),
                        ("zookeeper.console.threshold".to_owned(), "INFO".to_owned()),
                    ],
                )
            }
            _ => (
                debian_classpath()?,
                InstallationKind::Debian,
                vec![
                    // Debian's zookeeper.jar only pulls in slf4j-api; the testkit adds
                    // slf4j-simple, which logs to stderr.
                    (
                        "org.slf4j.simpleLogger.showDateTime".to_owned(),
                        "true".to_owned(),
                    ),
                    (
                        "org.slf4j.simpleLogger.dateTimeFormat".to_owned(),
                        "yyyy-MM-dd'T'HH:mm:ss.SSS".to_owned(),
                    ),
                    (
                        "org.slf4j.simpleLogger.logFile".to_owned(),
                        "System.out".to_owned(),
                    ),
                ],
            ),
        };
        Ok(Installation {
            java,
            classpath,
            kind,
            logging_properties,
        })
    }
}

/// Returns `true` when [`Installation::find`] succeeds: Java and ZooKeeper are installed.
pub fn zookeeper_available() -> bool {
    Installation::find().is_ok()
}

fn is_file(p: &Path) -> bool {
    fs::metadata(p).map(|m| m.is_file()).unwrap_or(false)
}

fn find_java() -> Result<PathBuf> {
    if let Some(home) = env::var_os("JAVA_HOME").filter(|h| !h.is_empty()) {
        let java = Path::new(&home).join("bin").join("java");
        if is_file(&java) {
            return Ok(java);
        }
    }
    if let Some(path) = env::var_os("PATH") {
        for dir in env::split_paths(&path) {
            let java = dir.join("java");
            if is_file(&java) {
                return Ok(java);
            }
        }
    }
    Err(Error::NotInstalled(
        "no Java runtime: neither $JAVA_HOME/bin/java nor `java` on PATH; \
         `apt-get install -y zookeeper` brings one (or set JAVA_HOME)"
            .to_owned(),
    ))
}

fn jars_in(dir: &Path) -> Vec<PathBuf> {
    let mut jars: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jar") && is_file(p))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            !name.ends_with("-sources.jar")
                && !name.ends_with("-javadoc.jar")
                && !name.ends_with("-tests.jar")
        })
        .collect();
    jars.sort();
    jars
}

fn join_classpath(entries: &[PathBuf]) -> Result<OsString> {
    env::join_paths(entries)
        .map_err(|e| Error::NotInstalled(format!("unusable class path entry: {e}")))
}

fn zookeeper_home_classpath(home: &Path) -> Result<OsString> {
    let mut jars = jars_in(home);
    jars.extend(jars_in(&home.join("lib")));
    let has_zk = jars.iter().any(|j| {
        let name = j
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        name.starts_with("zookeeper") && !name.contains("jute")
    });
    if !has_zk {
        return Err(Error::NotInstalled(format!(
            "ZOOKEEPER_HOME={} holds no zookeeper*.jar in it or in its lib/ directory; {INSTALL_HINT}",
            home.display()
        )));
    }
    let mut entries = Vec::new();
    let conf = home.join("conf");
    if conf.is_dir() {
        entries.push(conf);
    }
    entries.extend(jars);
    join_classpath(&entries)
}

fn debian_classpath() -> Result<OsString> {
    let mut dir = PathBuf::from(DEBIAN_JAVA_DIR);
    if !is_file(&dir.join("zookeeper.jar")) {
        // Not at the usual place: ask dpkg where the package put it.
        let listed = Command::new("dpkg")
            .args(["-L", "libzookeeper-java"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        match listed
            .lines()
            .map(Path::new)
            .find(|p| p.file_name().is_some_and(|n| n == "zookeeper.jar") && is_file(p))
        {
            Some(jar) => dir = jar.parent().unwrap_or(Path::new("/")).to_path_buf(),
            None => {
                return Err(Error::NotInstalled(format!(
                    "ZooKeeper not found: ZOOKEEPER_HOME is unset and Debian's {DEBIAN_JAVA_DIR}/zookeeper.jar \
                     is missing; {INSTALL_HINT}"
                )));
            }
        }
    }
    // zookeeper.jar's manifest Class-Path names its dependencies (jute, netty,
    // jackson, commons-*, metrics, slf4j-api, ...); listing jute explicitly
    // keeps working if the manifest ever changes. slf4j-api needs a binding
    // to produce any log: slf4j-simple ships with libslf4j-java, a dependency.
    // The manifest misses netty-codec (and netty-resolver, which it needs), so the Netty
    // connection factory, and with it TLS, fails with NoClassDefFoundError
    // ByteToMessageDecoder unless they are added.
    let mut entries = vec![dir.join("zookeeper.jar")];
    for extra in [
        "zookeeper-jute.jar",
        "slf4j-api.jar",
        "slf4j-simple.jar",
        "netty-codec.jar",
        "netty-resolver.jar",
    ] {
        let p = dir.join(extra);
        if is_file(&p) {
            entries.push(p);
        }
    }
    join_classpath(&entries)
}
