//! The `http` collector against a real local HTTP server that injects faults: 500s,
//! timeouts, a slow page, hostile redirects, and an echo of secrets.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use keel_catalog::Catalog;
use keel_core::Lake;
use keel_core::secrets::Env;
use keel_core::spec::{HttpSpec, PaginationSpec};
use keel_landing::collect::{Ctx, http};

/// What the server saw and how it misbehaves.
#[derive(Default)]
struct ServerState {
    /// Requests per (from, page).
    hits: BTreeMap<(String, u64), u32>,
    /// Every request's query string and Authorization header.
    seen: Vec<String>,
}

type Shared = Arc<Mutex<ServerState>>;

const PAGES: u64 = 3;

/// `/items?from=&to=&page=`: three pages of records per window, then an empty page. The
/// first request of page 1 answers 500, of page 2 stalls past the client's timeout, of the
/// empty page 4 answers 429, and page 3 is always slow (but inside the timeout).
async fn items(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let from = q.get("from").cloned().unwrap_or_default();
    let page: u64 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let hit = {
        let mut s = state.lock().unwrap();
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        s.seen.push(format!("{q:?} {auth}"));
        let n = s.hits.entry((from.clone(), page)).or_default();
        *n += 1;
        *n
    };
    match (page, hit) {
        (1, 1) => return (StatusCode::INTERNAL_SERVER_ERROR, "try again").into_response(),
        (4, 1) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "0")],
                "slow down",
            )
                .into_response();
        }
        (2, 1) => tokio::time::sleep(Duration::from_millis(1500)).await,
        (3, _) => tokio::time::sleep(Duration::from_millis(150)).await,
        _ => {}
    }
    let data: Vec<serde_json::Value> = if page <= PAGES {
        (0..5)
            .map(|i| serde_json::json!({ "day": from, "page": page, "i": i }))
            .collect()
    } else {
        Vec::new()
    };
    axum::Json(serde_json::json!({ "data": data })).into_response()
}

/// Answers 401 and echoes the request's credentials, as a careless API might.
async fn echo_unauthorized(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    state.lock().unwrap().seen.push(format!("{q:?} {auth}"));
    (
        StatusCode::UNAUTHORIZED,
        format!("bad credentials {auth} {q:?}"),
    )
        .into_response()
}

async fn redirect_to(Query(q): Query<BTreeMap<String, String>>) -> Response {
    let to = q.get("to").cloned().unwrap_or_default();
    (StatusCode::FOUND, [("location", to)]).into_response()
}

async fn linked(Query(q): Query<BTreeMap<String, String>>) -> Response {
    let page: u64 = q.get("p").and_then(|p| p.parse().ok()).unwrap_or(1);
    let body = axum::Json(serde_json::json!({ "page": page }));
    if page < 4 {
        (
            [("link", format!("</linked?p={}>; rel=\"next\"", page + 1))],
            body,
        )
            .into_response()
    } else {
        body.into_response()
    }
}

async fn cursored(Query(q): Query<BTreeMap<String, String>>) -> Response {
    let at: u64 = q.get("after").and_then(|p| p.parse().ok()).unwrap_or(0);
    let next = if at < 40 {
        serde_json::json!(format!("{}", at + 10))
    } else {
        serde_json::Value::Null
    };
    axum::Json(serde_json::json!({ "rows": [at], "next": next })).into_response()
}

async fn start_server() -> (SocketAddr, Shared) {
    let state: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/items", get(items))
        .route("/secret", get(echo_unauthorized))
        .route("/redirect", get(redirect_to))
        .route("/linked", get(linked))
        .route("/cursored", get(cursored))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state)
}

/// A lake and catalog in a temporary directory, and the context of source `api`.
struct Fixture {
    dir: tempfile::TempDir,
    lake: Lake,
    catalog: Catalog,
    env: Env,
}

impl Fixture {
    fn new(env: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path().join("lake"));
        let catalog = Catalog::open(&lake.catalog_db()).unwrap();
        Fixture {
            dir,
            lake,
            catalog,
            env: Env::parse(env),
        }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            source: "api",
            project_dir: self.dir.path(),
            lake: &self.lake,
            catalog: &self.catalog,
            run_id: "test-run",
            env: &self.env,
        }
    }

    fn land(&self) -> keel_landing::persistent::LoadReport {
        keel_landing::persistent::load(&self.lake, &self.catalog, "api", "test-run").unwrap()
    }
}

fn spec(toml_text: &str) -> HttpSpec {
    toml::from_str(toml_text).unwrap()
}

