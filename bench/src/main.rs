//! `portcullis-bench`: requests/s, p50/p99 latency and server CPU per request for the hot
//! endpoints (discovery, JWKS, client_credentials, introspection, userinfo, refresh) at a
//! fixed concurrency against a release build it starts itself, on SQLite or Postgres.
//!
//! `introspection` presents one token over and over, as a resource server does during a
//! token's life (the server remembers a verified signature); `introspection_fresh`
//! presents a token the server has never seen on every request, so each one pays the full
//! signature verification.
//!
//! Server CPU is read from the server's own per-thread counters
//! (`/proc/<pid>/task/*/schedstat`, nanoseconds) around each scenario, so the load
//! generator's CPU is not counted.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use clap::Parser;
use portcullis_core::ids::{GrantId, SessionId};
use portcullis_core::model::{Grant, RefreshToken};
use portcullis_core::scope::ScopeSet;
use portcullis_core::secret::{PlainSecret, SecretKind};
use portcullis_core::store::Store;
use portcullis_core::{Clock, SystemClock};
use portcullis_e2e::db::{Backend, TestDb};
use portcullis_e2e::fixtures;
use tokio::io::AsyncBufReadExt as _;

#[derive(Debug, Parser)]
struct Args {
    /// The release binary to start.
    #[arg(long, default_value = "target/release/portcullis")]
    binary: String,
    /// `sqlite` or `postgres` (a fresh database each run).
    #[arg(long, default_value = "postgres")]
    backend: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Scenarios to run (default: all).
    #[arg(long)]
    scenario: Vec<String>,
    /// The bench client's registered `id_token_signed_response_alg` (RS256 is the OIDC
    /// default; ES256 shows the cost without RSA signing on the refresh path).
    #[arg(long, default_value = "RS256")]
    id_token_alg: String,
    /// Offered load in requests per second across all connections (open loop: each
    /// connection sends on a fixed schedule, and latency counts from the scheduled send,
    /// so time spent behind a slow answer is counted, not hidden). 0, the default, is
    /// closed loop: each connection sends its next request as soon as it has an answer,
    /// which measures capacity (mean latency is then concurrency / throughput).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
}

const SCENARIOS: [&str; 7] = [
    "discovery",
    "jwks",
    "client_credentials",
    "introspection",
    "introspection_fresh",
    "userinfo",
    "refresh",
];

/// Distinct access tokens minted up front for `introspection_fresh`; a run that uses them
/// all ends early (the figures stay per request).
const FRESH_TOKENS: usize = 60_000;

struct Server {
    child: tokio::process::Child,
    pid: u32,
    base: String,
}

async fn start_server(binary: &str, db: &TestDb, kek: &str) -> anyhow::Result<Server> {
    let data = std::env::temp_dir().join(format!("pc-bench-{}", std::process::id()));
    let mut child = tokio::process::Command::new(binary)
        .arg("serve")
        .env("PORTCULLIS_DATABASE_URL", db.url())
        .env("PORTCULLIS_KEY_ENCRYPTION_KEY", kek)
        .env("PORTCULLIS_DATA_DIR", &data)
        .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
        .env("PORTCULLIS_LOG__FORMAT", "json")
        .env("PORTCULLIS_LOG__LEVEL", "warn,portcullis_server=info")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {binary} (build it with cargo build --release)"))?;
    let pid = child.id().context("server pid")?;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().context("stderr")?).lines();
    while let Some(line) = lines.next_line().await? {
        if line.contains("portcullis is ready") {
            let v: serde_json::Value = serde_json::from_str(&line)?;
            let addr = v["addr"].as_str().context("addr")?.to_owned();
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok(Server {
                child,
                pid,
                base: format!("http://{addr}"),
            });
        }
    }
    anyhow::bail!("server exited before it was ready")
}

fn server_cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
        })
        .sum()
}

/// What every scenario needs, prepared before the clock starts.
struct Fixture {
    base: String,
    basic: String,
    access_token: String,
    /// Tokens like `access_token` but each with its own `jti`, never presented before.
    fresh_tokens: Vec<String>,
    next_fresh: AtomicUsize,
    /// One refresh token per worker: each worker rotates its own chain.
    refresh_tokens: Vec<String>,
}

