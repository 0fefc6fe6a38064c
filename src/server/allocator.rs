//! The memory allocator of the service's binaries: jemalloc, for Rust and for the C code in the
//! process alike (librdkafka allocates every queued message), giving pages it has not used for a
//! second back to the system from its background thread.
//!
//! With glibc's malloc a burst's freed memory stayed in per-thread arenas: RSS after a million
//! async sends settled at ~130 MB and `malloc_trim` gave back nothing of what librdkafka's
//! threads held. With this: ~80 MB (`docs/performance.md`, "Memory").

pub use tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read when it starts (the `MALLOC_CONF` environment variable, read after,
/// still overrides them): unused pages are returned after 1 s instead of 10, and only blocks up
/// to 4 KB are cached per thread (a streamed batch's 10 KB values otherwise stayed in the caches
/// of every thread that freed them: its peak RSS grew ~1 MB more).
pub const SETTINGS: MallocConf = MallocConf(c"dirty_decay_ms:1000,tcache_max:4096".as_ptr());

/// A C string jemalloc reads at start-up through the `malloc_conf` symbol.
#[repr(transparent)]
pub struct MallocConf(*const std::ffi::c_char);

// SAFETY: it points to a static string that nothing writes.
unsafe impl Sync for MallocConf {}

/// Makes jemalloc, with [`SETTINGS`], the allocator of the binary whose root calls it (the
/// `malloc_conf` symbol must live in the binary itself, where the linker always keeps it).
#[macro_export]
macro_rules! use_jemalloc {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::server::allocator::Jemalloc = $crate::server::allocator::Jemalloc;

        #[export_name = "malloc_conf"]
        static MALLOC_CONF: $crate::server::allocator::MallocConf = $crate::server::allocator::SETTINGS;
    };
}
