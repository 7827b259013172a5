//! The producer baseline of `scripts/bench.sh scaling`: replay messages a
//! source wrote through the producer Sluice's sources use
//! (`PipelineProducer`: the same librdkafka settings, topic handles, byte
//! bound and transactions), without reading a binlog or encoding anything.
//!
//! ```text
//! kafka_replay CONFIG MESSAGES TXN_ROWS OFFSETS_TOPIC
//! ```
//!
//! CONFIG is a Sluice config file: its `[kafka]` table is used, and its
//! first `[[source]]`'s `max_batch_rows` and `max_batch_bytes`. MESSAGES
//! holds one message a line, `TIMESTAMP<TAB>TOPIC<TAB>KEY<TAB>VALUE` (what
//! `kcat -C -f '%T\t%t\t%k\t%s\n'` prints; the timestamp is ignored, the
//! lines are replayed in file order). The messages are taken as source
//! transactions of TXN_ROWS, grouped into batches as a binlog source groups
//! them: whole transactions while the batch is under both bounds. A batch
//! ends with one record to OFFSETS_TOPIC and the Kafka transaction's commit.
//!
//! Prints `rows=N seconds=S ticks=T`: T is the process's user + system CPU
//! in clock ticks from before the producer is created (its
//! `init_transactions` included, as a source's start-up is) until the last
//! commit; reading MESSAGES is not counted.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use sluice::config::Config;
use sluice::kafka::producer::PipelineProducer;

type Message = (Arc<str>, Vec<u8>, Vec<u8>);

/// The process's user + system CPU time in clock ticks (`/proc/self/stat`).
fn cpu_ticks() -> Result<u64, Box<dyn std::error::Error>> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name, which is in parentheses: state is the
    // first, utime the 12th and stime the 13th.
    let rest = stat.rsplit_once(')').ok_or("no ')' in /proc/self/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).ok_or("no utime")?.parse()?;
    let stime: u64 = fields.get(12).ok_or("no stime")?.parse()?;
    Ok(utime + stime)
}

fn read_messages(path: &str) -> Result<Vec<Message>, Box<dyn std::error::Error>> {
    let text = std::fs::read(path)?;
    let mut topics: HashMap<Vec<u8>, Arc<str>> = HashMap::new();
    let mut out = Vec::new();
    for (n, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let mut parts = line.splitn(4, |b| *b == b'\t');
        let (Some(_ts), Some(topic), Some(key), Some(value)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("{path}:{}: want 4 tab-separated fields", n + 1).into());
        };
        let topic = match topics.get(topic) {
            Some(t) => Arc::clone(t),
            None => {
                let t: Arc<str> = std::str::from_utf8(topic)?.into();
                topics.insert(topic.to_vec(), Arc::clone(&t));
                t
            }
        };
        out.push((topic, key.to_vec(), value.to_vec()));
    }
    Ok(out)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, config, messages, txn_rows, offsets_topic] = args.as_slice() else {
        return Err("usage: kafka_replay CONFIG MESSAGES TXN_ROWS OFFSETS_TOPIC".into());
    };
    let txn_rows: usize = txn_rows.parse()?;
    if txn_rows == 0 {
        return Err("TXN_ROWS must be at least 1".into());
    }
    let config = Config::load(Path::new(config))?;
    let source = config.source.first().ok_or("CONFIG has no [[source]]")?;
    let (max_rows, max_bytes) = (source.max_batch_rows, source.max_batch_bytes);
    let messages = read_messages(messages)?;
    let rows = messages.len();

    let ticks = cpu_ticks()?;
    let started = Instant::now();
    let txn_id = format!("kafka-replay-{}", std::process::id());
    let mut producer = PipelineProducer::connect(&config.kafka, "replay", Some(txn_id)).await?;
    let (mut in_batch, mut batch_bytes, mut batches) = (0u64, 0u64, 0u64);
    let last = rows.saturating_sub(1);
    for (n, (topic, key, value)) in messages.into_iter().enumerate() {
        if in_batch == 0 {
            producer.begin()?;
        }
        batch_bytes += (key.len() + value.len()) as u64;
        let key = (!key.is_empty()).then_some(key.as_slice());
        producer.send_owned(&topic, key, value).await?;
        in_batch += 1;
        let txn_end = (n + 1) % txn_rows == 0 || n == last;
        if txn_end && (in_batch >= max_rows || batch_bytes >= max_bytes || n == last) {
            batches += 1;
            let offset = format!("{{\"batch\":{batches}}}");
            producer
                .send(
                    offsets_topic,
                    Some(b"replay"),
                    Some(offset.as_bytes()),
                    None,
                )
                .await?;
            producer.commit().await?;
            (in_batch, batch_bytes) = (0, 0);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let ticks = cpu_ticks()? - ticks;
    println!("rows={rows} seconds={secs:.3} ticks={ticks}");
    Ok(())
}
