import Dispatch

// The main thread waits here while the command runs on the concurrency runtime's threads. An
// `async` main would park it in `dispatch_main()`, which ends the main thread with
// `pthread_exit`: in the static binary that thread's unwinding first sorts the unwind table
// entry of every function in the executable, about 0.1 s of CPU at every start (a third of a
// `harborguard check`, a tenth of a small scan).
let finished = DispatchSemaphore(value: 0)
Task.detached {
    await Harborguard.main()
    finished.signal()
}
finished.wait()
