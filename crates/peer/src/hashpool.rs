//! argon2 work on a small fixed pool of threads.
//!
//! Each argon2id hash takes 19 MiB of memory and tens of milliseconds of a
//! core. Run on as many threads as there are login attempts, 200 parallel
//! attempts took 3.8 GB; here at most [`HASH_THREADS`] hashes run at once,
//! always on the same threads (so the allocator keeps at most that many
//! buffers), and at most [`HASH_QUEUE`] more wait. Beyond that an attempt is
//! refused with [`Error::HashBusy`] instead of queueing without end.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};

/// Threads that compute password hashes, process-wide.
pub const HASH_THREADS: usize = 2;
/// Hashes that may wait for a thread; more are refused.
pub const HASH_QUEUE: usize = 16;

type Job = Box<dyn FnOnce() + Send>;

fn pool() -> &'static SyncSender<Job> {
    static POOL: OnceLock<SyncSender<Job>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = sync_channel::<Job>(HASH_QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..HASH_THREADS {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("ldm-argon2-{i}"))
                .spawn(move || worker(&rx));
            if let Err(e) = spawned {
                tracing::error!("cannot start a password hashing thread: {e}");
            }
        }
        tx
    })
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let guard = rx.lock().unwrap_or_else(|p| p.into_inner());
            guard.recv()
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Runs `f` on the pool and waits for its result.
async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    match pool().try_send(job) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
            return Err(Error::HashBusy)
        }
    }
    rx.await.map_err(|_| Error::HashBusy)
}

/// [`crate::verify_password`] on the pool.
pub async fn verify_password_pooled(password: String, phc: String) -> Result<bool> {
    run(move || crate::password::verify_password_reusing(&password, &phc)).await
}

/// [`crate::hash_password`] on the pool.
pub async fn hash_password_pooled(password: String) -> Result<String> {
    run(move || crate::password::hash_password_reusing(&password)).await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_and_verifies_on_the_pool() {
        let phc = hash_password_pooled("pw".into()).await.unwrap();
        assert!(verify_password_pooled("pw".into(), phc.clone())
            .await
            .unwrap());
        assert!(!verify_password_pooled("px".into(), phc).await.unwrap());
    }

    #[tokio::test]
    async fn a_flood_is_partly_refused_and_never_runs_more_than_the_pool() {
        let phc = crate::hash_password("pw").unwrap();
        let attempts: Vec<_> = (0..HASH_THREADS + HASH_QUEUE + 20)
            .map(|_| tokio::spawn(verify_password_pooled("nope".into(), phc.clone())))
            .collect();
        let mut busy = 0;
        let mut done = 0;
        for a in attempts {
            match a.await.unwrap() {
                Ok(false) => done += 1,
                Err(Error::HashBusy) => busy += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(busy >= 20 - HASH_THREADS, "busy {busy}, done {done}");
        assert!(done >= HASH_QUEUE, "busy {busy}, done {done}");
        // The pool recovers.
        assert!(verify_password_pooled("pw".into(), phc).await.unwrap());
    }
}
