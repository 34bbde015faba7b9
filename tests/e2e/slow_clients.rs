//! Slow and numerous clients (the slowloris family): a client that trickles its headers is
//! disconnected after `http_header_read_timeout`, one that trickles its body gets `408`
//! after `http_request_timeout`, ordinary requests are served meanwhile, and no more than
//! `http_max_connections` connections are served at once. Every wait is on a condition (a
//! response, an end of stream) under a bounded deadline; the only timer paces the slow
//! client's bytes.

use std::time::{Duration, Instant};

use portcullis_e2e::app::TestApp;
use portcullis_e2e::db::Backend;
use portcullis_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The timeouts the tests configure: short, so the tests are quick.
const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// How long any step may take before the test fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(15);

async fn spawn(test_name: &str, configure: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, test_name, |config| {
        config.http_header_read_timeout = HEADER_TIMEOUT;
        config.http_request_timeout = REQUEST_TIMEOUT;
        configure(config);
    })
    .await
    .unwrap()
    .unwrap()
}

/// A client that sends the start of a request and then one more header byte every
/// 100 ms, never finishing; returns how long after it connected the server closed the
/// connection (its read side saw the end of the stream).
async fn trickle_headers(port: u16) -> Duration {
    let connected = Instant::now();
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let trickle = async move {
        let mut pace = tokio::time::interval(Duration::from_millis(100));
        // Until the server hangs up (a write then fails) or the reader below finishes.
        while write.write_all(b"a").await.is_ok() {
            pace.tick().await;
        }
    };
    let until_closed = async move {
        let mut sink = Vec::new();
        read.read_to_end(&mut sink).await.ok();
        connected.elapsed()
    };
    tokio::join!(trickle, until_closed).1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_senders_are_disconnected_while_ordinary_requests_are_served() {
    // Arrange
    let app = spawn("slow_clients::headers", |_| {}).await;
    let started = Instant::now();
    let slow: Vec<_> = (0..50)
        .map(|_| tokio::spawn(trickle_headers(app.port)))
        .collect();

    // Act: ordinary requests while the slow ones hold their connections.
    let mut served = Vec::new();
    for _ in 0..10 {
        let response = tokio::time::timeout(DEADLINE, app.get("/healthz"))
            .await
            .unwrap()
            .unwrap();
        served.push(response.status().as_u16());
    }
    let served_within = started.elapsed();
    let mut closed_after = Vec::new();
    for handle in slow {
        closed_after.push(
            tokio::time::timeout(DEADLINE, handle)
                .await
                .unwrap()
                .unwrap(),
        );
    }

    // Assert: served at once, and every slow client cut off at the header timeout, not
    // before, though it never stopped sending.
    assert!(served.iter().all(|s| *s == 200), "{served:?}");
    assert!(
        served_within < HEADER_TIMEOUT,
        "served within {served_within:?}"
    );
    for elapsed in closed_after {
        assert!(
            elapsed >= HEADER_TIMEOUT && elapsed < HEADER_TIMEOUT * 5,
            "a slow client was closed after {elapsed:?}"
        );
    }
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_body_gets_408_at_the_request_timeout() {
    // Arrange: headers promise 100 bytes of body; 10 arrive.
    let app = spawn("slow_clients::body", |_| {}).await;
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    stream
        .write_all(
            b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
              grant_type",
        )
        .await
        .unwrap();
    let sent = Instant::now();

    // Act
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();

    // Assert
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(sent.elapsed() >= REQUEST_TIMEOUT);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_the_configured_connections_are_served_at_once() {
    // Arrange: three connections, the cap, that send nothing; the header timeout will
    // close them.
    let app = spawn("slow_clients::cap", |config| {
        config.http_max_connections = 3
    })
    .await;
    let opened = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(("127.0.0.1", app.port)).await.unwrap());
    }

    // Act: an ordinary request on a fourth connection, queued behind them.
    let response = tokio::time::timeout(DEADLINE, app.get("/healthz"))
        .await
        .unwrap()
        .unwrap();
    let answered_after = opened.elapsed();

    // Assert: answered, but only once a slot was freed by the header timeout (without
    // the cap it takes milliseconds, see the test above); and the three were closed.
    assert_eq!(response.status(), 200);
    assert!(
        answered_after >= HEADER_TIMEOUT,
        "answered after {answered_after:?}, before any of the three was closed"
    );
    for mut stream in idle {
        let mut sink = Vec::new();
        tokio::time::timeout(DEADLINE, stream.read_to_end(&mut sink))
            .await
            .unwrap()
            .unwrap();
    }
    app.stop().await.unwrap();
}
