//! Producing through librdkafka topic handles, the one `unsafe` module.
//!
//! rust-rdkafka's `send` passes each record's topic by name
//! (`rd_kafka_producev` with `RD_KAFKA_VTYPE_TOPIC`). librdkafka then takes
//! the client's write lock and walks the list of every topic the client
//! knows, comparing names, for each record. For a source writing to 500
//! topics that walk was 16% of the process's CPU (`perf`,
//! `scripts/bench.sh scaling`: `memcmp` and `rd_kafka_topic_find_fl`), and the
//! write lock woke librdkafka's broker threads. rust-rdkafka has no API that
//! produces through a topic handle, so this module keeps one handle
//! (`rd_kafka_topic_new`) per topic and produces with `rd_kafka_produce`.
//!
//! Safety rests on three facts, each checked where the `unsafe` is:
//! - [`TopicHandles`] owns a reference to its client (a producer clone, an
//!   `Arc`), creates every handle from that client and uses it with no other,
//!   and destroys its handles before it lets the client go (field order), so
//!   no handle outlives `rd_kafka_destroy`;
//! - librdkafka's topic handles and `rd_kafka_produce` are thread-safe;
//! - `rd_kafka_produce` copies the key before it returns, and the value too
//!   with `RD_KAFKA_MSG_F_COPY`; the delivery opaque is a plain integer, as
//!   rust-rdkafka's `IntoOpaque for usize` has it, so its delivery callback
//!   reads it back the same way as for records sent by name.
//!
//! [`TopicHandles::produce_owned`] hands a value's buffer to librdkafka
//! instead (`RD_KAFKA_MSG_F_FREE`: it calls `free(3)` on it once delivered
//! or purged), which saves a copy of every message a source writes (a
//! Debezium-envelope row is about 3 KB). That rests on a fourth fact: the
//! buffer comes from `malloc`. The crate's global allocator is
//! [`std::alloc::System`] (declared in `lib.rs`), which allocates with
//! `malloc`/`realloc` on Unix (`posix_memalign` for over-aligned layouts, also
//! released by `free`); a `Vec<u8>` with capacity holds such a block.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::ptr::NonNull;

use rdkafka::bindings as rd;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::Producer;

/// `RD_KAFKA_PARTITION_UA`, a C macro bindgen leaves out: the partitioner picks.
const PARTITION_UA: i32 = -1;

/// Past this many topics the handles are all released and fetched anew, so
/// a pipeline writing to ever new topics holds no unbounded set of them.
const MAX_HANDLES: usize = 10_000;

/// One `rd_kafka_topic_t` application reference.
struct Handle(NonNull<rd::rd_kafka_topic_t>);

// SAFETY: librdkafka topic handles may be used and destroyed from any thread.
unsafe impl Send for Handle {}
// SAFETY: as above; `rd_kafka_produce` takes the handle's own locks.
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `rd_kafka_topic_new` and this is its
        // only release; the client is still alive (see the module text).
        unsafe { rd::rd_kafka_topic_destroy(self.0.as_ptr()) }
    }
}

/// Topic handles of one client, by topic name, with that client.
pub(crate) struct TopicHandles<P> {
    by_name: HashMap<Box<str>, Handle, foldhash::fast::RandomState>,
    /// The topic of the previous record (records come in runs per table).
    last: Option<(Box<str>, NonNull<rd::rd_kafka_topic_t>)>,
    /// The client. Declared after the handles: fields drop in order, so the
    /// handles are destroyed while the client is still alive.
    client: P,
}

// SAFETY: `last` is a copy of a handle `by_name` owns; see `Handle`. `P` is
// required to be `Send`/`Sync` itself.
unsafe impl<P: Send> Send for TopicHandles<P> {}
// SAFETY: as above; every method that touches a handle takes `&mut self`.
unsafe impl<P: Sync> Sync for TopicHandles<P> {}

