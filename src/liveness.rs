//! What "alive" means for a pipeline, and what it is waiting for.
//!
//! **Alive.** A pipeline is alive while its task keeps being scheduled and
//! none of its waits outlives its bound. Every wait on a peer has a bound of
//! its own that ends the run with a transient error (the supervisor then
//! restarts that pipeline alone): a binlog connection silent for three
//! heartbeat periods, a sink transaction past `statement_timeout_ms`, a
//! connect past [`CONNECT_TIMEOUT`]. The systemd watchdog (`daemon::notify`)
//! is the last resort behind those bounds, for a task stuck where no bound
//! reaches (a blocking call, a wedged runtime).
//!
//! A task is scheduled for many reasons, and its own timers are among them:
//! a binlog source wakes every heartbeat period whether or not the server
//! speaks. So the wrapper that beats on every poll (`app::with_heartbeat`,
//! through [`Liveness::polled`]) is silenced while the pipeline marks a
//! *peer-paced* wait ([`peer_paced`]): then only [`progress`] (something
//! arrived from the peer) counts as a beat.
//!
//! **Waiting for.** [`waiting_on`] names what a pipeline waits for (e.g.
//! "applying batch to table t"); the REST status shows it with its age, and
//! a warning is logged every [`WAIT_LOG_EVERY`] while it lasts.

use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Bound on opening a database connection (TCP, TLS, authentication, session setup).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// TCP keepalive idle time on database connections: the kernel probes a
/// connection silent this long, so a peer that vanished is noticed even
/// where no read has a bound of its own.
pub const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// How often a long wait is logged while it lasts.
pub const WAIT_LOG_EVERY: Duration = Duration::from_secs(10);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

#[derive(Debug, Default)]
struct Inner {
    /// Milliseconds since [`epoch`] of the last beat.
    beat: AtomicU64,
    /// Peer-paced waits in progress (poll beats do not count while > 0).
    peer_paced: AtomicU32,
    /// What the pipeline waits for, since when.
    waiting: Mutex<Option<(String, Instant)>>,
}

/// A pipeline's liveness: its last beat and what it waits for. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct Liveness(Arc<Inner>);

impl Liveness {
    /// Records progress now.
    pub fn beat(&self) {
        let ms = u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.beat.store(ms, Ordering::Relaxed);
    }

    /// The task was scheduled: a beat unless a peer-paced wait is in progress.
    pub fn polled(&self) {
        if self.0.peer_paced.load(Ordering::Relaxed) == 0 {
            self.beat();
        }
    }

    /// Time since the last beat.
    pub fn age(&self) -> Duration {
        let now = epoch().elapsed();
        now.saturating_sub(Duration::from_millis(self.0.beat.load(Ordering::Relaxed)))
    }

    /// What the pipeline waits for, and for how long, when it waits.
    pub fn waiting(&self) -> Option<(String, Duration)> {
        let w = self.0.waiting.lock().ok()?;
        w.as_ref()
            .map(|(what, since)| (what.clone(), since.elapsed()))
    }

    fn set_waiting(&self, what: Option<String>) {
        if let Ok(mut w) = self.0.waiting.lock() {
            *w = what.map(|s| (s, Instant::now()));
        }
    }
}

/// "waiting for X for N s", the text the status shows.
pub fn describe_wait(what: &str, waited: Duration) -> String {
    format!("{what} for {} s", waited.as_secs())
}

tokio::task_local! {
    static CURRENT: Liveness;
}

/// The liveness of the pipeline this task runs for, if any.
pub fn current() -> Option<Liveness> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `fut` as a task of the pipeline `live` belongs to.
pub async fn scope<F: Future>(live: Liveness, fut: F) -> F::Output {
    CURRENT.scope(live, fut).await
}

/// Runs `fut` with the current task's liveness (for a task spawned by a pipeline).
pub fn inherit<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    let live = current();
    async move {
        match live {
            Some(l) => CURRENT.scope(l, fut).await,
            None => fut.await,
        }
    }
}

/// Marks a peer-paced wait while the guard lives.
pub struct PeerPaced(Option<Liveness>);

impl Drop for PeerPaced {
    fn drop(&mut self) {
        if let Some(l) = &self.0 {
            l.0.peer_paced.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Starts a peer-paced wait: until the guard drops, only [`progress`] beats.
pub fn peer_paced() -> PeerPaced {
    let live = current();
    if let Some(l) = &live {
        l.0.peer_paced.fetch_add(1, Ordering::Relaxed);
    }
    PeerPaced(live)
}

/// Something arrived from the peer: a beat.
pub fn progress() {
    if let Some(l) = current() {
        l.beat();
    }
}

/// Awaits `fut` while the pipeline's status says it waits for `what`; logs a
/// warning every [`WAIT_LOG_EVERY`] while it lasts.
pub async fn waiting_on<F: Future>(what: String, fut: F) -> F::Output {
    let live = current();
    if let Some(l) = &live {
        l.set_waiting(Some(what.clone()));
    }
    struct Clear(Option<Liveness>);
    impl Drop for Clear {
        fn drop(&mut self) {
            if let Some(l) = &self.0 {
                l.set_waiting(None);
            }
        }
    }
    let _clear = Clear(live);
    let started = Instant::now();
    let mut fut = std::pin::pin!(fut);
    let mut log =
        tokio::time::interval_at(tokio::time::Instant::now() + WAIT_LOG_EVERY, WAIT_LOG_EVERY);
    loop {
        tokio::select! {
            out = &mut fut => return out,
            _ = log.tick() => {
                tracing::warn!(waiting = %describe_wait(&what, started.elapsed()), "still waiting");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn polls_do_not_beat_during_a_peer_paced_wait_but_progress_does() {
        let live = Liveness::default();
        let l = live.clone();
        scope(live.clone(), async move {
            l.0.beat.store(0, Ordering::Relaxed);
            let guard = peer_paced();
            let _ = epoch();
            l.polled();
            let before = l.0.beat.load(Ordering::Relaxed);
            assert_eq!(before, 0, "a poll during a peer-paced wait is no beat");
            drop(guard);
            tokio::time::sleep(Duration::from_millis(2)).await;
            l.polled();
            assert!(l.0.beat.load(Ordering::Relaxed) > 0, "a poll beats again");
        })
        .await;
    }

    #[tokio::test]
    async fn a_wait_is_named_while_it_lasts() {
        let live = Liveness::default();
        let l = live.clone();
        scope(live, async move {
            let seen = waiting_on("applying batch to table t".into(), async {
                l.waiting().map(|(w, _)| w)
            })
            .await;
            assert_eq!(seen.as_deref(), Some("applying batch to table t"));
            assert!(l.waiting().is_none());
        })
        .await;
        assert_eq!(
            describe_wait("applying batch to table t", Duration::from_secs(42)),
            "applying batch to table t for 42 s"
        );
    }
}
