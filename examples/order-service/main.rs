//! The seed's order-service, with Sluice as its history.
//!
//! `POST /order-service/{userId}/orders` with `{"productId","qty","unitPrice"}`
//! writes the order to a Kafka topic in Kafka Connect JSON (schema + payload,
//! key = the order id as a Connect struct) and answers with the order, its
//! `orderId` (a random UUID), `totalPrice` and `createdAt`.
//! `GET /order-service/{userId}/orders` reads the user's orders from the one
//! MariaDB table that a Sluice sink (`examples/order-service/sluice.toml`,
//! upsert on `order_id`) fills from that topic — so every instance, however
//! many run, returns the same full history, in `createdAt` order.
//!
//! ```sh
//! cargo run --example order-service -- --listen 127.0.0.1:8081 \
//!     --kafka 127.0.0.1:9092 --db-url mysql://root@127.0.0.1:3306/orders
//! ```
//!
//! Prices are exact: `unitPrice` is rounded to cents and sent as a Connect
//! `Decimal` with scale 2, which the sink stores as `DECIMAL(65,2)`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use clap::Parser;
use mysql_async::prelude::Queryable;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(about = "The seed's order API: orders to Kafka, history from Sluice's table")]
struct Args {
    /// Address to serve the API on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: String,
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    kafka: String,
    /// Topic orders are written to (the sink's `topics`).
    #[arg(long, default_value = "orders")]
    topic: String,
    /// The database the Sluice sink fills.
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306/orders")]
    db_url: String,
    /// The sink's table (`table_name_format`).
    #[arg(long, default_value = "orders")]
    table: String,
}

struct Service {
    producer: FutureProducer,
    pool: mysql_async::Pool,
    topic: String,
    table: String,
}

/// The body of `POST .../orders`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewOrder {
    product_id: String,
    qty: i32,
    unit_price: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.kafka)
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "0")
        .create()
        .context("creating the Kafka producer")?;
    let opts = mysql_async::Opts::from_url(&args.db_url).context("--db-url")?;
    // The sink writes Timestamps as UTC wall time.
    let opts = mysql_async::OptsBuilder::from_opts(opts).init(vec!["SET time_zone = '+00:00'"]);
    let service = Arc::new(Service {
        producer,
        pool: mysql_async::Pool::new(opts),
        topic: args.topic,
        table: args.table,
    });
    let app = Router::new()
        .route(
            "/order-service/{user_id}/orders",
            get(list_orders).post(create_order),
        )
        .with_state(service);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    eprintln!("order-service listening on {}", args.listen);
    axum::serve(listener, app).await.context("serving")?;
    Ok(())
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

async fn create_order(
    State(s): State<Arc<Service>>,
    Path(user_id): Path<String>,
    Json(order): Json<NewOrder>,
) -> Response {
    if order.qty <= 0 || !order.unit_price.is_finite() || order.unit_price < 0.0 {
        return error(
            StatusCode::BAD_REQUEST,
            "qty must be positive and unitPrice a non-negative number",
        );
    }
    let unit_cents = (order.unit_price * 100.0).round() as i64;
    let Some(total_cents) = unit_cents.checked_mul(i64::from(order.qty)) else {
        return error(StatusCode::BAD_REQUEST, "totalPrice overflows");
    };
    let order_id = uuid_v4();
    let created_at = chrono::Utc::now().timestamp_millis();
    let key = json!({
        "schema": {"type": "struct", "optional": false, "name": "order_key",
                   "fields": [{"type": "string", "optional": false, "field": "order_id"}]},
        "payload": {"order_id": order_id},
    });
    let decimal = |field: &str| {
        json!({"type": "bytes", "optional": false, "name": "org.apache.kafka.connect.data.Decimal",
               "version": 1, "parameters": {"scale": "2"}, "field": field})
    };
    let value = json!({
        "schema": {"type": "struct", "optional": false, "name": "order", "fields": [
            {"type": "string", "optional": false, "field": "order_id"},
            {"type": "string", "optional": false, "field": "user_id"},
            {"type": "string", "optional": false, "field": "product_id"},
            {"type": "int32", "optional": false, "field": "qty"},
            decimal("unit_price"),
            decimal("total_price"),
            {"type": "int64", "optional": false, "name": "org.apache.kafka.connect.data.Timestamp",
             "version": 1, "field": "created_at"},
        ]},
        "payload": {
            "order_id": order_id, "user_id": user_id, "product_id": order.product_id,
            "qty": order.qty, "unit_price": connect_decimal(unit_cents),
            "total_price": connect_decimal(total_cents), "created_at": created_at,
        },
    });
    let (key, value) = (key.to_string(), value.to_string());
    let record = FutureRecord::to(&s.topic).key(&key).payload(&value);
    if let Err((e, _)) = s.producer.send(record, Duration::from_secs(10)).await {
        return error(StatusCode::SERVICE_UNAVAILABLE, format!("kafka: {e}"));
    }
    let body = order_json(
        &order_id,
        &user_id,
        &order.product_id,
        order.qty,
        unit_cents,
        total_cents,
        created_at,
    );
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn list_orders(State(s): State<Arc<Service>>, Path(user_id): Path<String>) -> Response {
    let sql = format!(
        "SELECT order_id, user_id, product_id, qty, CAST(unit_price * 100 AS SIGNED), \
         CAST(total_price * 100 AS SIGNED), CAST(UNIX_TIMESTAMP(created_at) * 1000 AS SIGNED) \
         FROM `{}` WHERE user_id = ? ORDER BY created_at, order_id",
        s.table.replace('`', "``")
    );
    type Row = (String, String, String, i32, i64, i64, i64);
    let rows: Result<Vec<Row>, mysql_async::Error> = async {
        let mut conn = s.pool.get_conn().await?;
        conn.exec(sql, (&user_id,)).await
    }
    .await;
    match rows {
        Ok(rows) => Json(
            rows.iter()
                .map(|(o, u, p, q, unit, total, at)| order_json(o, u, p, *q, *unit, *total, *at))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        // No order was ever applied: the sink has not created the table yet.
        Err(mysql_async::Error::Server(e)) if e.code == 1146 => Json(json!([])).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}")),
    }
}

fn order_json(
    order_id: &str,
    user_id: &str,
    product_id: &str,
    qty: i32,
    unit_cents: i64,
    total_cents: i64,
    created_at_ms: i64,
) -> Value {
    let created = chrono::DateTime::from_timestamp_millis(created_at_ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default();
    json!({
        "orderId": order_id, "userId": user_id, "productId": product_id, "qty": qty,
        "unitPrice": unit_cents as f64 / 100.0, "totalPrice": total_cents as f64 / 100.0,
        "createdAt": created,
    })
}

/// A Connect Decimal's JSON form: base64 of the big-endian two's-complement
/// unscaled value in as few bytes as keep the sign.
fn connect_decimal(unscaled: i64) -> String {
    let bytes = unscaled.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    base64::engine::general_purpose::STANDARD.encode(&bytes[start..])
}

/// A random (version 4) UUID.
fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_minimal_twos_complement() {
        assert_eq!(connect_decimal(0), "AA==");
        assert_eq!(connect_decimal(1250), "BOI="); // 0x04E2
        assert_eq!(connect_decimal(128), "AIA="); // needs the sign byte
        assert_eq!(connect_decimal(-1), "/w==");
    }

    #[test]
    fn uuids_are_version_4() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]));
    }
}