#[tokio::test]
async fn every_page_lands_once_despite_500s_timeouts_and_slow_pages() {
    let (addr, state) = start_server().await;
    let f = Fixture::new("");
    let spec = spec(&format!(
        r#"
        url = "http://{addr}/items"
        params = {{ from = "{{from}}", to = "{{to}}", page = "{{page}}" }}
        allow_hosts = ["127.0.0.1"]
        timeout = "700ms"
        backoff = "50ms"
        retries = 4
        rate_limit = 200.0
        window = {{ start = "2026-01-01", days = 10, end = "2026-01-31" }}
        pagination = {{ kind = "page", records = "/data" }}
        "#
    ));
    assert!(matches!(spec.pagination, Some(PaginationSpec::Page { .. })));
    let report = http::collect(&f.ctx(), &spec).await.unwrap();
    // 3 windows × 3 pages with records; the empty 4th page is requested but not stored.
    assert_eq!(report.taken, 9);
    let landed = f.land();
    assert_eq!(landed.stored.len(), 9);
    let mut names: Vec<_> = landed
        .stored
        .iter()
        .map(|o| o.original_name.clone())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 9, "a page landed twice: {names:?}");
    for o in &landed.stored {
        let body = std::fs::read(f.lake.root().join(&o.persistent_path)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["data"].as_array().unwrap().len(), 5);
        assert_eq!(o.collector["kind"], "http");
    }
    // The faults were really injected: page 1 and 2 of each window were asked twice.
    let hits = state.lock().unwrap().hits.clone();
    for from in ["2026-01-01", "2026-01-11", "2026-01-21"] {
        assert_eq!(hits[&(from.to_string(), 1)], 2, "{from} page 1");
        assert_eq!(hits[&(from.to_string(), 2)], 2, "{from} page 2");
        assert_eq!(hits[&(from.to_string(), 3)], 1, "{from} page 3");
        assert_eq!(hits[&(from.to_string(), 4)], 2, "{from} page 4 (429 first)");
    }
    assert_eq!(
        f.catalog.source_state("api", http::WATERMARK).unwrap(),
        Some(serde_json::json!("2026-01-31"))
    );

    // Unchanged watermark: nothing is fetched, nothing lands.
    let requests_before = state.lock().unwrap().seen.len();
    let again = http::collect(&f.ctx(), &spec).await.unwrap();
    assert_eq!((again.seen, again.taken), (0, 0));
    assert_eq!(state.lock().unwrap().seen.len(), requests_before);
    assert!(f.land().stored.is_empty());
}

#[tokio::test]
async fn the_watermark_waits_for_the_loader() {
    let (addr, _state) = start_server().await;
    let f = Fixture::new("");
    let spec = spec(&format!(
        r#"
        url = "http://{addr}/items"
        params = {{ from = "{{from}}", page = "4" }}
        allow_hosts = ["127.0.0.1"]
        window = {{ start = "2026-01-01", days = 5, end = "2026-01-11" }}
        "#
    ));
    http::collect(&f.ctx(), &spec).await.unwrap();
    // Collected but not landed: the catalog has no watermark yet ...
    assert_eq!(
        f.catalog.source_state("api", http::WATERMARK).unwrap(),
        None
    );
    // ... yet a second collection continues from the pending batches, fetching nothing.
    let again = http::collect(&f.ctx(), &spec).await.unwrap();
    assert_eq!(again.seen, 0);
    f.land();
    assert_eq!(
        f.catalog.source_state("api", http::WATERMARK).unwrap(),
        Some(serde_json::json!("2026-01-11"))
    );
}

#[tokio::test]
async fn link_and_cursor_pagination() {
    let (addr, _state) = start_server().await;
    let f = Fixture::new("");
    let link = spec(&format!(
        r#"
        url = "http://{addr}/linked"
        allow_hosts = ["127.0.0.1"]
        pagination = {{ kind = "link" }}
        name = "linked.json"
        "#
    ));
    assert_eq!(http::collect(&f.ctx(), &link).await.unwrap().taken, 4);
    let cursor = spec(&format!(
        r#"
        url = "http://{addr}/cursored"
        params = {{ after = "{{cursor}}" }}
        allow_hosts = ["127.0.0.1"]
        pagination = {{ kind = "cursor", next = "/next" }}
        "#
    ));
    assert_eq!(http::collect(&f.ctx(), &cursor).await.unwrap().taken, 5);
    let landed = f.land();
    let mut names: Vec<_> = landed
        .stored
        .iter()
        .map(|o| o.original_name.as_str())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "linked.json",
            "linked_p2.json",
            "linked_p3.json",
            "linked_p4.json",
            "p1.json",
            "p2.json",
            "p3.json",
            "p4.json",
            "p5.json"
        ]
    );
}