impl<P> TopicHandles<P> {
    /// No handles yet, for the client `client` (a producer or a clone of one).
    pub(crate) fn new(client: P) -> Self {
        TopicHandles {
            by_name: HashMap::default(),
            last: None,
            client,
        }
    }

    /// The client the handles belong to.
    #[cfg(test)]
    fn client(&self) -> &P {
        &self.client
    }

    /// Queues one record for `topic` on the client, partitioned by its key;
    /// the key and value are copied. The error is librdkafka's, as
    /// rust-rdkafka's `send` reports it (`QueueFull` when its queue is full).
    pub(crate) fn produce<C: rdkafka::producer::ProducerContext>(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        opaque: usize,
    ) -> Result<(), RDKafkaErrorCode>
    where
        P: Producer<C>,
    {
        let (value_ptr, value_len) = value.map_or((std::ptr::null_mut(), 0), |v| {
            (v.as_ptr().cast::<c_void>().cast_mut(), v.len())
        });
        // SAFETY: the value is valid for its length and copied
        // (`RD_KAFKA_MSG_F_COPY`) before the call returns.
        unsafe {
            self.queue(
                topic,
                key,
                value_ptr,
                value_len,
                rd::RD_KAFKA_MSG_F_COPY,
                opaque,
            )
        }
    }

    /// As [`TopicHandles::produce`], but librdkafka takes the value's buffer
    /// (no copy) and frees it once the record is delivered or purged. On an
    /// error the buffer is handed back, unchanged, for a retry. An empty
    /// value is copied (a buffer without capacity is no allocation).
    pub(crate) fn produce_owned<C: rdkafka::producer::ProducerContext>(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        mut value: Vec<u8>,
        opaque: usize,
    ) -> Result<(), (RDKafkaErrorCode, Vec<u8>)>
    where
        P: Producer<C>,
    {
        if value.capacity() == 0 {
            return match self.produce(topic, key, Some(&[]), opaque) {
                Ok(()) => Ok(()),
                Err(code) => Err((code, value)),
            };
        }
        let (ptr, len) = (value.as_mut_ptr().cast::<c_void>(), value.len());
        // SAFETY: `ptr` is the start of a block
        // `malloc` returned (module text: the global allocator is `System`;
        // capacity > 0, so the `Vec` holds a real allocation), valid for
        // `len` bytes. With `RD_KAFKA_MSG_F_FREE` librdkafka owns it once the
        // call succeeds and `free(3)`s it when done; on failure it has not
        // taken it (rdkafka.h, `rd_kafka_produce`: "If the function returns
        // -1 and RD_KAFKA_MSG_F_FREE was specified, then the memory
        // associated with the payload is still the caller's responsibility").
        match unsafe { self.queue(topic, key, ptr, len, rd::RD_KAFKA_MSG_F_FREE, opaque) } {
            Ok(()) => {
                // librdkafka frees it: this side must not.
                std::mem::forget(value);
                Ok(())
            }
            Err(code) => Err((code, value)),
        }
    }

