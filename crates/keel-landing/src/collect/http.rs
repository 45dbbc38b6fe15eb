//! The `http` collector: GET or POST a templated URL, window by window from a watermark,
//! page by page, storing every response raw.
//!
//! ```text
//!  watermark ─► [from, to) ─► each series ─► page 1, 2, … ─► temporal batch ─► seal {watermark: to}
//! ```
//!
//! A window's responses form one temporal batch sealed with the new watermark, which the
//! persistent loader commits with the objects: the watermark never advances past data that
//! did not land. Requests are retried on 429, 5xx, timeouts and broken connections with
//! exponential backoff; redirects are followed by hand so that each hop passes the host
//! policy ([`super::net`]). Secrets from `${ENV}` are redacted from everything recorded.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use keel_core::ids::sanitize_file_name;
use keel_core::schedule::parse_duration;
use keel_core::secrets::Secrets;
use keel_core::spec::{HttpMethod, HttpSpec, PaginationSpec};
use serde_json::json;

use super::net::{GuardedResolver, HostPolicy};
use super::{CollectReport, Ctx};
use crate::Result;
use crate::temporal::BatchWriter;

/// The source state key of the watermark (the next window's `from`).
pub const WATERMARK: &str = "watermark";

const MAX_REDIRECTS: usize = 5;
const MAX_PAGES: u64 = 100_000;