#[tokio::test]
async fn internal_hosts_and_hostile_redirects_are_refused() {
    let (addr, state) = start_server().await;
    let f = Fixture::new("");
    for url in [
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.1/x".to_string(),
        "http://[::1]/x".to_string(),
        // Loopback, but not allowed by the source.
        format!("http://{addr}/items"),
    ] {
        let s = spec(&format!("url = \"{url}\"\nretries = 0\ntimeout = \"1s\""));
        let err = http::collect(&f.ctx(), &s).await.unwrap_err().to_string();
        assert!(err.contains("refused"), "{url}: {err}");
    }
    // Allowed host, redirecting to the metadata service and to another host.
    for target in [
        "http://169.254.169.254/latest/meta-data/",
        "http://example.org/",
        "file:///etc/passwd",
    ] {
        let s = spec(&format!(
            "url = \"http://{addr}/redirect\"\nparams = {{ to = \"{target}\" }}\n\
             allow_hosts = [\"127.0.0.1\"]\nretries = 0"
        ));
        let err = http::collect(&f.ctx(), &s).await.unwrap_err().to_string();
        assert!(err.contains("refused"), "{target}: {err}");
    }
    assert!(f.land().stored.is_empty());
    // The loopback URL that the source did not allow was never requested.
    assert!(state.lock().unwrap().seen.is_empty());
}

#[tokio::test]
async fn a_canary_secret_reaches_no_error_object_or_catalog_row() {
    const CANARY: &str = "canary-7f3e9a1c-do-not-leak";
    let (addr, state) = start_server().await;
    let f = Fixture::new(&format!("API_TOKEN={CANARY}\nAPI_KEY={CANARY}-key"));
    // A refused request: the server echoes the credentials in its error body.
    let failing = spec(&format!(
        r#"
        url = "http://{addr}/secret"
        params = {{ key = "${{API_KEY}}" }}
        headers = {{ Authorization = "Bearer ${{API_TOKEN}}" }}
        allow_hosts = ["127.0.0.1"]
        retries = 0
        "#
    ));
    let err = http::collect(&f.ctx(), &failing)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains(CANARY), "{err}");
    // The server did get the secret: the test is real.
    assert!(
        state
            .lock()
            .unwrap()
            .seen
            .iter()
            .any(|s| s.contains(CANARY))
    );

    // A successful request with the key in the URL: the manifest keeps a redacted URL.
    let ok = spec(&format!(
        r#"
        url = "http://{addr}/items"
        params = {{ key = "${{API_KEY}}", page = "1", from = "x" }}
        headers = {{ Authorization = "Bearer ${{API_TOKEN}}" }}
        allow_hosts = ["127.0.0.1"]
        backoff = "10ms"
        "#
    ));
    http::collect(&f.ctx(), &ok).await.unwrap();
    let landed = f.land();
    assert_eq!(landed.stored.len(), 1);
    assert!(
        landed.stored[0].collector["url"]
            .as_str()
            .unwrap()
            .contains("key=***")
    );
    drop(f.catalog);
    for entry in walkdir::WalkDir::new(f.dir.path()) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(CANARY),
                "{} holds the secret",
                entry.path().display()
            );
        }
    }
}

#[tokio::test]
async fn names_from_the_source_stay_in_the_source_folder() {
    let (addr, _state) = start_server().await;
    let f = Fixture::new("");
    let s = spec(&format!(
        r#"
        url = "http://{addr}/items"
        params = {{ page = "1", from = "{{station}}" }}
        allow_hosts = ["127.0.0.1"]
        each = [{{ station = "../../etc/x" }}, {{ station = "a\u0000b" }}, {{ station = "/abs/..\\..\\c" }}]
        name = "w_{{station}}.json"
        backoff = "10ms"
        "#
    ));
    http::collect(&f.ctx(), &s).await.unwrap();
    let landed = f.land();
    assert_eq!(landed.stored.len(), 3);
    let root = f.lake.persistent("api");
    for o in &landed.stored {
        let path = f.lake.root().join(&o.persistent_path);
        assert!(path.starts_with(&root), "{}", path.display());
        assert!(path.is_file());
        assert!(
            std::path::Path::new(&o.persistent_path)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_))),
            "{}",
            o.persistent_path
        );
        assert!(
            !o.original_name.contains(['/', '\\', '\0']),
            "{}",
            o.original_name
        );
    }
    // Nothing was written outside the lake.
    assert!(!f.dir.path().join("etc").exists());
}
