//! The producers' librdkafka threads run at a lower CPU priority than the service's own.
//!
//! librdkafka's idempotent producer, with the seed's `linger.ms=0`, polls its socket with a zero
//! timeout while a partition's in-flight limit is reached and records wait (its broker thread
//! asks to be woken "now" before it applies the limit): on a busy machine that spin took ~0.5
//! core from the HTTP workers and the broker. Niced, it only gets the CPU others leave. A thread
//! inherits the nice value of the thread that creates it, so a client created on a niced thread
//! has all its threads niced (its main thread, its broker threads, those it starts later,
//! rust-rdkafka's polling thread). Linux only: a nice value is per thread there.

/// Runs `create` on a new thread whose nice value is raised by `nice` over the caller's (at most
/// to 19; 0: on this thread, as is).
/// Raising one's own nice value needs no privilege; where it is refused anyway, the client is
/// created at the normal priority and a warning says so. Fails only if no thread can be started
/// (then no Kafka client could start its own either).
pub fn with_nice<T: Send>(nice: u8, create: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    if nice == 0 {
        return Ok(create());
    }
    std::thread::scope(|scope| {
        let niced = std::thread::Builder::new().name("kafka-client-start".into()).spawn_scoped(scope, || {
            lower_this_thread(nice);
            create()
        })?;
        Ok(niced.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

#[cfg(target_os = "linux")]
fn lower_this_thread(nice: u8) {
    // SAFETY: errno is this thread's; nice(2) changes only the calling thread's priority on
    // Linux (glibc's nice is getpriority/setpriority on PRIO_PROCESS 0, a thread there).
    let refused = unsafe {
        *libc::__errno_location() = 0;
        libc::nice(i32::from(nice)) == -1 && *libc::__errno_location() != 0
    };
    if refused {
        let error = std::io::Error::last_os_error();
        tracing::warn!(%error, nice, "could not lower the priority of the Kafka client's threads");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_thread(_nice: u8) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_nice() -> i32 {
        // SAFETY: getpriority only reads (the test runs at nice >= 0, so -1 is never a value).
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[test]
    fn threads_started_by_the_client_inherit_the_nice_value_and_the_caller_keeps_its_own() {
        let before = own_nice();
        let (created_at, child_at) = with_nice(7, || {
            let child = std::thread::spawn(own_nice).join().unwrap_or(-100);
            (own_nice(), child)
        })
        .unwrap();
        let niced = (before + 7).min(19);
        assert_eq!(created_at, niced);
        assert_eq!(child_at, niced, "a thread the client starts later is niced too");
        assert_eq!(own_nice(), before, "the calling thread is left as it was");
        assert_eq!(with_nice(0, own_nice).unwrap(), before);
    }

    #[test]
    fn the_nice_value_is_added_to_the_callers() {
        let (caller, created_at) = std::thread::spawn(|| {
            // SAFETY: raises this test thread's own nice value only.
            unsafe { libc::nice(3) };
            (own_nice(), with_nice(7, own_nice).unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(created_at, (caller + 7).min(19));
    }
}