/// `count` access tokens with the claims of `template` but each with a new `jti`, signed
/// with the server's active ES256 key (loaded from the shared store with its KEK).
async fn mint_fresh_tokens(
    store: &Arc<dyn Store>,
    kek: &str,
    template: &str,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    use portcullis_core::keyring::{KeyEncryptionKey, Keyring};
    use portcullis_core::tokens::{
        ACCESS_TOKEN_ALG, AccessTokenClaims, mint_access_token, new_jti,
    };
    let now = SystemClock.now();
    let keyring = Keyring::open(store.as_ref(), KeyEncryptionKey::from_base64(kek)?, now).await?;
    let keys = keyring.current();
    let payload = template.split('.').nth(1).context("a JWT")?;
    let claims: AccessTokenClaims =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?)?;
    (0..count)
        .map(|_| {
            let claims = AccessTokenClaims {
                jti: new_jti()?,
                ..claims.clone()
            };
            Ok(mint_access_token(&keys, ACCESS_TOKEN_ALG, &claims, now)?)
        })
        .collect()
}

async fn prepare(
    store: &Arc<dyn Store>,
    base: &str,
    workers: usize,
    id_token_alg: &str,
) -> anyhow::Result<Fixture> {
    let user = fixtures::user(store.as_ref(), "bench").await?;
    let mut new = portcullis_core::clients::NewClient {
        name: "Bench".into(),
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
        grant_types: vec![
            "authorization_code".into(),
            "refresh_token".into(),
            "client_credentials".into(),
        ],
        scope: Some("openid profile email offline_access api".into()),
        ..Default::default()
    };
    new.public = false;
    new.metadata.id_token_signed_response_alg = Some(id_token_alg.to_owned());
    let now = SystemClock.now();
    let (client, secret) =
        portcullis_core::clients::create_client(store.as_ref(), new, now).await?;
    let secret = secret.context("confidential client")?;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            client.client_id,
            secret.expose()
        ))
    );
    let scope = ScopeSet::parse("openid profile email offline_access")?;
    let mut refresh_tokens = Vec::new();
    for _ in 0..workers + 1 {
        let grant = Grant {
            grant_id: GrantId::random(),
            user_id: user.user_id,
            client_id: client.client_id.clone(),
            scope: scope.clone(),
            session_id: Some(SessionId::random()),
            auth_time: now,
            created_at: now,
            last_used_at: now,
            revoked_at: None,
        };
        store.create_grant(&grant).await?;
        let token = PlainSecret::generate(SecretKind::RefreshToken)?;
        store
            .insert_refresh_token(&RefreshToken {
                token_hash: token.hash(),
                grant_id: grant.grant_id,
                client_id: client.client_id.clone(),
                scope: scope.clone(),
                parent_hash: None,
                created_at: now,
                expires_at: now.plus(Duration::from_secs(86_400)),
                idle_expires_at: now.plus(Duration::from_secs(86_400)),
                rotated_at: None,
                revoked_at: None,
            })
            .await?;
        refresh_tokens.push(token.expose().to_owned());
    }
    // One refresh up front gives a user access token for userinfo and introspection.
    let http = reqwest::Client::new();
    let first = refresh_tokens.pop().context("a spare chain")?;
    let body = format!("grant_type=refresh_token&refresh_token={first}");
    let resp = http
        .post(format!("{base}/token"))
        .header("authorization", &basic)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 200,
        "refresh for the fixture failed: {}",
        resp.status()
    );
    let v: serde_json::Value = serde_json::from_slice(&resp.bytes().await?)?;
    let access_token = v["access_token"]
        .as_str()
        .context("access_token")?
        .to_owned();
    Ok(Fixture {
        base: base.to_owned(),
        basic,
        access_token,
        fresh_tokens: Vec::new(),
        next_fresh: AtomicUsize::new(0),
        refresh_tokens,
    })
}

/// One request of `scenario`, updating the refresh token to use next (refresh only);
/// `false` when the scenario has nothing left to send.
async fn one_request(
    http: &reqwest::Client,
    f: &Fixture,
    scenario: &str,
    refresh: &mut String,
) -> anyhow::Result<bool> {
    let form = |body: String| {
        http.post(format!(
            "{}/{}",
            f.base,
            if scenario.starts_with("introspection") {
                "introspect"
            } else {
                "token"
            }
        ))
        .header("authorization", &f.basic)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
    };
    let req = match scenario {
        "discovery" => http.get(format!("{}/.well-known/openid-configuration", f.base)),
        "jwks" => http.get(format!("{}/jwks.json", f.base)),
        "userinfo" => http
            .get(format!("{}/userinfo", f.base))
            .bearer_auth(&f.access_token),
        "client_credentials" => form("grant_type=client_credentials&scope=api".into()),
        "introspection" => form(format!("token={}", f.access_token)),
        "introspection_fresh" => {
            let Some(token) = f
                .fresh_tokens
                .get(f.next_fresh.fetch_add(1, Ordering::Relaxed))
            else {
                return Ok(false);
            };
            form(format!("token={token}"))
        }
        "refresh" => form(format!("grant_type=refresh_token&refresh_token={refresh}")),
        other => anyhow::bail!("unknown scenario {other}"),
    };
    let resp = req.send().await?;
    let status = resp.status();
    let body = resp.bytes().await?;
    anyhow::ensure!(
        status == 200,
        "{scenario}: HTTP {status}: {}",
        String::from_utf8_lossy(&body)
    );
    if scenario == "refresh" {
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        *refresh = v["refresh_token"]
            .as_str()
            .context("refresh_token")?
            .to_owned();
    }
    if scenario.starts_with("introspection") {
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        anyhow::ensure!(v["active"] == true, "introspection says inactive");
    }
    Ok(true)
}