/// Runs the HTTP collector of a source once.
///
/// # Errors
/// When the declaration is invalid, a host is refused, or a request still fails after its
/// retries; messages are redacted of secrets.
pub async fn collect(ctx: &Ctx<'_>, spec: &HttpSpec) -> Result<CollectReport> {
    let mut secrets = Secrets::new();
    let request = RequestTemplate::expand(ctx, spec, &mut secrets)?;
    let timeout = parse_duration(&spec.timeout).map_err(|m| ctx.config(m))?;
    let backoff = parse_duration(&spec.backoff).map_err(|m| ctx.config(m))?;

    let probe = url::Url::parse(&fill(&request.url, &BTreeMap::new()))
        .map_err(|e| ctx.config(format!("key `collector.url`: {e}")))?;
    let host = probe
        .host_str()
        .ok_or_else(|| ctx.config("key `collector.url`: the URL has no host".into()))?;
    let policy = HostPolicy::new(host, &spec.allow_hosts);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .no_proxy()
        .dns_resolver(GuardedResolver::new(policy.clone()))
        .user_agent(concat!("keel/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ctx.failed(&secrets, e))?;
    let mut fetcher = Fetcher {
        client,
        policy,
        retries: spec.retries,
        backoff,
        min_interval: spec
            .rate_limit
            .map(|r| Duration::from_secs_f64(1.0 / r))
            .unwrap_or_default(),
        last_request: None,
    };

    let mut report = CollectReport::default();
    for window in windows(ctx, spec)? {
        let mut batch = BatchWriter::create(&ctx.temporal())?;
        let series: Vec<BTreeMap<String, String>> = if spec.each.is_empty() {
            vec![BTreeMap::new()]
        } else {
            spec.each.iter().map(stringify_vars).collect()
        };
        for vars in &series {
            fetch_series(
                ctx,
                spec,
                &request,
                &mut fetcher,
                &secrets,
                &window,
                vars,
                &mut batch,
                &mut report,
            )
            .await?;
        }
        let mut state = serde_json::Map::new();
        if let Some(to) = window.to {
            state.insert(WATERMARK.into(), json!(to.format("%Y-%m-%d").to_string()));
        }
        // A window with no records still advances the watermark (an empty batch carrying
        // only state): an empty day is an answer too.
        batch.seal(&state)?;
    }
    Ok(report)
}

/// The request with `${ENV}` expanded (the values are secrets); `{from}`, `{to}`, `{page}`,
/// `{cursor}` and the `each` variables are filled per request.
struct RequestTemplate {
    url: String,
    params: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl RequestTemplate {
    fn expand(ctx: &Ctx<'_>, spec: &HttpSpec, secrets: &mut Secrets) -> Result<RequestTemplate> {
        let url = ctx.expand(secrets, "url", &spec.url)?;
        let mut params = Vec::new();
        for (k, v) in &spec.params {
            params.push((k.clone(), ctx.expand(secrets, &format!("params.{k}"), v)?));
        }
        let mut headers = Vec::new();
        for (k, v) in &spec.headers {
            let value = ctx.expand(secrets, &format!("headers.{k}"), v)?;
            // A header holds credentials more often than not: its value is a secret.
            secrets.add(&value);
            headers.push((k.clone(), value));
        }
        let body = match &spec.body {
            Some(b) => Some(ctx.expand(secrets, "body", b)?),
            None => None,
        };
        Ok(RequestTemplate {
            url,
            params,
            headers,
            body,
        })
    }
}

/// A date window `[from, to)`, or the single unwindowed fetch.
#[derive(Debug, Clone)]
struct Window {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    /// `{to}` as the API wants it (the last day when the API's `to` is inclusive).
    to_param: Option<NaiveDate>,
    format: String,
}

impl Window {
    fn vars(&self) -> BTreeMap<String, String> {
        let mut v = BTreeMap::new();
        if let (Some(from), Some(to)) = (self.from, self.to_param) {
            v.insert("from".into(), from.format(&self.format).to_string());
            v.insert("to".into(), to.format(&self.format).to_string());
        }
        v
    }

    fn label(&self) -> String {
        match (self.from, self.to) {
            (Some(f), Some(t)) => format!("{}_{}", f.format("%Y-%m-%d"), t.format("%Y-%m-%d")),
            _ => "all".into(),
        }
    }

    fn json(&self) -> serde_json::Value {
        match (self.from, self.to) {
            (Some(f), Some(t)) => json!([f.to_string(), t.to_string()]),
            _ => serde_json::Value::Null,
        }
    }
}

/// The windows still to fetch: from the watermark (or `start`) to `end` (or today minus
/// the lag), `days` at a time. Without a window declaration, one unwindowed fetch.
fn windows(ctx: &Ctx<'_>, spec: &HttpSpec) -> Result<Vec<Window>> {
    let Some(w) = &spec.window else {
        return Ok(vec![Window {
            from: None,
            to: None,
            to_param: None,
            format: String::new(),
        }]);
    };
    let date = |key: &str, v: &str| {
        NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map_err(|e| ctx.config(format!("key `{key}`: `{v}`: {e}")))
    };
    let mut from = match ctx.state(WATERMARK)? {
        Some(serde_json::Value::String(s)) => date("source state watermark", &s)?,
        _ => date("collector.window.start", &w.start)?,
    };
    let limit = match &w.end {
        Some(end) => date("collector.window.end", end)?,
        None => chrono::Utc::now().date_naive() - chrono::Days::new(u64::from(w.lag_days)),
    };
    let mut out = Vec::new();
    while from < limit {
        let to = (from + chrono::Days::new(u64::from(w.days))).min(limit);
        out.push(Window {
            from: Some(from),
            to: Some(to),
            to_param: Some(if w.inclusive_to {
                to - chrono::Days::new(1)
            } else {
                to
            }),
            format: w.format.clone(),
        });
        from = to;
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn fetch_series(
    ctx: &Ctx<'_>,
    spec: &HttpSpec,
    request: &RequestTemplate,
    fetcher: &mut Fetcher,
    secrets: &Secrets,
    window: &Window,
    series: &BTreeMap<String, String>,
    batch: &mut BatchWriter,
    report: &mut CollectReport,
) -> Result<()> {
    let mut vars = window.vars();
    vars.extend(series.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut page: u64 = match &spec.pagination {
        Some(PaginationSpec::Page { start, .. }) => *start,
        _ => 1,
    };
    let mut cursor: Option<String> = None;
    let mut next_link: Option<url::Url> = None;
    for n in 1..=MAX_PAGES {
        vars.insert("page".into(), page.to_string());
        let url = match next_link.take() {
            Some(link) => link,
            None => build_url(ctx, request, &vars, cursor.as_deref())?,
        };
        let body = request.body.as_ref().map(|b| {
            let mut v = vars.clone();
            v.insert("cursor".into(), cursor.clone().unwrap_or_default());
            fill(b, &v)
        });
        let fetched = fetcher
            .fetch(ctx, secrets, spec.method, url, &request.headers, body)
            .await?;
        report.seen += 1;

        // What decides the next page.
        let parsed = || serde_json::from_slice::<serde_json::Value>(&fetched.body).ok();
        let mut more = false;
        let mut store = true;
        match &spec.pagination {
            None => {}
            Some(PaginationSpec::Page { records, .. }) => {
                let count = parsed()
                    .and_then(|v| v.pointer(records).and_then(|r| r.as_array()).map(Vec::len))
                    .unwrap_or(0);
                store = count > 0;
                more = count > 0;
                page += 1;
            }
            Some(PaginationSpec::Cursor { next }) => {
                let value = parsed().and_then(|v| v.pointer(next).cloned());
                let next_cursor = match value {
                    Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
                    Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                };
                if next_cursor.is_some() && next_cursor == cursor {
                    return Err(ctx.failed(
                        secrets,
                        format!("the API returned the same cursor twice (page {n}); stopping"),
                    ));
                }
                more = next_cursor.is_some();
                cursor = next_cursor;
                page += 1;
            }
            Some(PaginationSpec::Link) => {
                next_link = fetched.next_link.clone();
                more = next_link.is_some();
                page += 1;
            }
        }
        if store {
            let name = object_name(spec, window, series, n);
            let collector = json!({
                "kind": "http",
                "url": secrets.redact(fetched.url.as_str()),
                "method": if spec.method == HttpMethod::Post { "POST" } else { "GET" },
                "status": fetched.status,
                "content_type": fetched.content_type,
                "attempts": fetched.attempts,
                "window": window.json(),
                "series": series,
                "page": n,
            });
            let entry = batch.add(&name, &fetched.body, collector, Vec::new())?;
            report.taken += 1;
            report.bytes += entry.bytes;
        }
        if !more {
            return Ok(());
        }
    }
    Err(ctx.failed(
        secrets,
        format!("more than {MAX_PAGES} pages in one window; stopping"),
    ))
}

fn build_url(
    ctx: &Ctx<'_>,
    request: &RequestTemplate,
    vars: &BTreeMap<String, String>,
    cursor: Option<&str>,
) -> Result<url::Url> {
    let mut url = url::Url::parse(&fill(&request.url, vars))
        .map_err(|e| ctx.config(format!("key `collector.url`: {e}")))?;
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in &request.params {
            if v.contains("{cursor}") {
                // The first page has no cursor: the parameter is left out.
                match cursor {
                    Some(c) => {
                        let mut with = vars.clone();
                        with.insert("cursor".into(), c.to_string());
                        query.append_pair(k, &fill(v, &with));
                    }
                    None => continue,
                }
            } else {
                query.append_pair(k, &fill(v, vars));
            }
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    Ok(url)
}

/// The stored name of a response: the `name` template, or the series values, the window
/// and the page; always a plain, sanitised file name.
fn object_name(
    spec: &HttpSpec,
    window: &Window,
    series: &BTreeMap<String, String>,
    page: u64,
) -> String {
    let ext = sanitize_file_name(&spec.extension);
    let name = match &spec.name {
        Some(template) => {
            let mut vars = window.vars();
            vars.extend(series.iter().map(|(k, v)| (k.clone(), v.clone())));
            vars.insert("page".into(), page.to_string());
            vars.insert("ext".into(), ext.clone());
            vars.insert("extension".into(), ext.clone());
            let name = fill(template, &vars);
            if page > 1 && !template.contains("{page}") {
                match name.rsplit_once('.') {
                    Some((stem, e)) => format!("{stem}_p{page}.{e}"),
                    None => format!("{name}_p{page}"),
                }
            } else {
                name
            }
        }
        None => {
            let mut parts: Vec<String> = series.values().cloned().collect();
            if window.from.is_some() {
                parts.push(window.label());
            }
            parts.push(format!("p{page}"));
            format!("{}.{ext}", parts.join("_"))
        }
    };
    sanitize_file_name(&name)
}

fn stringify_vars(item: &BTreeMap<String, serde_json::Value>) -> BTreeMap<String, String> {
    item.iter()
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

/// `template` with every `{name}` of `vars` replaced; unknown `{...}` are kept.
fn fill(template: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if vars.contains_key(&after[..close]) => {
                out.push_str(&vars[&after[..close]]);
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// One fetched response.
struct Fetched {
    url: url::Url,
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
    attempts: u32,
    next_link: Option<url::Url>,
}

/// Sends requests with retries, backoff, a rate limit and checked redirects.
struct Fetcher {
    client: reqwest::Client,
    policy: HostPolicy,
    retries: u32,
    backoff: Duration,
    min_interval: Duration,
    last_request: Option<Instant>,
}

/// Why one attempt failed.
enum Attempt {
    /// Worth retrying (5xx, 429, timeout, broken connection); with a server-given delay.
    Transient(String, Option<Duration>),
    /// Not worth retrying.
    Fatal(String),
}

impl Fetcher {
    async fn fetch(
        &mut self,
        ctx: &Ctx<'_>,
        secrets: &Secrets,
        method: HttpMethod,
        url: url::Url,
        headers: &[(String, String)],
        body: Option<String>,
    ) -> Result<Fetched> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self
                .attempt(method, url.clone(), headers, body.clone())
                .await
            {
                Ok(mut fetched) => {
                    fetched.attempts = attempts;
                    return Ok(fetched);
                }
                Err(Attempt::Fatal(m)) => {
                    return Err(ctx.failed(secrets, format!("{m} ({})", url.path())));
                }
                Err(Attempt::Transient(m, after)) => {
                    if attempts > self.retries {
                        return Err(ctx.failed(
                            secrets,
                            format!("{m}; gave up after {attempts} attempts ({})", url.path()),
                        ));
                    }
                    let exp = self.backoff * 2u32.saturating_pow(attempts - 1);
                    let wait = after.unwrap_or(exp).min(Duration::from_secs(60));
                    tracing::warn!(
                        source = ctx.source,
                        attempt = attempts,
                        wait_ms = wait.as_millis() as u64,
                        reason = %secrets.redact(&m),
                        "retrying a request"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One request, following redirects that pass the host policy.
    async fn attempt(
        &mut self,
        method: HttpMethod,
        mut url: url::Url,
        headers: &[(String, String)],
        body: Option<String>,
    ) -> std::result::Result<Fetched, Attempt> {
        for _ in 0..=MAX_REDIRECTS {
            self.policy.check_url(&url).map_err(Attempt::Fatal)?;
            if let Some(last) = self.last_request {
                let next = last + self.min_interval;
                let now = Instant::now();
                if next > now {
                    tokio::time::sleep(next - now).await;
                }
            }
            self.last_request = Some(Instant::now());
            let mut req = match method {
                HttpMethod::Get => self.client.get(url.clone()),
                HttpMethod::Post => self.client.post(url.clone()),
            };
            for (k, v) in headers {
                req = req.header(k, v);
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            let resp = req.send().await.map_err(transport)?;
            let status = resp.status();
            if status.is_redirection() {
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| Attempt::Fatal(format!("HTTP {status} without a Location")))?;
                url = url
                    .join(location)
                    .map_err(|e| Attempt::Fatal(format!("bad redirect Location: {e}")))?;
                continue;
            }
            if status.as_u16() == 429 || status.is_server_error() {
                let after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                return Err(Attempt::Transient(format!("HTTP {status}"), after));
            }
            if !status.is_success() {
                return Err(Attempt::Fatal(format!("HTTP {status}")));
            }
            let content_type = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let next_link = resp
                .headers()
                .get_all(reqwest::header::LINK)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(next_from_link_header)
                .and_then(|l| url.join(&l).ok());
            let body = resp.bytes().await.map_err(transport)?.to_vec();
            return Ok(Fetched {
                url,
                status: status.as_u16(),
                content_type,
                body,
                attempts: 0,
                next_link,
            });
        }
        Err(Attempt::Fatal(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }
}

/// A transport error: its URL (which may hold a secret) is dropped, and whether it is worth
/// retrying is decided from its kind.
fn transport(e: reqwest::Error) -> Attempt {
    let transient = e.is_timeout() || e.is_connect() || e.is_request() || e.is_body();
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    if transient && !message.contains("refused host") {
        Attempt::Transient(message, None)
    } else {
        Attempt::Fatal(message)
    }
}

/// The `rel="next"` target of one `Link` header value.
fn next_from_link_header(value: &str) -> Option<String> {
    value.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p == "rel=\"next\"" || p == "rel=next"
        });
        is_next.then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_known_names_only() {
        let vars: BTreeMap<String, String> = [("from", "2020-01-01"), ("station", "WAW")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            fill("/x/{station}?f={from}&j={\"a\":1}&c={cursor}", &vars),
            "/x/WAW?f=2020-01-01&j={\"a\":1}&c={cursor}"
        );
    }

    #[test]
    fn link_headers() {
        assert_eq!(
            next_from_link_header(
                r#"<https://a/x?page=2>; rel="next", <https://a/x?page=9>; rel="last""#
            ),
            Some("https://a/x?page=2".into())
        );
        assert_eq!(
            next_from_link_header(r#"<https://a/x?page=9>; rel="last""#),
            None
        );
    }
}
