//! Group commit: callers that each need an item written, durably, before they go on share
//! one write. The first caller to find no write in progress writes everything queued (its
//! own item and whatever came meanwhile); the others wait for the write that carries
//! theirs. N concurrent events cost one lock, one append and one fsync instead of N; N
//! concurrent record replacements share their fsyncs.
//!
//! Pure synchronisation: the write itself is the caller's closure, so this is tested
//! without a filesystem.

use std::sync::{Condvar, Mutex, MutexGuard};

/// What a caller whose batch's write panicked gets instead of a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WritePanicked;

impl std::fmt::Display for WritePanicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the write panicked")
    }
}

impl From<WritePanicked> for String {
    fn from(p: WritePanicked) -> String {
        p.to_string()
    }
}

pub struct GroupCommit<T, E> {
    state: Mutex<State<T, E>>,
    written: Condvar,
}

struct State<T, E> {
    queue: Vec<T>,
    /// Sequence number of the next item queued.
    next: u64,
    /// Items below this number are written (or failed, with `outcomes`).
    done_below: u64,
    writing: bool,
    /// Finished batches whose callers have not all taken their result yet.
    outcomes: Vec<Outcome<E>>,
}

struct Outcome<E> {
    first: u64,
    /// One result per item of the batch, taken by its caller.
    results: Vec<Option<Result<(), E>>>,
    /// Callers of the batch that have not taken theirs yet: it goes when the last one has.
    unread: usize,
}

impl<T, E> std::fmt::Debug for GroupCommit<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl<T, E> Default for GroupCommit<T, E> {
    fn default() -> Self {
        GroupCommit {
            state: Mutex::new(State {
                queue: Vec::new(),
                next: 0,
                done_below: 0,
                writing: false,
                outcomes: Vec::new(),
            }),
            written: Condvar::new(),
        }
    }
}

impl<T, E: From<WritePanicked>> GroupCommit<T, E> {
    /// Queues `item` and returns once a write that holds it has finished: its result.
    /// `write` gets every queued item, in the order they were submitted, and gives back
    /// one result per item, in the same order.
    pub fn submit(&self, item: T, write: impl Fn(&[T]) -> Vec<Result<(), E>>) -> Result<(), E> {
        let mut state = self.lock();
        let mine = state.next;
        state.next += 1;
        state.queue.push(item);
        loop {
            if state.done_below > mine {
                return Self::outcome_of(&mut state, mine);
            }
            if !state.writing {
                // Nobody writes: this caller writes the whole queue.
                let batch = std::mem::take(&mut state.queue);
                let first = state.done_below;
                let end = first + batch.len() as u64;
                state.writing = true;
                drop(state);
                // A write that panics still ends its batch (with an error for every
                // caller in it), so that nobody waits for it forever.
                let written =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(&batch)));
                let (mut results, panic) = match written {
                    Ok(results) => (results, None),
                    Err(panic) => (Vec::new(), Some(panic)),
                };
                assert!(
                    panic.is_some() || results.len() == batch.len(),
                    "a group write gives one result per item"
                );
                results.resize_with(batch.len(), || Err(E::from(WritePanicked)));
                state = self.lock();
                state.writing = false;
                state.done_below = end;
                state.outcomes.push(Outcome {
                    first,
                    unread: batch.len(),
                    results: results.into_iter().map(Some).collect(),
                });
                self.written.notify_all();
                if let Some(panic) = panic {
                    let _ = Self::outcome_of(&mut state, mine);
                    drop(state);
                    std::panic::resume_unwind(panic);
                }
                continue;
            }
            state = self
                .written
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn outcome_of(state: &mut State<T, E>, item: u64) -> Result<(), E> {
        let at = state
            .outcomes
            .iter()
            .position(|o| (o.first..o.first + o.results.len() as u64).contains(&item))
            .expect("a written item's batch is kept until its callers have taken their results");
        let outcome = &mut state.outcomes[at];
        outcome.unread -= 1;
        let result = outcome.results[(item - outcome.first) as usize]
            .take()
            .expect("each item's result is taken once");
        if outcome.unread == 0 {
            state.outcomes.swap_remove(at);
        }
        result
    }

