#include "serve/window_batcher.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace stgcn::serve {

Result<std::unique_ptr<WindowBatcher>> WindowBatcher::create(std::shared_ptr<const Engine> engine,
                                                             const BatcherOptions& options,
                                                             std::string model,
                                                             Metrics* metrics) {
  std::unique_ptr<WindowBatcher> b(new WindowBatcher());
  const EngineInfo& info = engine->info();
  b->engine_ = engine;
  b->model_ = std::move(model);
  b->metrics_ = metrics;
  b->max_batch_ = options.max_batch > 0 ? std::min(options.max_batch, info.max_batch)
                                        : info.max_batch;
  b->capacity_ = std::max(1, options.queue_capacity);
  b->delay_ = std::chrono::microseconds(std::max<int64_t>(0, options.max_queue_delay_us));
  b->per_in_ = static_cast<size_t>(info.spec.C()) * info.T * info.spec.V() * info.M;
  b->per_out_ = static_cast<size_t>(info.spec.num_class());
  const int workers = std::max(1, options.workers);
  for (int i = 0; i < workers; ++i) {
    auto ctx = engine->create_context(options.threads);
    if (!ctx) return ctx.status();
    b->contexts_.push_back(std::move(ctx).value());
  }
  for (int i = 0; i < workers; ++i) b->workers_.emplace_back([p = b.get(), i] { p->worker(i); });
  return b;
}

WindowBatcher::~WindowBatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (Pending* p : queue_) {
    p->error = make_error(Code::kUnavailable, "the server is shutting down");
    p->finished = true;
  }
  queue_.clear();
  done_cv_.notify_all();
}

int WindowBatcher::queue_depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(queue_.size());
}

Error WindowBatcher::run(std::span<const float> input, int n, std::vector<float>& logits) {
  if (n < 1 || input.size() != per_in_ * static_cast<size_t>(n))
    return make_error(Code::kInternal, "batcher: input size does not match the batch");
  logits.assign(per_out_ * static_cast<size_t>(n), 0.f);
  Pending p;
  p.input = input;
  p.n = n;
  p.logits = &logits;
  p.arrived = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) return make_error(Code::kUnavailable, "the server is shutting down");
  if (static_cast<int>(queue_.size()) >= capacity_) {
    lock.unlock();
    if (metrics_) metrics_->dropped(model_, 1);
    return make_error(Code::kResourceExhausted,
                      fmt::format("model '{}': {} requests are waiting (--queue-capacity); try "
                                  "again later",
                                  model_, capacity_));
  }
  queue_.push_back(&p);
  work_cv_.notify_one();
  done_cv_.wait(lock, [&] { return p.finished; });
  return p.error;
}

void WindowBatcher::worker(int index) {
  Context& ctx = *contexts_[index];
  struct Piece {
    Pending* p;
    int offset, count;
  };
  std::vector<float> in, out;
  while (true) {
    std::vector<Piece> pieces;
    int size = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      // Wait for a full batch, at most `delay` after the oldest request arrived.
      const auto deadline = queue_.front()->arrived + delay_;
      auto waiting = [&] {
        int64_t s = 0;
        for (const Pending* p : queue_) s += p->n - p->taken;
        return s;
      };
      while (!stopping_ && !queue_.empty() && waiting() < max_batch_ &&
             std::chrono::steady_clock::now() < deadline)
        work_cv_.wait_until(lock, deadline);
      if (stopping_) return;
      while (!queue_.empty() && size < max_batch_) {
        Pending* p = queue_.front();
        const int count = std::min(p->n - p->taken, max_batch_ - size);
        pieces.push_back({p, p->taken, count});
        p->taken += count;
        size += count;
        if (p->taken == p->n) queue_.pop_front();
      }
      // Another worker may take the rest at once.
      if (!queue_.empty()) work_cv_.notify_one();
    }
    if (size == 0) continue;
    in.resize(per_in_ * size);
    out.resize(per_out_ * size);
    size_t at = 0;
    for (const Piece& pc : pieces) {
      std::memcpy(in.data() + at, pc.p->input.data() + per_in_ * pc.offset,
                  sizeof(float) * per_in_ * pc.count);
      at += per_in_ * pc.count;
    }
    const Status st = ctx.run(in, size, out);
    if (metrics_) metrics_->batch(model_, size);
    std::lock_guard<std::mutex> lock(mu_);
    at = 0;
    for (const Piece& pc : pieces) {
      if (st.is_ok())
        std::memcpy(pc.p->logits->data() + per_out_ * pc.offset, out.data() + at,
                    sizeof(float) * per_out_ * pc.count);
      else if (pc.p->error.ok())
        pc.p->error = make_error(st.code() == ErrorCode::kInvalidArgument ? Code::kInvalidArgument
                                                                          : Code::kInternal,
                                 st.message());
      at += per_out_ * pc.count;
      pc.p->done += pc.count;
      if (pc.p->done == pc.p->n) pc.p->finished = true;
    }
    done_cv_.notify_all();
  }
}

}  // namespace stgcn::serve