    /// `rd_kafka_produce` of one record to `topic`'s handle: the value by
    /// `flags`, the key copied, the partitioner's partition.
    ///
    /// # Safety
    /// `value_ptr` must be null (with `value_len` 0) or valid for
    /// `value_len` bytes, and fit `flags`: with `RD_KAFKA_MSG_F_COPY` any
    /// readable memory; with `RD_KAFKA_MSG_F_FREE` a block from `malloc`
    /// that nothing else frees or uses once the call succeeds.
    unsafe fn queue<C: rdkafka::producer::ProducerContext>(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value_ptr: *mut c_void,
        value_len: usize,
        flags: i32,
        opaque: usize,
    ) -> Result<(), RDKafkaErrorCode>
    where
        P: Producer<C>,
    {
        let rkt = self.handle(topic)?;
        let (key_ptr, key_len) = key.map_or((std::ptr::null(), 0), |k| {
            (k.as_ptr().cast::<c_void>(), k.len())
        });
        // SAFETY: `rkt` is a live handle of `self.client`; the key is valid
        // for its length and copied before the call returns (librdkafka
        // always copies keys); the value is as this function's contract
        // requires for `flags`;
        // the opaque is an integer, never read as a pointer (rust-rdkafka's
        // `IntoOpaque for usize`).
        let rc = unsafe {
            rd::rd_kafka_produce(
                rkt.as_ptr(),
                PARTITION_UA,
                flags,
                value_ptr,
                value_len,
                key_ptr,
                key_len,
                opaque as *mut c_void,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            // SAFETY: reads this thread's last librdkafka error, which the
            // failed call just set.
            Err(unsafe { rd::rd_kafka_last_error() }.into())
        }
    }

    /// The handle of `topic`, created on first use.
    fn handle<C: rdkafka::producer::ProducerContext>(
        &mut self,
        topic: &str,
    ) -> Result<NonNull<rd::rd_kafka_topic_t>, RDKafkaErrorCode>
    where
        P: Producer<C>,
    {
        if let Some((name, rkt)) = &self.last {
            if **name == *topic {
                return Ok(*rkt);
            }
        }
        let rkt = match self.by_name.get(topic) {
            Some(h) => h.0,
            None => {
                if self.by_name.len() >= MAX_HANDLES {
                    self.last = None;
                    self.by_name.clear();
                }
                let name = CString::new(topic).map_err(|_| RDKafkaErrorCode::InvalidTopic)?;
                // SAFETY: the client pointer is live (`self.client` holds
                // it); `name` is a valid C string; a null
                // configuration means the client's default topic
                // configuration, the one records sent by name get.
                let raw = unsafe {
                    rd::rd_kafka_topic_new(
                        self.client.client().native_ptr(),
                        name.as_ptr(),
                        std::ptr::null_mut(),
                    )
                };
                let Some(rkt) = NonNull::new(raw) else {
                    // SAFETY: as in `produce`.
                    return Err(unsafe { rd::rd_kafka_last_error() }.into());
                };
                self.by_name.insert(topic.into(), Handle(rkt));
                rkt
            }
        };
        self.last = Some((topic.into(), rkt));
        Ok(rkt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::Message;
    use rdkafka::producer::{BaseProducer, DeliveryResult, ProducerContext};
    use rdkafka::{ClientConfig, ClientContext};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// A delivery report: (opaque, topic, key, value).
    type Report = (usize, String, Option<Vec<u8>>, Option<Vec<u8>>);

    /// Keeps each delivery report.
    #[derive(Default)]
    struct Reports(Mutex<Vec<Report>>);
    impl ClientContext for Reports {}
    impl ProducerContext for Reports {
        type DeliveryOpaque = usize;
        fn delivery(&self, r: &DeliveryResult<'_>, opaque: usize) {
            let m = match r {
                Ok(m) => m,
                Err((_, m)) => m,
            };
            let entry = (
                opaque,
                m.topic().to_string(),
                m.key().map(<[u8]>::to_vec),
                m.payload().map(<[u8]>::to_vec),
            );
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(entry);
        }
    }

    /// A client with no broker to reach: each record comes back as a
    /// delivery report (timed out) after 100 ms, with its opaque.
    fn client(extra: &[(&str, &str)]) -> BaseProducer<Reports> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", "127.0.0.1:1")
            .set("message.timeout.ms", "100");
        for (k, v) in extra {
            c.set(*k, *v);
        }
        c.create_with_context(Reports::default()).expect("client")
    }

    /// Polls until `n` reports are in (or 10 s passed); returns them by opaque.
    fn reports(p: &BaseProducer<Reports>, n: usize) -> Vec<Report> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            p.poll(Duration::from_millis(20));
            let mut got = p
                .context()
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if got.len() >= n || Instant::now() > deadline {
                got.sort_by_key(|r| r.0);
                return got;
            }
        }
    }