    fn lock(&self) -> MutexGuard<'_, State<T, E>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn concurrent_items_share_writes_and_each_is_written_once_in_order() {
        let commit: Arc<GroupCommit<u32, String>> = Arc::default();
        let log: Arc<Mutex<Vec<Vec<u32>>>> = Arc::default();
        let threads: Vec<_> = (0..16)
            .map(|thread| {
                let (commit, log) = (commit.clone(), log.clone());
                std::thread::spawn(move || {
                    for i in 0..20 {
                        let item = thread * 100 + i;
                        commit
                            .submit(item, |batch| {
                                // A write takes a while: others queue meanwhile.
                                std::thread::sleep(Duration::from_micros(300));
                                log.lock().unwrap().push(batch.to_vec());
                                vec![Ok(()); batch.len()]
                            })
                            .unwrap();
                        // Written before submit returned.
                        assert!(log.lock().unwrap().iter().flatten().any(|w| *w == item));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let batches = log.lock().unwrap().clone();
        let all: Vec<u32> = batches.iter().flatten().copied().collect();
        assert_eq!(all.len(), 16 * 20, "an item was written twice or never");
        for thread in 0..16 {
            let own: Vec<u32> = all.iter().copied().filter(|i| i / 100 == thread).collect();
            assert_eq!(own, (0..20).map(|i| thread * 100 + i).collect::<Vec<_>>());
        }
        assert!(
            batches.len() < all.len(),
            "16 writers never shared a write: {} writes",
            batches.len()
        );
    }

    #[test]
    fn each_caller_gets_the_result_of_the_write_that_carried_its_item() {
        let commit: GroupCommit<&str, String> = GroupCommit::default();
        assert_eq!(
            commit.submit("a", |_| vec![Err("disk full".to_string())]),
            Err("disk full".to_string())
        );
        assert_eq!(commit.submit("b", |_| vec![Ok(())]), Ok(()));
        assert!(commit.lock().outcomes.is_empty(), "read outcomes are kept");
    }

    #[test]
    fn a_write_that_panics_fails_its_batch_and_the_next_write_goes_on() {
        let commit: GroupCommit<&str, String> = GroupCommit::default();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            commit.submit("a", |_| panic!("boom"))
        }));
        assert!(panicked.is_err());
        assert_eq!(commit.submit("b", |_| vec![Ok(())]), Ok(()));
        assert!(commit.lock().outcomes.is_empty());
    }

    #[test]
    fn items_of_one_batch_each_get_their_own_result() {
        let commit: Arc<GroupCommit<&'static str, String>> = Arc::default();
        let batches: Arc<Mutex<Vec<Vec<&'static str>>>> = Arc::default();
        let log = batches.clone();
        let write = move |batch: &[&'static str]| -> Vec<Result<(), String>> {
            log.lock().unwrap().push(batch.to_vec());
            batch
                .iter()
                .map(|item| match *item {
                    "bad" => Err(format!("{item} failed")),
                    _ => Ok(()),
                })
                .collect()
        };
        let first = {
            let (commit, write) = (commit.clone(), write.clone());
            std::thread::spawn(move || {
                commit.submit("first", |batch| {
                    // Held until the two others are queued: they share the next write.
                    while commit.lock().queue.len() < 2 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    write(batch)
                })
            })
        };
        while !commit.lock().writing {
            std::thread::sleep(Duration::from_millis(1));
        }
        let others: Vec<_> = ["good", "bad"]
            .into_iter()
            .map(|item| {
                let (commit, write) = (commit.clone(), write.clone());
                std::thread::spawn(move || (item, commit.submit(item, write)))
            })
            .collect();
        assert_eq!(first.join().unwrap(), Ok(()));
        let mut results: Vec<_> = others.into_iter().map(|t| t.join().unwrap()).collect();
        results.sort();
        assert_eq!(
            results,
            [("bad", Err("bad failed".to_string())), ("good", Ok(()))]
        );
        let batches = batches.lock().unwrap().clone();
        assert_eq!(
            batches.len(),
            2,
            "the two others shared one write: {batches:?}"
        );
        assert!(commit.lock().outcomes.is_empty());
    }
}
