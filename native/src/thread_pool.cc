// Thread pool: generation counter + futex wake-up, dynamic task counter, caller participates.
//
// Protocol. The caller publishes a job (fn, ctx, nTasks), opens it (openGen_ = g) and bumps gen_ to g. A worker
// that sees the new generation registers (inJob_++) and only then checks that job g is still open; if so it takes
// tasks until none are left, then deregisters. When the caller has no task left to take it closes the job
// (openGen_ = 0) and waits for inJob_ to reach 0, i.e. for tasks workers are still running. A worker that wakes late
// (descheduled by other load) finds the job closed and never touches it, so the caller never waits for a worker
// that has not started: on a loaded machine a parallel op degrades to the caller doing all tasks.
#include "thread_pool.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace mimo {
namespace {

// Workers poll for the next job this long before sleeping: a decode step issues ops every few µs and the engine's
// own work between steps is short, so a warm worker answers at once (a sleeping one takes tens of µs to wake on this
// VM); an idle engine stops burning the core after this.
constexpr auto kSpin = std::chrono::microseconds(2000);

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

long futexWait(std::atomic<uint32_t>* addr, uint32_t expected) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}
long futexWakeAll(std::atomic<uint32_t>* addr) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

class Pool {
 public:
  Pool() {
    unsigned hc = std::thread::hardware_concurrency();
    start(hc == 0 ? 1 : static_cast<int>(hc));
  }

  int size() const { return size_; }

  void resize(int n) {
    std::lock_guard<std::mutex> lock(runMutex_);
    stop();
    start(n);
  }

  void run(int nTasks, TaskFn fn, void* ctx, int maxThreads) {
    if (nTasks <= 0) return;
    std::unique_lock<std::mutex> lock(runMutex_, std::try_to_lock);
    int active = maxThreads > 0 && maxThreads < size_ ? maxThreads : size_;
    if (active > nTasks) active = nTasks;
    if (!lock.owns_lock() || active <= 1) {
      for (int t = 0; t < nTasks; t++) fn(ctx, t, 0);
      return;
    }
    fn_ = fn;
    ctx_ = ctx;
    nTasks_ = nTasks;
    active_ = active;
    next_.store(0, std::memory_order_relaxed);
    uint32_t g = gen_.load(std::memory_order_relaxed) + 1;
    if (g == 0) g = 1;  // 0 means "no open job"
    openGen_.store(g, std::memory_order_seq_cst);
    gen_.store(g, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) futexWakeAll(&gen_);
    work(0);
    openGen_.store(0, std::memory_order_seq_cst);
    for (int spins = 0; inJob_.load(std::memory_order_seq_cst) != 0; spins++) {
      if (spins < 20000) cpuRelax();
      else std::this_thread::yield();
    }
  }

 private:
  void work(int thread) {
    for (;;) {
      const int t = next_.fetch_add(1, std::memory_order_relaxed);
      if (t >= nTasks_) break;
      fn_(ctx_, t, thread);
    }
  }

  // `seen`: the generation current when the worker was created (read before the thread starts, so a job posted
  // before the thread first runs is not mistaken for an old one).
  void workerLoop(int id, uint32_t seen) {
    for (;;) {
      uint32_t g;
      auto spinUntil = std::chrono::steady_clock::now() + kSpin;
      for (unsigned i = 1; (g = gen_.load(std::memory_order_acquire)) == seen; i++) {
        cpuRelax();
        if ((i & 255) == 0 && std::chrono::steady_clock::now() > spinUntil) {
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          if (gen_.load(std::memory_order_seq_cst) == seen) futexWait(&gen_, seen);
          sleepers_.fetch_sub(1, std::memory_order_seq_cst);
          spinUntil = std::chrono::steady_clock::now() + kSpin;
        }
      }
      seen = g;
      if (stopping_.load(std::memory_order_acquire)) return;
      inJob_.fetch_add(1, std::memory_order_seq_cst);
      if (openGen_.load(std::memory_order_seq_cst) == g && id < active_) work(id);
      inJob_.fetch_sub(1, std::memory_order_seq_cst);
    }
  }

  void start(int n) {
    size_ = n < 1 ? 1 : n;
    stopping_.store(false);
    const uint32_t g0 = gen_.load(std::memory_order_acquire);
    for (int i = 1; i < size_; i++) workers_.emplace_back([this, i, g0] { workerLoop(i, g0); });
  }

  void stop() {
    stopping_.store(true, std::memory_order_seq_cst);
    uint32_t g = gen_.load(std::memory_order_relaxed) + 1;
    if (g == 0) g = 1;
    gen_.store(g, std::memory_order_seq_cst);
    futexWakeAll(&gen_);
    for (std::thread& t : workers_) t.join();
    workers_.clear();
  }

  std::mutex runMutex_;
  std::vector<std::thread> workers_;
  int size_ = 1;
  alignas(64) std::atomic<uint32_t> gen_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stopping_{false};
  alignas(64) std::atomic<uint32_t> openGen_{0};
  std::atomic<int> inJob_{0};
  alignas(64) std::atomic<int> next_{0};
  alignas(64) TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int nTasks_ = 0;
  int active_ = 0;
};

// Never destroyed: worker threads must not be joined from static destructors while Node exits.
Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

int poolThreads() { return pool().size(); }
void setPoolThreads(int n) { pool().resize(n); }
void poolRun(int nTasks, TaskFn fn, void* ctx, int maxThreads) { pool().run(nTasks, fn, ctx, maxThreads); }

}  // namespace mimo
