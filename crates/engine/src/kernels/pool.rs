//! The threads a quantized matmul is split over. Work comes in chunks claimed from a shared
//! counter by the calling thread and by helpers, so a helper that is slow to wake (or not
//! scheduled, on a busy machine) only means the caller takes more chunks, never that it
//! waits. A helper polls for a short while after each call (the next matmul of a forward
//! pass usually follows within microseconds) and then parks, so an idle engine costs no CPU.
//! rayon's global pool would do the splitting, but the forward pass calls from outside it:
//! there every `par_iter` puts the caller to sleep and wakes it again, twice per matmul.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long a helper keeps polling for the next call before it parks.
const SPIN: Duration = Duration::from_micros(100);

type Task<'a> = dyn Fn(usize) + Sync + 'a;

struct Shared {
    /// Bumped once per call.
    generation: AtomicUsize,
    /// The generation whose chunks are all done: nothing to join while `closed == generation`.
    closed: AtomicUsize,
    /// Helpers inside a call; the caller returns only when this is 0.
    active: AtomicUsize,
    /// The current call's closure (a `*const &Task`) and its chunk counter.
    task: AtomicPtr<()>,
    chunks: AtomicUsize,
    next: AtomicUsize,
    panicked: AtomicBool,
}

pub(crate) struct Pool {
    shared: Arc<Shared>,
    helpers: Vec<Thread>,
    /// One call at a time; a concurrent caller runs its chunks itself.
    busy: Mutex<()>,
}

thread_local! {
    static IS_HELPER: Cell<bool> = const { Cell::new(false) };
}

impl Pool {
    /// The pool, sized like rayon's global pool (which `init_threads` sizes) on first use.
    pub(crate) fn get() -> &'static Pool {
        static POOL: OnceLock<Pool> = OnceLock::new();
        POOL.get_or_init(|| Pool::new(rayon::current_num_threads()))
    }

    fn new(threads: usize) -> Pool {
        let shared = Arc::new(Shared {
            generation: AtomicUsize::new(0),
            closed: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            task: AtomicPtr::new(std::ptr::null_mut()),
            chunks: AtomicUsize::new(0),
            next: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
        });
        let helpers = (1..threads.max(1))
            .filter_map(|id| {
                let s = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("tradeoff-mm-{id}"))
                    .spawn(move || helper(&s))
                    .ok()
                    .map(|h| h.thread().clone())
            })
            .collect();
        Pool {
            shared,
            helpers,
            busy: Mutex::new(()),
        }
    }

    /// Threads a call can use, the caller's included.
    pub(crate) fn threads(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Runs `f(c)` for every chunk `c` in `0..chunks` and returns when all are done.
    pub(crate) fn run(&self, chunks: usize, f: &Task<'_>) {
        let inline = || (0..chunks).for_each(f);
        if self.helpers.is_empty() || IS_HELPER.with(Cell::get) {
            return inline();
        }
        let Ok(_guard) = self.busy.try_lock() else {
            return inline();
        };
        let s = &*self.shared;
        s.task.store(&f as *const &Task<'_> as *mut (), Relaxed);
        s.chunks.store(chunks, Relaxed);
        s.next.store(0, Relaxed);
        let g = s.generation.fetch_add(1, SeqCst) + 1;
        for h in &self.helpers {
            h.unpark();
        }
        claim(s, f);
        s.closed.store(g, SeqCst);
        let mut spins = 0u32;
        while s.active.load(SeqCst) != 0 {
            spins += 1;
            if spins < 1 << 12 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        if s.panicked.swap(false, Relaxed) {
            panic!("a matmul helper thread panicked");
        }
    }
}

fn claim(s: &Shared, f: &Task<'_>) {
    let n = s.chunks.load(Relaxed);
    loop {
        let c = s.next.fetch_add(1, Relaxed);
        if c >= n {
            return;
        }
        f(c);
    }
}

fn helper(s: &Shared) {
    IS_HELPER.with(|h| h.set(true));
    let mut seen = 0usize;
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        while s.generation.load(Acquire) == seen {
            spins += 1;
            // Reading the clock every round would cost more than the polling.
            if spins.is_multiple_of(64) && start.elapsed() > SPIN {
                // A wake-up between the check and park() makes park() return at once.
                std::thread::park();
            } else {
                std::hint::spin_loop();
            }
        }
        s.active.fetch_add(1, SeqCst);
        let g = s.generation.load(SeqCst);
        seen = g;
        // The caller closes a call before waiting for `active`: seen closed here, it may
        // already have returned and the closure be gone; seen open, it waits for us.
        if s.closed.load(SeqCst) != g {
            // SAFETY: call `g` is open and cannot finish while `active` counts this helper,
            // so its closure (stored before the generation was bumped) is alive.
            let f = unsafe { *(s.task.load(Relaxed) as *const &Task<'_>) };
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| claim(s, f))).is_err() {
                s.panicked.store(true, Relaxed);
            }
        }
        s.active.fetch_sub(1, SeqCst);
    }
}
