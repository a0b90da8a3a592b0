//! Real-time priority for the engine's threads, where the OS grants it.
//!
//! A delay is only as exact as the wake-up that ends it. On a busy station (or a CI runner with
//! two cores and a dozen compilers) an ordinary thread woken at a packet's due time waits its
//! turn behind every runnable task, which put p99 one to two milliseconds past the setting.
//! netem does the same work in softirq context, ahead of every thread; the nearest a process
//! gets is `SCHED_FIFO`. The engine's threads sleep unless packets arrive or fall due, so at the
//! lowest real-time priority they take little from others, and the kernel's real-time throttle
//! (95 % of a period by default) bounds even a flood. Without the privilege (not root, or a
//! cgroup without real-time time) they stay ordinary threads and the link works as before.

use thread_priority::{
    RealtimeThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
    set_thread_priority_and_policy, thread_native_id,
};

/// Makes the calling thread `SCHED_FIFO` at the lowest real-time priority and its timers exact
/// (no timer slack); returns whether the OS granted the priority.
pub(crate) fn raise() -> bool {
    // An ordinary thread's timers may fire up to 50 µs late so the kernel can batch wake-ups.
    let _ = nix::sys::prctl::set_timerslack(1);
    set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
    )
    .is_ok()
}
