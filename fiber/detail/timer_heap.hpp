// timer_heap.hpp — a worker's deadlines: sleeping fibers and fibers waiting with a timeout
// (sync/ timed waits, net/ I/O deadlines all land here).
//
// A binary min-heap of intrusive nodes. Nodes live on the waiting fiber's stack and know their
// heap index, so a fiber woken early removes its node in O(log n) instead of leaving garbage.
// Owned by one worker thread: no locks. (OS threads never use it: they wait with futex timeouts.)
#pragma once

#include <fiber/detail/park.hpp>

#include <cstddef>
#include <vector>

namespace fiber::detail {

struct timer_node {
  clock::time_point deadline;
  park_token token;
  std::size_t index = npos;  // position in the heap, npos when not in it
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
};

class timer_heap {
 public:
  void push(timer_node* n);
  void remove(timer_node* n) noexcept;  // no-op if n is not in the heap
  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  clock::time_point next_deadline() const noexcept { return heap_.empty() ? no_deadline : heap_.front()->deadline; }
  // Pops every node due at `now`, calling unpark(token, timeout) on each. Returns how many fired.
  std::size_t fire_due(clock::time_point now) noexcept;

 private:
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;
  void place(std::size_t i, timer_node* n) noexcept {
    heap_[i] = n;
    n->index = i;
  }
  std::vector<timer_node*> heap_;
};

}  // namespace fiber::detail
