// Persistent worker threads for the native kernels. The calling thread participates; workers spin for 2 ms on an
// atomic generation counter after each job, then sleep on a futex. One job runs at a time (a second caller that
// finds the pool busy, e.g. from a JS worker thread, runs its job inline on its own thread).
#pragma once
#include <type_traits>

namespace mimo {

// fn(ctx, task, thread): one task of a job; `thread` in [0, participants) is 0 for the caller (kernels keep their
// scratch in thread_local buffers, so a job that runs inline on another JS thread never shares it).
using TaskFn = void (*)(void* ctx, int task, int thread);

// Total threads including the caller (>= 1). Default: hardware concurrency.
int poolThreads();
// Joins the old workers and starts n - 1 new ones.
void setPoolThreads(int n);
// Runs fn for every task in [0, nTasks), tasks handed out dynamically to at most maxThreads participants
// (0 = all); returns when every task has finished. nTasks <= 1 or one thread: runs inline.
void poolRun(int nTasks, TaskFn fn, void* ctx, int maxThreads = 0);

template <class F>
void parallelFor(int nTasks, F&& f, int maxThreads = 0) {
  using Fn = std::remove_reference_t<F>;
  poolRun(
      nTasks, [](void* ctx, int task, int thread) { (*static_cast<Fn*>(ctx))(task, thread); }, &f, maxThreads);
}

}  // namespace mimo