struct Outcome {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    cpu_ns: u64,
}

async fn run_scenario(
    f: &Arc<Fixture>,
    pid: u32,
    scenario: &'static str,
    workers: usize,
    seconds: u64,
    rate: f64,
) -> anyhow::Result<Outcome> {
    // Open loop: connection `w` sends at start + (w / workers + k) * period.
    let period = (rate > 0.0).then(|| Duration::from_secs_f64(workers as f64 / rate));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let cpu_before = server_cpu_ns(pid);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?;
            let mut refresh = f.refresh_tokens.get(w).cloned().unwrap_or_default();
            let mut latencies = Vec::new();
            let mut scheduled = period.map(|p| start + p.mul_f64(w as f64 / workers as f64));
            while Instant::now() < deadline {
                let t = match scheduled {
                    Some(at) => {
                        tokio::time::sleep_until(at.into()).await;
                        at
                    }
                    None => Instant::now(),
                };
                if !one_request(&http, &f, scenario, &mut refresh).await? {
                    break;
                }
                latencies.push(t.elapsed());
                scheduled = scheduled.zip(period).map(|(at, p)| at + p);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = start.elapsed();
    let cpu_ns = server_cpu_ns(pid).saturating_sub(cpu_before);
    latencies.sort_unstable();
    Ok(Outcome {
        requests: latencies.len(),
        elapsed,
        latencies,
        cpu_ns,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let backend = match args.backend.as_str() {
        "sqlite" => Backend::Sqlite,
        "postgres" => Backend::Postgres,
        other => anyhow::bail!("unknown backend {other}"),
    };
    let db = TestDb::create(backend, "bench")
        .await?
        .context("Postgres is not reachable")?;
    let kek = portcullis_e2e::app::random_kek()?;
    let mut server = start_server(&args.binary, &db, &kek).await?;
    let store = db.open_store().await?;
    let mut fixture = prepare(&store, &server.base, args.concurrency, &args.id_token_alg).await?;
    let scenarios: Vec<&'static str> = if args.scenario.is_empty() {
        SCENARIOS.to_vec()
    } else {
        SCENARIOS
            .iter()
            .copied()
            .filter(|s| args.scenario.iter().any(|a| a == s))
            .collect()
    };
    if scenarios.contains(&"introspection_fresh") {
        fixture.fresh_tokens =
            mint_fresh_tokens(&store, &kek, &fixture.access_token, FRESH_TOKENS).await?;
    }
    let fixture = Arc::new(fixture);
    let mut out = std::io::stdout().lock();
    use std::io::Write as _;
    writeln!(
        out,
        "backend={} concurrency={} seconds={} rate={} (access tokens ES256, ID tokens {})",
        args.backend,
        args.concurrency,
        args.seconds,
        if args.rate > 0.0 {
            format!("{}/s", args.rate)
        } else {
            "closed loop".into()
        },
        args.id_token_alg
    )?;
    writeln!(
        out,
        "{:<20} {:>10} {:>10} {:>10} {:>14}",
        "scenario", "req/s", "p50 ms", "p99 ms", "CPU us/req"
    )?;
    for scenario in scenarios {
        let o = run_scenario(
            &fixture,
            server.pid,
            scenario,
            args.concurrency,
            args.seconds,
            args.rate,
        )
        .await?;
        let rps = o.requests as f64 / o.elapsed.as_secs_f64();
        let cpu = o.cpu_ns as f64 / 1000.0 / o.requests.max(1) as f64;
        writeln!(
            out,
            "{:<20} {:>10.0} {:>10.2} {:>10.2} {:>14.1}",
            scenario,
            rps,
            percentile(&o.latencies, 50.0).as_secs_f64() * 1000.0,
            percentile(&o.latencies, 99.0).as_secs_f64() * 1000.0,
            cpu
        )?;
    }
    server.child.kill().await?;
    db.cleanup().await?;
    Ok(())
}
