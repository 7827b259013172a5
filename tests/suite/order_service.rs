//! The seed's consistency story: two order-service instances
//! (`examples/order-service`) write orders to Kafka, one Sluice sink (the
//! example's own `sluice.toml`) applies them to one MariaDB table, and both
//! instances return the same full history in the same order.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::*;

const T: Duration = Duration::from_secs(90);

/// The built example, built here when a narrower `cargo test` skipped it.
fn example_bin() -> PathBuf {
    let bin = PathBuf::from(sluice_bin())
        .parent()
        .expect("target dir")
        .join("examples/order-service");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "--example", "order-service"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build --example order-service")
            .success();
        assert!(ok, "cargo build --example order-service failed");
    }
    bin
}

/// A running order-service instance, killed on drop.
struct OrderService {
    child: Child,
    port: u16,
}

impl OrderService {
    fn start(topic: &str, db_url: &str, log: &std::path::Path) -> OrderService {
        let port = free_port();
        let log = std::fs::File::create(log).expect("log file");
        let child = Command::new(example_bin())
            .args(["--listen", &format!("127.0.0.1:{port}"), "--kafka", KAFKA])
            .args(["--topic", topic, "--db-url", db_url])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start order-service");
        OrderService { child, port }
    }
}

impl Drop for OrderService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request over a raw socket: (status, body as JSON).
async fn request(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = wait_for("the order-service to listen", T, || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
    })
    .await;
    let body = body.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.expect("read");
    let (head, body) = buf.split_once("\r\n\r\n").expect("http response");
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_return_the_same_full_history() {
    let db = MariaDb::create("orders").await;
    let tag = unique("orders");
    let topic = format!("{tag}_orders");
    let port = free_port();
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/order-service/sluice.toml");
    let config = std::fs::read_to_string(&example)
        .expect("example config")
        .replace("mysql://root@127.0.0.1:3306/orders", &db.url())
        .replace("topics = [\"orders\"]", &format!("topics = [\"{topic}\"]"))
        .replace("name = \"order-history\"", &format!("name = \"{tag}\""))
        .replace("127.0.0.1:8083", &format!("127.0.0.1:{port}"));
    assert!(
        config.contains(&topic) && config.contains(&db.name),
        "{config}"
    );
    let daemon = Daemon::start(&config);
    let dir = scratch("order_service");
    let a = OrderService::start(&topic, &db.url(), &dir.join("a.log"));
    let b = OrderService::start(&topic, &db.url(), &dir.join("b.log"));

    // Six orders for alice, posted alternately to both instances; one for bob.
    let mut posted = Vec::new();
    for i in 0..6 {
        let to = if i % 2 == 0 { a.port } else { b.port };
        let body = json!({"productId": format!("p{i}"), "qty": i + 1, "unitPrice": 2.5});
        let (status, order) = request(to, "POST", "/order-service/alice/orders", Some(&body)).await;
        assert_eq!(status, 201, "{order}");
        assert_eq!(order["userId"], "alice");
        assert_eq!(order["totalPrice"], json!(2.5 * f64::from(i + 1)));
        let id = order["orderId"].as_str().expect("orderId");
        assert_eq!((id.len(), &id[14..15]), (36, "4"), "a v4 UUID: {id}");
        assert!(order["createdAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')));
        posted.push(order);
    }
    let (status, _) = request(
        b.port,
        "POST",
        "/order-service/bob/orders",
        Some(&json!({"productId": "x", "qty": 1, "unitPrice": 9.99})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = request(
        a.port,
        "POST",
        "/order-service/bob/orders",
        Some(&json!({"productId": "x", "qty": 0, "unitPrice": 1})),
    )
    .await;
    assert_eq!(status, 400, "qty 0 is refused");

    // Both instances converge on the same full history, in creation order.
    let history = wait_for("both instances to return all six orders", T, || async {
        let (_, from_a) = request(a.port, "GET", "/order-service/alice/orders", None).await;
        let (_, from_b) = request(b.port, "GET", "/order-service/alice/orders", None).await;
        let full = from_a.as_array().is_some_and(|l| l.len() == 6);
        (full && from_a == from_b).then_some(from_a)
    })
    .await;
    let mut expected = posted.clone();
    expected.sort_by(|x, y| {
        (x["createdAt"].as_str(), x["orderId"].as_str())
            .cmp(&(y["createdAt"].as_str(), y["orderId"].as_str()))
    });
    assert_eq!(
        history,
        Value::Array(expected),
        "the history is the posted orders"
    );
    let bob = wait_for("bob's order", T, || async {
        let (_, list) = request(a.port, "GET", "/order-service/bob/orders", None).await;
        list.as_array()
            .is_some_and(|l| l.len() == 1)
            .then_some(list)
    })
    .await;
    assert_eq!(bob[0]["totalPrice"], json!(9.99));
    drop(daemon);
}