    #[test]
    fn records_go_through_one_handle_per_topic_with_their_opaque() {
        let mut h = TopicHandles::new(client(&[]));
        for (i, topic) in ["a", "b", "a", "a", "c", "b"].into_iter().enumerate() {
            let key = format!("k{i}");
            h.produce(topic, Some(key.as_bytes()), Some(b"v"), i)
                .expect("queued");
        }
        h.produce("a", None, None, 6)
            .expect("a tombstone without key queues too");
        let mut names: Vec<&str> = h.by_name.keys().map(|k| &**k).collect();
        names.sort_unstable();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(h.last.as_ref().map(|(n, _)| &**n), Some("a"));
        let got = reports(h.client(), 7);
        let topics: Vec<&str> = got.iter().map(|r| r.1.as_str()).collect();
        assert_eq!(topics, ["a", "b", "a", "a", "c", "b", "a"]);
        assert_eq!(got[4].2.as_deref(), Some(&b"k4"[..]));
        assert_eq!(got[4].3.as_deref(), Some(&b"v"[..]));
        assert_eq!((got[6].2.as_deref(), got[6].3.as_deref()), (None, None));
    }

    #[test]
    fn a_topic_librdkafka_refuses_is_an_error_not_a_record() {
        let mut h = TopicHandles::new(client(&[]));
        let nul = h.produce("a\0b", None, Some(b"v"), 0);
        assert_eq!(nul, Err(RDKafkaErrorCode::InvalidTopic));
        let long = "t".repeat(600);
        let too_long = h.produce(&long, None, Some(b"v"), 1);
        assert_eq!(too_long, Err(RDKafkaErrorCode::InvalidArgument));
        assert!(h.by_name.is_empty());
        h.produce("ok", None, Some(b"v"), 2).expect("queued");
        let got = reports(h.client(), 1);
        assert_eq!(
            got.iter().map(|r| r.0).collect::<Vec<_>>(),
            [2],
            "only the good record"
        );
    }

    #[test]
    fn owned_values_are_delivered_and_handed_back_when_refused() {
        let mut h = TopicHandles::new(client(&[("queue.buffering.max.messages", "3")]));
        // Capacity beyond the length: librdkafka frees the block as it is.
        let mut big = Vec::with_capacity(8192);
        big.extend_from_slice(&[7u8; 3000]);
        h.produce_owned("a", Some(b"k0"), big, 0).expect("queued");
        h.produce_owned("b", None, b"small".to_vec(), 1)
            .expect("queued");
        h.produce_owned("a", Some(b"k2"), Vec::new(), 2)
            .expect("an empty value is copied");
        // Refused: the same buffer comes back, for a retry.
        let (code, back) = h
            .produce_owned("a", None, b"again".to_vec(), 3)
            .expect_err("the queue holds three");
        assert_eq!(
            (code, back.as_slice()),
            (RDKafkaErrorCode::QueueFull, &b"again"[..])
        );
        let (code, back) = h
            .produce_owned("a\0b", None, b"named".to_vec(), 4)
            .expect_err("no such topic name");
        assert_eq!(
            (code, back.as_slice()),
            (RDKafkaErrorCode::InvalidTopic, &b"named"[..])
        );
        let got = reports(h.client(), 3);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].1, "a");
        assert_eq!(got[0].2.as_deref(), Some(&b"k0"[..]));
        assert_eq!(got[0].3.as_deref(), Some(&[7u8; 3000][..]));
        assert_eq!(
            (got[1].1.as_str(), got[1].3.as_deref()),
            ("b", Some(&b"small"[..]))
        );
        assert_eq!(got[2].3.as_deref(), Some(&b""[..]), "empty, not null");
    }

    #[test]
    fn a_full_local_queue_is_reported_as_queue_full() {
        let mut h = TopicHandles::new(client(&[("queue.buffering.max.messages", "2")]));
        for i in 0..2 {
            h.produce("a", None, Some(b"v"), i).expect("room for two");
        }
        assert_eq!(
            h.produce("a", None, Some(b"v"), 2),
            Err(RDKafkaErrorCode::QueueFull)
        );
    }
}
